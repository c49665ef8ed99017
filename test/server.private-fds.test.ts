// `hongbao server --private-fds`: the server runs on a worker thread with a descriptor table of its
// own (its sockets are not in /proc/PID/fd, which this machine's agent walks every second), the
// main thread runs its ledger writer; it serves, stops on SIGTERM and keeps its money as without.
// (Its start-up errors: test/server.lifecycle.test.ts.)
import { readdirSync } from 'node:fs';
import test from 'ava';
import { ShakeStatus } from '../src/engine/types.ts';
import { encodeShake } from '../src/protocol/codec.ts';
import { CloseCode, ServerType } from '../src/protocol/codes.ts';
import { present } from './helpers/present.ts';
import { fdTargets } from './helpers/proc.ts';
import { startServer, type StatsDocument, type SupplyAnswer, TestClient } from './helpers/server.ts';

const USERS = 40;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What a /proc fd directory lists: sockets and files. */
function listed(fdDir: string): { sockets: number; files: string[] } {
  const targets = fdTargets(fdDir);
  return { sockets: targets.filter((x) => x.startsWith('socket:')).length, files: targets.filter((x) => x.startsWith('/')) };
}

test('--private-fds: the sockets are in the server thread’s own table, the ledger on the main thread; it serves, stops on SIGTERM and keeps every hit', async (t) => {
  const server = await startServer({ args: ['--private-fds', '--threads', '1', '--shards', '1'] });
  t.teardown(() => server.stop('SIGKILL'));
  await server.adminFetch<SupplyAnswer>('POST', '/admin/supply', { total: 500, ratePerSecond: 500, rule: { kind: 'range', min: 1, max: 9 } });
  for (let i = 0; i < 30 && present((await server.adminFetch<StatsDocument>('GET', '/stats')).body.supply, 'the supply').released === 0; i++) await sleep(100);
  const clients = await Promise.all(Array.from({ length: USERS }, (_, i) => TestClient.login(server, i + 1)));

  const main = listed(`/proc/${server.pid}/fd`);
  // (its stdio from a parent are sockets too: Node's child pipes are socket pairs)
  t.true(main.sockets < 10, `/proc/PID/fd lists ${main.sockets} sockets, not the ${USERS} users'`);
  t.true(
    main.files.some((f) => f.endsWith('hongbao.db')),
    `the main thread's table holds the ledger (its writer runs there): ${main.files.join(', ')}`,
  );
  const tables = readdirSync(`/proc/${server.pid}/task`).map((tid) => listed(`/proc/${server.pid}/task/${tid}/fd`));
  t.true(
    tables.some((x) => x.sockets >= USERS),
    `one thread's own table holds the users' sockets (sockets per thread: ${tables.map((x) => x.sockets).join(', ')})`,
  );

  const answers = await Promise.all(
    clients.map((c, i) => {
      c.send(encodeShake(i + 1));
      return c.reply(i + 1);
    }),
  );
  t.true(
    answers.every((f) => f.type === ServerType.ShakeResult),
    'every user is answered',
  );
  const told = answers.filter((f) => f.type === ServerType.ShakeResult && f.status === ShakeStatus.Hit).length;
  t.true(told > 0, `some shakes win (${told})`);

  const exit = server.stop('SIGTERM');
  const closed = await Promise.all(clients.map((c) => c.closed));
  const { code, signal } = await exit;
  t.is(code, 0, `exit code 0 (signal ${signal}); stderr:\n${server.stderr()}`);
  t.true(
    closed.every((c) => c.code === CloseCode.GoingAway),
    'every connection is closed with 1001',
  );
  t.regex(server.stderr(), /ledger closed/, 'the ledger was closed before the exit');

  const again = await startServer({ dataDir: server.dataDir });
  try {
    const stats = (await again.adminFetch<StatsDocument>('GET', '/stats')).body;
    t.true(stats.totals.shake.paid.count >= told, `the ledger holds every hit told (${told}) as paid (${stats.totals.shake.paid.count})`);
  } finally {
    t.is((await again.stop()).code, 0, 'the run without the flag on the same data exits 0');
  }
});
