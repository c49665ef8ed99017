// `npm run slow-clients -- [--clients N]`: clients that never read (scripts/reliability/slow-run.ts).
// Progress and the summary on stderr, the result as JSON on stdout; exit 0 only if every check held.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runSlowClients } from './reliability/slow-run.ts';

const HELP = `usage: npm run slow-clients -- [flags]

Logs N clients in that never read their socket, then makes them ask for ~8 KB answers (in waves, so
the machine's TCP memory stays under its limits) until the server cuts each off at its backpressure
limit (close 4008). Checks: every one is cut with 4008, the server's RSS stays bounded, well-behaved
users keep their latency budget, the server is healthy afterwards.

  --clients N          non-readers (default 1000)
  --wave N             non-readers filling their buffers at once (default 200)
  --rate N             requests per second per non-reader (default 40; the server allows 50)
  --good-users N       well-behaved users (default 10)
  --budget-ms N        their p99 latency budget (default 250)
  --max-rss-growth N   MiB the server may grow above its RSS before the non-readers (default 300)
`;
const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '1000' },
    wave: { type: 'string', default: '200' },
    rate: { type: 'string', default: '40' },
    'good-users': { type: 'string', default: '10' },
    'budget-ms': { type: 'string', default: '250' },
    'max-rss-growth': { type: 'string', default: '300' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  process.stdout.write(HELP);
  process.exit(0);
}
const int = (name: string, v: string | undefined) => {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) {
    process.stderr.write(`slow-clients: --${name} must be a whole number >= 1, got ${v}\n`);
    process.exit(2);
  }
  return n;
};
const log = (line: string) => process.stderr.write(`slow-clients: ${line}\n`);
const started = Date.now();
const r = await runSlowClients({
  dataDir: mkdtempSync(path.join(tmpdir(), 'hongbao-slow-')),
  clients: int('clients', values.clients),
  wave: int('wave', values.wave),
  ratePerClient: int('rate', values.rate),
  maxTcpMemPages: 300_000,
  cutWithinMs: 90_000,
  goodUsers: int('good-users', values['good-users']),
  serverArgs: [],
  log,
});
const budget = int('budget-ms', values['budget-ms']);
const growth = int('max-rss-growth', values['max-rss-growth']);
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
process.exit(r.ok ? 0 : 1);
