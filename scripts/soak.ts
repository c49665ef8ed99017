// `npm run soak -- --minutes 30 [--qps N]`: a long run at half the measured capacity
// (scripts/reliability/soak-run.ts). Not for CI. Progress and the summary on stderr, JSON on stdout.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runSoak } from './reliability/soak-run.ts';

const HELP = `usage: npm run soak -- [flags]

Measures the shake capacity with a short ramp (unless --qps is given), then runs at half of it for
--minutes with a supply and an expiring group-packet campaign. Checks: server RSS flat after the
warm-up (trend <= 2 MiB/min), no error, overload, drop or lost answer, and the ledger reconciled item
by item against the client tally, exactly.

  --minutes N   length of the soak (default 30; decimals allowed)
  --qps N       shakes per second instead of half the measured capacity
  --users N     simulated users (default 2000)
  --retain-expired-ms MS
                how long the server keeps an expired group packet in memory (default 60000: the
                soak's packets expire after 20 s, so its engine reaches its steady size within the
                warm-up; the server's own default is 24 h)
`;
const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    qps: { type: 'string', default: '0' },
    users: { type: 'string', default: '2000' },
    'retain-expired-ms': { type: 'string', default: '60000' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  process.stdout.write(HELP);
  process.exit(0);
}
const minutes = Number(values.minutes);
const qps = Number(values.qps);
const users = Number(values.users);
const retainMs = values['retain-expired-ms'];
if (!(minutes > 0) || !Number.isSafeInteger(qps) || qps < 0 || !Number.isSafeInteger(users) || users < 10 || !/^\d+$/.test(retainMs)) {
  process.stderr.write('soak: --minutes must be > 0, --qps a whole number, --users >= 10, --retain-expired-ms a whole number\n');
  process.exit(2);
}
const log = (line: string) => process.stderr.write(`soak: ${line}\n`);
const r = await runSoak({
  dataDir: mkdtempSync(path.join(tmpdir(), 'hongbao-soak-')),
  minutes,
  qps,
  users,
  serverArgs: ['--retain-expired-ms', retainMs],
  log,
});
log(
  `${r.ok ? 'OK' : 'FAILED'} (${r.engine} engine): capacity ${r.capacity.measured === null || r.capacity.measured === undefined ? 'not measured (--qps given)' : `${r.capacity.measured}/s`}, soak at ${r.qps}/s for ${r.minutes} min: ` +
    `${r.shakes} shakes, ${r.hits} hits, ${r.opens} shares opened, ${r.refunds.count} packets refunded (${r.refunds.cents} cents); ` +
    `shake p50 ${r.latency.p50Ms} ms, p99 ${r.latency.p99Ms} ms, p99.9 ${r.latency.p999Ms} ms; errors ${JSON.stringify(r.errors)}; ` +
    `RSS after ${r.rss.warmupMinutes} min warm-up ${r.rss.atWarmup} MiB, then ${r.rss.min}..${r.rss.max} MiB, trend ${r.rss.slopeMbPerMin} MiB/min; ` +
    `reconciliation ${r.reconciliation.ok ? 'exact' : 'DIFFERS'}`,
);
for (const f of r.failures) log(`failure: ${f}`);
process.stdout.write(`${JSON.stringify(r)}\n`);
process.exit(r.ok ? 0 : 1);
