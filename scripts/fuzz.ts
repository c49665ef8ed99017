// `npm run fuzz -- [--frames N] [--http N] [--seed S]`: hostile and broken input against a real server
// (scripts/reliability/fuzz-run.ts). Progress and the summary on stderr, the result as JSON on stdout;
// exit 0 only if every check held.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runFuzz } from './reliability/fuzz-run.ts';
import { randomSeed } from './reliability/rng.ts';

const HELP = `usage: npm run fuzz -- [flags]

Sends random and mutated WebSocket frames (truncated, oversize, wrong version, unknown types, lying
lengths, valid frames for other users' packets, logins as someone else) and malformed HTTP requests to
the user and admin APIs, while well-behaved users keep shaking and opening. Checks: the server never
crashes or hangs, every bad frame/request gets its documented answer, the well-behaved users stay
within their latency budget, RSS stays bounded, and the ledger holds exactly the moves someone was told.

  --frames N            WebSocket frames (default 100000)
  --http N              HTTP requests (default 10000)
  --seed S              random seed (default: random, printed)
  --concurrency N       fuzzing connections at a time (default 32)
  --good-users N        well-behaved users (default 10)
  --budget-ms N         their p99 latency budget (default 250)
  --max-rss-growth N    MiB the server may grow above its RSS before the fuzz (default 300)
  --minutes N           give up after this long (default 20)
`;

const { values } = parseArgs({
  options: {
    frames: { type: 'string', default: '100000' },
    http: { type: 'string', default: '10000' },
    seed: { type: 'string' },
    concurrency: { type: 'string', default: '32' },
    'good-users': { type: 'string', default: '10' },
    'budget-ms': { type: 'string', default: '250' },
    'max-rss-growth': { type: 'string', default: '300' },
    minutes: { type: 'string', default: '20' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  process.stdout.write(HELP);
  process.exit(0);
}
const int = (name: string, v: string | undefined, fallback: number) => {
  const n = v === undefined ? fallback : Number(v);
  if (!Number.isSafeInteger(n) || n < 0) {
    process.stderr.write(`fuzz: --${name} must be a whole number, got ${v}\n`);
    process.exit(2);
  }
  return n;
};
const log = (line: string) => process.stderr.write(`fuzz: ${line}\n`);
const seed = int('seed', values.seed, randomSeed());
const budgetMs = int('budget-ms', values['budget-ms'], 250);
const maxGrowth = int('max-rss-growth', values['max-rss-growth'], 300);
const started = Date.now();
const r = await runFuzz({
  dataDir: mkdtempSync(path.join(tmpdir(), 'hongbao-fuzz-')),
  frames: int('frames', values.frames, 100_000),
  httpRequests: int('http', values.http, 10_000),
  seed,
  concurrency: int('concurrency', values.concurrency, 32),
  deadlineMs: int('minutes', values.minutes, 20) * 60_000,
  goodUsers: int('good-users', values['good-users'], 10),
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
process.exit(r.ok ? 0 : 1);
