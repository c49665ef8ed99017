// Clients that never read, short: 40 of them ask for ~8 KB answers until the server cuts each off at
// its backpressure limit with 4008; the server's memory stays bounded and a well-behaved user keeps
// being answered. `npm run slow-clients` does it with 1,000.
import test from 'ava';
import { runSlowClients } from '../scripts/reliability/slow-run.ts';
import { tempDir } from './helpers/server.ts';

test('40 clients that never read are cut off with 4008; memory bounded, others served', async (t) => {
  t.timeout(110_000);
  const r = await runSlowClients({
    dataDir: tempDir('hongbao-slow-'),
    clients: 40,
    wave: 40,
    ratePerClient: 40,
    maxTcpMemPages: 300_000,
    cutWithinMs: 60_000,
    goodUsers: 2,
    serverArgs: [],
    log: (line) => t.log(line),
  });
  t.deepEqual(r.closeCodes, { 4008: 40 }, 'every non-reader was closed with 4008');
  t.is(r.connectionsAfter, 2, 'the server holds only the well-behaved connections afterwards');
  t.deepEqual(r.good.failures, [], 'the well-behaved users got every answer');
  t.true(r.good.answered > 0, `they were answered (${r.good.answered})`);
  t.true(r.rssMb.peak < r.rssMb.before + 512, `server RSS stays bounded (${r.rssMb.before} -> ${r.rssMb.peak} MiB)`);
  t.deepEqual(r.failures, [], 'no other failure');
});
