// Crash without loss, short: three SIGKILLs at random moments and one SIGTERM under real load
// (WebSocket shakes and opens, HTTP shakes, admin packets), each followed by a restart on the same
// database. Everything a client was told is in the ledger, nothing is paid twice, the supply pays no
// more than its total, the ledger balances. `npm run chaos` runs 20 + 5 rounds.
import test from 'ava';
import { runChaos } from '../scripts/reliability/chaos-run.ts';
import { randomSeed } from '../scripts/reliability/rng.ts';
import { tempDir } from './helpers/server.ts';
import { present } from './helpers/present.ts';

test('three kills and a SIGTERM under load lose nothing and pay nothing twice', async (t) => {
  t.timeout(90_000);
  const seed = randomSeed();
  const result = await runChaos({
    dataDir: tempDir('hongbao-chaos-'),
    kills: 3,
    terms: 1,
    seed,
    users: 120,
    qps: 1200,
    maxDelayMs: 1500,
    supplyTotal: 1500,
    supplyRate: 400,
    campaignRate: 40,
    serverArgs: [],
    log: (line) => t.log(line),
  });
  t.log(`seed ${seed}`);
  t.is(result.failure, null, `no round failed (seed ${seed})`);
  t.is(result.killsSurvived, 3, 'three SIGKILLs survived');
  t.is(result.termsClean, 1, 'the SIGTERM drained cleanly: exit 0, connections closed 1001, no answer after the ledger closed');
  const f = present(result.final, 'the final check');
  t.true(f.told.hits > 0 && f.told.shares > 0, `clients were told hits (${f.told.hits}) and shares (${f.told.shares})`);
  t.is(f.centsLost, 0, 'no cent told to a client is missing from the ledger');
  t.is(f.paidTwice, 0, 'nothing was paid twice');
  t.true(f.ledger.released <= f.ledger.supplyTotal, `the supply released ${f.ledger.released} of at most ${f.ledger.supplyTotal}`);
  t.true(f.check.ok, `created = paid + remaining + refunded: ${f.check.differences.join('; ')}`);
  t.true(
    result.rounds.every((r) => r.repeatMismatches.length === 0),
    'after each restart, shares told before come back as the same share',
  );
});
