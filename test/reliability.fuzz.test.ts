// Hostile and broken input, short: random and mutated WebSocket frames and malformed HTTP requests to
// the user and admin APIs while well-behaved users keep being served. Every frame and request gets
// its documented answer (or close code), the server neither crashes nor hangs, and the ledger holds
// exactly the moves someone was told of. `npm run fuzz` sends 100,000 frames and 10,000 requests.
import test from 'ava';
import { runFuzz } from '../scripts/reliability/fuzz-run.ts';
import { randomSeed } from '../scripts/reliability/rng.ts';
import { tempDir } from './helpers/server.ts';

test('5,000 fuzz frames and 600 malformed HTTP requests: documented answers, no crash, no hang, no money moved untold', async (t) => {
  t.timeout(110_000);
  const seed = randomSeed();
  const r = await runFuzz({
    dataDir: tempDir('hongbao-fuzz-'),
    frames: 5000,
    httpRequests: 600,
    seed,
    concurrency: 12,
    deadlineMs: 80_000,
    goodUsers: 4,
    serverArgs: [],
    log: (line) => t.log(line),
  });
  t.log(
    `seed ${seed}: ${r.ws.frames} frames on ${r.ws.connections} connections, ${r.http.requests} HTTP requests; RSS ${r.rssMb.before} -> ${r.rssMb.peak} MiB`,
  );
  t.deepEqual(r.ws.examples, [], `every frame got its documented answer (seed ${seed})`);
  t.deepEqual(r.http.examples, [], `every HTTP request got its documented answer (seed ${seed})`);
  t.true(r.serverAlive, 'the server is alive');
  t.is(r.healthAfter, 200, 'and healthy');
  t.is(r.exit.code, 0, 'and stops cleanly');
  t.deepEqual(r.good.failures, [], 'well-behaved users got every answer');
  t.is(r.good.answered, r.good.requests, 'all of them');
  t.deepEqual(r.ledger.differences, [], 'the ledger holds exactly what someone was told, and balances');
  t.true(r.rssMb.peak < r.rssMb.before + 1024, `server memory stays bounded (${r.rssMb.before} -> ${r.rssMb.peak} MiB)`);
});
