// `npm run overload -- [--ceiling N] [--surge-seconds S]`: 2x the shake ceiling for a minute
// (scripts/reliability/overload-run.ts). Progress and the summary on stderr, JSON on stdout.
import { mkdtempSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runOverload } from './reliability/overload-run.ts';

const HELP = `usage: npm run overload -- [flags]

Runs the server with --max-shakes-per-second C, offers C/2 shakes/s (baseline), 2C (the surge), then
C/2 again (recovery), with the project's load generator in its own process. GET /health and GET /stats
are timed every 200 ms throughout. Checks: the excess is answered "overloaded" at once (shake p99 stays
low), at most C/s get through, /health and /stats answer within 100 ms (p99), and the shake latency is
back to the baseline's within a few seconds after the surge.

  --ceiling N            --max-shakes-per-second of the server (default 5000)
  --users N              simulated users (default 2000; each may send 50 frames/s)
  --baseline-seconds S   (default 15)
  --surge-seconds S      (default 60)
  --recovery-seconds S   (default 20)
  --probe-budget-ms N    p99 budget of /health and /stats (default 100)
  --recover-within S     seconds the latency may take to come back (default 5)
`;
const { values } = parseArgs({
  options: {
    ceiling: { type: 'string', default: '5000' },
    users: { type: 'string', default: '2000' },
    'baseline-seconds': { type: 'string', default: '15' },
    'surge-seconds': { type: 'string', default: '60' },
    'recovery-seconds': { type: 'string', default: '20' },
    'probe-budget-ms': { type: 'string', default: '100' },
    'recover-within': { type: 'string', default: '5' },
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
    process.stderr.write(`overload: --${name} must be a whole number >= 1, got ${v}\n`);
    process.exit(2);
  }
  return n;
};
const log = (line: string) => process.stderr.write(`overload: ${line}\n`);
const started = Date.now();
const r = await runOverload({
  dataDir: mkdtempSync(path.join(tmpdir(), 'hongbao-overload-')),
  ceiling: int('ceiling', values.ceiling),
  users: int('users', values.users),
  baselineSeconds: int('baseline-seconds', values['baseline-seconds']),
  surgeSeconds: int('surge-seconds', values['surge-seconds']),
  recoverySeconds: int('recovery-seconds', values['recovery-seconds']),
  serverArgs: [],
  log,
});
const budget = int('probe-budget-ms', values['probe-budget-ms']);
const within = int('recover-within', values['recover-within']);
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
process.exit(r.ok ? 0 : 1);
