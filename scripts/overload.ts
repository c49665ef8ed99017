// `npm run overload -- [--ceiling N] [--surge-seconds S]`: 2x the shake ceiling for a minute
// (scripts/reliability/overload-run.ts). Progress and the summary on stderr, JSON on stdout.
import { mkdtempSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { type FlagValues, Flags, runCommand } from '../src/cli/flags.ts';
import { runOverload } from './reliability/overload-run.ts';

const flags = new Flags(
  'npm run overload -- [flags]',
  `Runs the server with --max-shakes-per-second C, offers C/2 shakes/s (baseline), 2C (the surge), then
C/2 again (recovery), with the project's load generator in its own process. GET /health and GET /stats
are timed every 200 ms throughout. Checks: the excess is answered "overloaded" at once (shake p99 stays
low), at most C/s get through, /health and /stats answer within 100 ms (p99), and the shake latency is
back to the baseline's within a few seconds after the surge.`,
)
  .int('ceiling', '--max-shakes-per-second of the server', { default: 5000, min: 1 })
  .int('users', 'simulated users (each may send 50 frames/s)', { default: 2000, min: 1 })
  .int('baseline-seconds', 'length of the baseline', { default: 15, min: 1, value: 'S' })
  .int('surge-seconds', 'length of the surge', { default: 60, min: 1, value: 'S' })
  .int('recovery-seconds', 'length of the recovery', { default: 20, min: 1, value: 'S' })
  .int('probe-budget-ms', 'p99 budget of /health and /stats', { default: 100, min: 1 })
  .int('recover-within', 'seconds the latency may take to come back', { default: 5, min: 1, value: 'S' });

process.exit(await runCommand('overload', flags, process.argv.slice(2), run));

async function run(values: FlagValues<typeof flags>): Promise<number> {
  const log = (line: string) => process.stderr.write(`overload: ${line}\n`);
  const started = Date.now();
  const r = await runOverload({
    dataDir: mkdtempSync(path.join(tmpdir(), 'hongbao-overload-')),
    ceiling: values.ceiling,
    users: values.users,
    baselineSeconds: values.baselineSeconds,
    surgeSeconds: values.surgeSeconds,
    recoverySeconds: values.recoverySeconds,
    serverArgs: [],
    log,
  });
  const budget = values.probeBudgetMs;
  const within = values.recoverWithin;
  for (const [name, p] of [
    ['/health', r.probes.surgeHealth],
    ['/stats', r.probes.surgeStats],
  ] as const) {
    if (p.p99Ms > budget) r.failures.push(`${name} p99 ${p.p99Ms} ms during the surge, above ${budget} ms`);
  }
  if (r.recoveredAfterSeconds === null || r.recoveredAfterSeconds > within) {
    r.failures.push(`the latency took ${r.recoveredAfterSeconds ?? 'more than the recovery phase'} s to come back (budget ${within} s)`);
  }
  r.ok = r.failures.length === 0;
  const ph = r.phases;
  log(
    `${r.ok ? 'OK' : 'FAILED'} in ${Math.round((Date.now() - started) / 1000)} s (${r.engine} engine, ceiling ${r.ceiling}/s): ` +
      `baseline ${ph.baseline.offeredPerSecond}/s offered, shake p99 ${ph.baseline.p99Ms.median} ms; ` +
      `surge ${ph.surge.offeredPerSecond}/s offered, ${ph.surge.letThroughPerSecond}/s let through, ${ph.surge.overloadedPerSecond}/s overloaded, shake p99 ${ph.surge.p99Ms.median} ms (worst second ${ph.surge.p99Ms.max} ms); ` +
      `/health p99 ${r.probes.surgeHealth.p99Ms} ms max ${r.probes.surgeHealth.maxMs} ms, /stats p99 ${r.probes.surgeStats.p99Ms} ms max ${r.probes.surgeStats.maxMs} ms during the surge; ` +
      `recovery ${ph.recovery.offeredPerSecond}/s, back to normal after ${r.recoveredAfterSeconds ?? 'never'} s (p99 ${ph.recovery.p99Ms.median} ms); ` +
      `RSS ${r.rssMb.before} -> ${r.rssMb.peak} -> ${r.rssMb.after} MiB; lost answers ${r.lost}; load average ${r.loadavg[0]} -> ${r.loadavg[1]} on ${availableParallelism()} cores`,
  );
  for (const f of r.failures) log(`failure: ${f}`);
  process.stdout.write(`${JSON.stringify(r)}\n`);
  return r.ok ? 0 : 1;
}
