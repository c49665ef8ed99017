// `npm run slow-clients -- [--clients N]`: clients that never read (scripts/reliability/slow-run.ts).
// Progress and the summary on stderr, the result as JSON on stdout; exit 0 only if every check held.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type FlagValues, Flags, runCommand } from '../src/cli/flags.ts';
import { runSlowClients } from './reliability/slow-run.ts';

const flags = new Flags(
  'npm run slow-clients -- [flags]',
  `Logs N clients in that never read their socket, then makes them ask for ~8 KB answers (in waves, so
the machine's TCP memory stays under its limits) until the server cuts each off at its backpressure
limit (close 4008). Checks: every one is cut with 4008, the server's RSS stays bounded, well-behaved
users keep their latency budget, the server is healthy afterwards.`,
)
  .int('clients', 'non-readers', { default: 1000, min: 1 })
  .int('wave', 'non-readers filling their buffers at once', { default: 200, min: 1 })
  .int('rate', 'requests per second per non-reader (the server allows 50)', { default: 40, min: 1 })
  .int('good-users', 'well-behaved users', { default: 10, min: 1 })
  .int('budget-ms', 'their p99 latency budget', { default: 250, min: 1 })
  .int('max-rss-growth', 'MiB the server may grow above its RSS before the non-readers', { default: 300, min: 1 });

process.exit(await runCommand('slow-clients', flags, process.argv.slice(2), run));

async function run(values: FlagValues<typeof flags>): Promise<number> {
  const log = (line: string) => process.stderr.write(`slow-clients: ${line}\n`);
  const started = Date.now();
  const r = await runSlowClients({
    dataDir: mkdtempSync(path.join(tmpdir(), 'hongbao-slow-')),
    clients: values.clients,
    wave: values.wave,
    ratePerClient: values.rate,
    maxTcpMemPages: 300_000,
    cutWithinMs: 90_000,
    goodUsers: values.goodUsers,
    serverArgs: [],
    log,
  });
  const budget = values.budgetMs;
  const growth = values.maxRssGrowth;
  if (r.good.latency.p99Ms > budget) r.failures.push(`well-behaved users' p99 ${r.good.latency.p99Ms} ms is above the ${budget} ms budget`);
  if (r.rssMb.peak - r.rssMb.before > growth) r.failures.push(`server RSS grew from ${r.rssMb.before} to ${r.rssMb.peak} MiB (budget +${growth})`);
  r.ok = r.failures.length === 0;
  log(
    `${r.ok ? 'OK' : 'FAILED'} in ${Math.round((Date.now() - started) / 1000)} s (${r.engine} engine): ${r.cut}/${r.clients} non-readers closed with 4008 ` +
      `(${JSON.stringify(r.closeCodes)}), after ~${r.requestsPerClient.median} requests (~${Math.round((r.requestsPerClient.median * 8.4) / 1024)} MiB sent) and ${Math.round(r.cutAfterMs.median / 1000)} s each; ` +
      `server RSS ${r.rssMb.before} MiB -> ${r.rssMb.withAllConnected} with all connected -> peak ${r.rssMb.peak} -> ${r.rssMb.after}; connections left ${r.connectionsAfter}; ` +
      `well-behaved: ${r.good.answered}/${r.good.requests} answered, p50 ${r.good.latency.p50Ms} ms, p99 ${r.good.latency.p99Ms} ms, max ${r.good.latency.maxMs} ms`,
  );
  for (const f of r.failures) log(`failure: ${f}`);
  process.stdout.write(`${JSON.stringify(r)}\n`);
  return r.ok ? 0 : 1;
}
