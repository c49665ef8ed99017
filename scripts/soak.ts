// `npm run soak -- --minutes 30 [--qps N]`: a long run at half the measured capacity
// (scripts/reliability/soak-run.ts). Not for CI. Progress and the summary on stderr, JSON on stdout.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type FlagValues, Flags, runCommand } from '../src/cli/flags.ts';
import { runSoak } from './reliability/soak-run.ts';

const flags = new Flags(
  'npm run soak -- [flags]',
  `Measures the shake capacity with a short ramp (unless --qps is given), then runs at half of it for
--minutes with a supply and an expiring group-packet campaign. Checks: server RSS flat after the
warm-up (trend <= 2 MiB/min), no error, overload, drop or lost answer, and the ledger reconciled item
by item against the client tally, exactly.`,
)
  .number('minutes', 'length of the soak (decimals allowed)', { default: 30, above: 0 })
  .int('qps', 'shakes per second instead of half the measured capacity (0: measure)', { default: 0, min: 0 })
  .int('users', 'simulated users', { default: 2000, min: 10 })
  .int(
    'retain-expired-ms',
    "how long the server keeps an expired group packet in memory (the soak's packets expire after 20 s, so its engine reaches its steady size within the warm-up; the server's own default is 24 h)",
    { default: 60_000, min: 0, value: 'MS' },
  );

process.exit(await runCommand('soak', flags, process.argv.slice(2), run));

async function run(values: FlagValues<typeof flags>): Promise<number> {
  const { minutes, qps, users } = values;
  const log = (line: string) => process.stderr.write(`soak: ${line}\n`);
  const r = await runSoak({
    dataDir: mkdtempSync(path.join(tmpdir(), 'hongbao-soak-')),
    minutes,
    qps,
    users,
    serverArgs: ['--retain-expired-ms', String(values.retainExpiredMs)],
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
  return r.ok ? 0 : 1;
}
