// Overload, short: 2x the shake ceiling for a few seconds. The excess is answered Overloaded, at most
// the ceiling gets through, /health and /stats keep answering, and once the surge is over nothing is
// Overloaded any more. Behaviour only (timing thresholds live in `npm run overload`).
import test from 'ava';
import { runOverload } from '../scripts/reliability/overload-run.ts';
import { tempDir } from './helpers/server.ts';

test('2x the shake ceiling: the excess is Overloaded, health and stats answer, the server recovers', async (t) => {
  t.timeout(110_000);
  const r = await runOverload({
    dataDir: tempDir('hongbao-overload-'),
    ceiling: 200,
    users: 100,
    baselineSeconds: 3,
    surgeSeconds: 5,
    recoverySeconds: 4,
    serverArgs: [],
    log: (line) => t.log(line),
  });
  const { baseline, surge, recovery } = r.phases;
  t.log(`surge: ${surge.offeredPerSecond}/s offered, ${surge.letThroughPerSecond}/s let through, ${surge.overloadedPerSecond}/s overloaded`);
  t.is(baseline.overloadedPerSecond, 0, 'below the ceiling nothing is Overloaded');
  t.true(surge.overloadedPerSecond > 0, 'above it the excess is Overloaded');
  t.true(surge.letThroughPerSecond <= 220, `at most the ceiling gets through (${surge.letThroughPerSecond}/s)`);
  t.is(surge.unavailable + surge.errors, 0, 'nothing else goes wrong during the surge');
  t.is(r.probes.health.failed + r.probes.stats.failed, 0, '/health and /stats answered every probe');
  t.true(r.probes.surgeHealth.count > 0 && r.probes.surgeStats.count > 0, 'also during the surge');
  const after = r.perSecond.filter((x) => x.phase === 'recovery').slice(1);
  t.true(after.length > 0 && after.every((x) => x.overloaded === 0), 'after the surge (from its second second) nothing is Overloaded');
  t.is(recovery.unavailable + recovery.errors, 0, 'nothing goes wrong after it');
  t.is(r.lost, 0, 'no answer was lost');
  t.deepEqual(r.failures, [], 'no failure');
});
