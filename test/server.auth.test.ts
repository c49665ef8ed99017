// Who may talk to the server: user tokens on the WebSocket (forged, expired, for another user, late),
// one connection per user, the admin token, and where the secrets live.
import { statSync } from 'node:fs';
import test from 'ava';
import { mintToken } from '../src/auth/token.ts';
import { encodeLogin, encodeShake } from '../src/protocol/codec.ts';
import { ClientType, CloseCode, ErrorCode, ServerType } from '../src/protocol/codes.ts';
import { newCounters } from '../src/server/counters.ts';
import { SessionRegistry } from '../src/server/registry.ts';
import type { Session } from '../src/server/session.ts';
import { present } from './helpers/present.ts';
import { type StatsDocument, startServer, TestClient, type TestServer } from './helpers/server.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let server: TestServer;

test.before(async () => {
  server = await startServer({ args: ['--login-timeout-ms', '800'] });
});

test.after.always(async () => {
  await server?.stop();
});

test.serial('a forged token closes the connection with 4001', async (t) => {
  const c = await TestClient.connect(server.ws);
  c.send(encodeLogin(1, 5, mintToken('not the secret', 5, Date.now() / 1000 + 60)));
  t.is((await c.closed).code, CloseCode.AuthFailed, 'close code 4001');
});

test.serial('a malformed token closes the connection with 4001', async (t) => {
  const c = await TestClient.connect(server.ws);
  c.send(encodeLogin(1, 5, 'hello'));
  t.is((await c.closed).code, CloseCode.AuthFailed, 'close code 4001');
});

test.serial('an expired token closes the connection with 4002', async (t) => {
  const c = await TestClient.connect(server.ws);
  c.send(encodeLogin(1, 5, mintToken(server.secret, 5, Date.now() / 1000 - 1)));
  t.is((await c.closed).code, CloseCode.TokenExpired, 'close code 4002');
});

test.serial('a valid token for another user id closes with 4001: a user can only act as themselves', async (t) => {
  const c = await TestClient.connect(server.ws);
  c.send(encodeLogin(1, 6, server.token(5)));
  t.is((await c.closed).code, CloseCode.AuthFailed, 'close code 4001');
});

test.serial('no login within the login window closes with 4003', async (t) => {
  const c = await TestClient.connect(server.ws);
  const started = Date.now();
  t.is((await c.closed).code, CloseCode.LoginTimeout, 'close code 4003');
  t.true(Date.now() - started >= 700, 'not before the login window ran out');
});

test.serial('frames before login are answered NotLoggedIn, a second login AlreadyLoggedIn', async (t) => {
  const c = await TestClient.connect(server.ws);
  c.send(encodeShake(3));
  t.like(await c.reply(3), { type: ServerType.Error, code: ErrorCode.NotLoggedIn, offendingType: ClientType.Shake }, 'shake before login: NotLoggedIn');
  c.send(encodeLogin(4, 9, server.token(9)));
  t.like(await c.reply(4), { type: ServerType.LoginOk, userId: 9 }, 'then the login works');
  c.send(encodeLogin(5, 9, server.token(9)));
  t.like(await c.reply(5), { type: ServerType.Error, code: ErrorCode.AlreadyLoggedIn }, 'a second login on the connection: AlreadyLoggedIn');
  c.close();
});

test.serial('a second login of the same user replaces the first connection with 4004', async (t) => {
  const first = await TestClient.login(server, 77);
  const second = await TestClient.login(server, 77);
  t.is((await first.closed).code, CloseCode.Replaced, 'the first connection is closed with 4004');
  second.send(encodeShake(8));
  t.is((await second.reply(8)).type, ServerType.ShakeResult, 'the second connection keeps working');
  second.close();
});

test.serial('a second login replaces the first across worker threads too', async (t) => {
  // Several connections of one user in a row land on different threads (SO_REUSEPORT spreads them).
  const conns: TestClient[] = [];
  for (let i = 0; i < 6; i++) conns.push(await TestClient.login(server, 78));
  const codes = await Promise.all(conns.slice(0, -1).map((c) => c.closed.then((x) => x.code)));
  t.deepEqual(
    codes,
    codes.map(() => CloseCode.Replaced),
    'every older connection was replaced with 4004',
  );
  present(conns.at(-1), 'the newest connection').close();
});

test.serial('admin API: no token and a wrong token are 401', async (t) => {
  t.is((await server.adminFetch<StatsDocument>('GET', '/stats', undefined, null)).status, 401, 'no token: 401');
  t.is((await server.adminFetch<StatsDocument>('GET', '/stats', undefined, 'wrong')).status, 401, 'a wrong token: 401');
  t.is((await server.adminFetch('POST', '/admin/expire', {}, server.token(1))).status, 401, 'a user token is not an admin token');
  t.is((await server.adminFetch<StatsDocument>('GET', '/stats')).status, 200, 'the admin token: 200');
});

test.serial('admin API is not served on the public port', async (t) => {
  const headers = { authorization: `Bearer ${server.adminToken}` };
  for (const path of ['/admin/expire', '/admin/supply', '/stats', '/metrics']) {
    const res = await fetch(`${server.http}${path}`, {
      method: path.startsWith('/admin') ? 'POST' : 'GET',
      headers,
      body: path.startsWith('/admin') ? '{}' : undefined,
    });
    t.is(res.status, 404, `${path} is 404 on the public port`);
  }
});

test.serial('secrets live in 0600 files and are never printed', async (t) => {
  for (const file of [present(server.ready.secretFile, 'a secret file'), present(server.ready.adminTokenFile, 'an admin token file')]) {
    t.is(statSync(file).mode & 0o777, 0o600, `${file} has mode 0600`);
  }
  t.false(server.stderr().includes(server.secret), 'the secret is not on stderr');
  t.false(server.stderr().includes(server.adminToken), 'the admin token is not on stderr');
  t.is(server.ready.adminTokenFile, `${server.dataDir}/admin-token`, 'the ready line names the admin token file');
});

test.serial('frames above the per-connection rate are answered RateLimited, then the connection is closed with 4005', async (t) => {
  const c = await TestClient.login(server, 90); // default limits: 50 frames a second, 10 errors a minute
  for (let i = 1; i <= 80; i++) c.send(encodeShake(i));
  const limited = await c.next((f) => f.type === ServerType.Error);
  t.like(limited, { code: ErrorCode.RateLimited, offendingType: ClientType.Shake }, 'the first refused frame is RateLimited');
  t.is((await c.closed).code, CloseCode.TooManyErrors, 'close code 4005 after too many');
});

test('the login window is kept per session: a late session is closed when its own window ends, not at the next sweep', async (t) => {
  const registry = new SessionRegistry(newCounters(), 10_000);
  const ended: Array<{ name: string; code: number }> = [];
  const session = (name: string, openedAt: number) => ({ openedAt, end: (code: number) => ended.push({ name, code }) }) as unknown as Session;
  registry.start();
  const now = Date.now();
  registry.opened(session('window ends in 50 ms', now - 9_950));
  registry.opened(session('window ends in 10 s', now));
  for (let waited = 0; ended.length === 0 && waited < 500; waited += 10) await sleep(10);
  registry.stop();
  t.deepEqual(
    ended,
    [{ name: 'window ends in 50 ms', code: CloseCode.LoginTimeout }],
    'the late session was closed within half a second (a 1 s sweep would not have), the young one not',
  );
});
