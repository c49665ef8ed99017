// `npm run fuzz -- [--frames N] [--http N] [--seed S]`: hostile and broken input against a real server
// (scripts/reliability/fuzz-run.ts). Progress and the summary on stderr, the result as JSON on stdout;
// exit 0 only if every check held.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type FlagValues, Flags, runCommand } from '../src/cli/flags.ts';
import { runFuzz } from './reliability/fuzz-run.ts';
import { randomSeed } from './reliability/rng.ts';

const flags = new Flags(
  'npm run fuzz -- [flags]',
  `Sends random and mutated WebSocket frames (truncated, oversize, wrong version, unknown types, lying
lengths, valid frames for other users' packets, logins as someone else) and malformed HTTP requests to
the user and admin APIs, while well-behaved users keep shaking and opening. Checks: the server never
crashes or hangs, every bad frame/request gets its documented answer, the well-behaved users stay
within their latency budget, RSS stays bounded, and the ledger holds exactly the moves someone was told.`,
)
  .int('frames', 'WebSocket frames', { default: 100_000, min: 0 })
  .int('http', 'HTTP requests', { default: 10_000, min: 0 })
  .int('seed', 'random seed (default: random, printed)', { min: 0, value: 'S' })
  .int('concurrency', 'fuzzing connections at a time', { default: 32, min: 1 })
  .int('good-users', 'well-behaved users', { default: 10, min: 0 })
  .int('budget-ms', 'their p99 latency budget', { default: 250, min: 0 })
  .int('max-rss-growth', 'MiB the server may grow above its RSS before the fuzz', { default: 300, min: 0 })
  .int('minutes', 'give up after this long', { default: 20, min: 1 });

process.exit(await runCommand('fuzz', flags, process.argv.slice(2), run));

async function run(values: FlagValues<typeof flags>): Promise<number> {
  const log = (line: string) => process.stderr.write(`fuzz: ${line}\n`);
  const seed = values.seed ?? randomSeed();
  const budgetMs = values.budgetMs;
  const maxGrowth = values.maxRssGrowth;
  const started = Date.now();
  const r = await runFuzz({
    dataDir: mkdtempSync(path.join(tmpdir(), 'hongbao-fuzz-')),
    frames: values.frames,
    httpRequests: values.http,
    seed,
    concurrency: values.concurrency,
    deadlineMs: values.minutes * 60_000,
    goodUsers: values.goodUsers,
    serverArgs: [],
    log,
  });
  if (r.good.latency.p99Ms > budgetMs) r.failures.push(`well-behaved users' p99 ${r.good.latency.p99Ms} ms is above the ${budgetMs} ms budget`);
  if (r.rssMb.peak - r.rssMb.before > maxGrowth) r.failures.push(`server RSS grew from ${r.rssMb.before} to ${r.rssMb.peak} MiB (budget +${maxGrowth})`);
  r.ok = r.failures.length === 0;
  log(
    `${r.ok ? 'OK' : 'FAILED'} in ${Math.round((Date.now() - started) / 1000)} s (seed ${seed}, ${r.engine} engine): ` +
      `${r.ws.frames} frames on ${r.ws.connections} connections (${r.ws.mismatches} undocumented answers, ${r.ws.hangs} unanswered), ` +
      `${r.http.requests} HTTP requests (${r.http.mismatches} undocumented, ${r.http.hangs} unanswered); server ${r.serverAlive ? 'alive' : 'DEAD'}, ` +
      `/health ${r.healthAfter}, exit ${r.exit.code ?? r.exit.signal}; RSS ${r.rssMb.before} -> peak ${r.rssMb.peak} -> ${r.rssMb.after} MiB; ` +
      `well-behaved: ${r.good.answered}/${r.good.requests} answered, p50 ${r.good.latency.p50Ms} ms, p99 ${r.good.latency.p99Ms} ms, max ${r.good.latency.maxMs} ms; ` +
      `ledger ${r.ledger.ok ? 'exactly what was told' : 'DIFFERS'} (${r.ledger.told.hits} hits, ${r.ledger.told.shares} shares, ${r.ledger.told.packets} packets), cents lost ${r.ledger.centsLost}`,
  );
  for (const f of r.failures) log(`failure: ${f}`);
  process.stdout.write(
    `${JSON.stringify({ ...r, ledger: { ok: r.ledger.ok, told: r.ledger.told, ledger: r.ledger.ledger, differences: r.ledger.differences, centsLost: r.ledger.centsLost } })}\n`,
  );
  return r.ok ? 0 : 1;
}
