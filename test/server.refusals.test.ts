// Requests that must be refused without moving a cent: shakes after the supply ended, repeated opens,
// opens of emptied or expired packets, opens by non-recipients, over WebSocket and HTTP; and the
// identity checks test/server.auth.test.ts does not cover: expired and foreign-secret tokens over
// HTTP, an admin token used as a user token, a body naming another user, the admin port bound to
// 127.0.0.1 only. After each refusal the engine's totals are unchanged; at the end the ledger holds
// exactly the moves that were answered, and balances.
import test from 'ava';
import net from 'node:net';
import { mintToken } from '../src/auth/token.ts';
import { OpenStatus, ShakeStatus } from '../src/engine/types.ts';
import { encodeCreate, encodeDetails, encodeOpen, encodeShake, type ServerFrame } from '../src/protocol/codec.ts';
import { DetailsStatus, ServerType } from '../src/protocol/codes.ts';
import { checkTold, Told } from '../scripts/reliability/told.ts';
import { startServer, TestClient, type TestServer, type StatsDocument, type CreatedAnswer, type SupplyAnswer } from './helpers/server.ts';
import { present } from './helpers/present.ts';

let server: TestServer;
const told = new Told();
let request = 1;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test.before(async () => {
  // Expired packets stay 3 s in memory: long enough for the checks right after an expiry.
  server = await startServer({ args: ['--shards', '1', '--expiry-sweep-ms', '50', '--retain-expired-ms', '3000'] });
});

test.after.always(async () => {
  await server?.stop();
});

async function ask(c: TestClient, bytes: (id: number) => Uint8Array): Promise<ServerFrame> {
  const id = request++;
  c.send(bytes(id));
  return c.reply(id);
}

async function totals() {
  return (await server.adminFetch<StatsDocument>('GET', '/stats')).body.totals as Record<
    'shake' | 'group',
    { paid: { count: number; cents: number }; remaining: { count: number; cents: number }; refunded: { count: number; cents: number } }
  >;
}

function httpOpen(token: string, body: unknown): Promise<Response> {
  return fetch(`${server.http}/v1/open`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: JSON.stringify(body) });
}

async function create(sender: TestClient, total: number, shares: number, recipients: number[]): Promise<number> {
  const f = await ask(sender, (id) => encodeCreate(id, total, shares, recipients));
  if (f.type !== ServerType.CreateResult || f.status !== 0) throw new Error(`create refused: ${JSON.stringify(f)}`);
  told.packet(f.packetId, total, shares);
  return f.packetId;
}

test.serial('shakes after the supply ended miss and move nothing', async (t) => {
  const started = await server.adminFetch<SupplyAnswer>('POST', '/admin/supply', { total: 3, ratePerSecond: 3, rule: { kind: 'list', values: [50] } });
  t.is(started.status, 200, 'a supply of three packets');
  for (let i = 0; i < 40 && present((await server.adminFetch<StatsDocument>('GET', '/stats')).body.supply, 'the supply').released < 3; i++) await sleep(100);
  const c = await TestClient.login(server, 1);
  let hits = 0;
  for (let i = 0; i < 20 && hits < 3; i++) {
    const f = await ask(c, encodeShake);
    if (f.type === ServerType.ShakeResult && f.status === ShakeStatus.Hit) {
      hits++;
      told.hit(f.packetId, 1, f.cents);
    }
  }
  t.is(hits, 3, 'the three packets are won');
  const before = await totals();
  for (let i = 0; i < 10; i++)
    t.like(await ask(c, encodeShake), { type: ServerType.ShakeResult, status: ShakeStatus.Miss, packetId: 0, cents: 0 }, `shake ${i + 1} after the end misses`);
  const http = await fetch(`${server.http}/v1/shake`, { method: 'POST', headers: { authorization: `Bearer ${server.token(2)}` } });
  t.deepEqual(await http.json(), { status: 'miss' }, 'an HTTP shake misses too');
  t.deepEqual((await totals()).shake, before.shake, 'the shake totals did not move');
  t.like((await totals()).shake, { paid: { count: 3, cents: 150 }, remaining: { count: 0, cents: 0 } }, 'the supply paid its total and no more');
  c.close();
});

test.serial('repeated, emptied, foreign and unknown opens are answered and move nothing', async (t) => {
  const sender = await TestClient.login(server, 10);
  const a = await TestClient.login(server, 11);
  const b = await TestClient.login(server, 12);
  const outsider = await TestClient.login(server, 13);
  const packetId = await create(sender, 300, 1, [11, 12]);
  const first = await ask(a, (id) => encodeOpen(id, packetId));
  t.like(first, { status: OpenStatus.Ok, cents: 300 }, 'the only share');
  told.share(packetId, 11, 300);
  const before = await totals();
  t.like(await ask(a, (id) => encodeOpen(id, packetId)), { status: OpenStatus.Repeat, cents: 300 }, 'a repeat over WebSocket: the same share');
  t.deepEqual(await (await httpOpen(server.token(11), { packetId })).json(), { status: 'repeat', packetId, cents: 300 }, 'a repeat over HTTP: the same share');
  t.like(await ask(b, (id) => encodeOpen(id, packetId)), { status: OpenStatus.Empty, cents: 0 }, 'the other recipient: Empty');
  t.deepEqual(await (await httpOpen(server.token(12), { packetId })).json(), { status: 'empty', packetId, cents: 0 }, 'Empty over HTTP too');
  t.like(await ask(outsider, (id) => encodeOpen(id, packetId)), { status: OpenStatus.NotRecipient, cents: 0 }, 'a non-recipient: NotRecipient');
  t.like(await ask(outsider, (id) => encodeOpen(id, 4_000_000)), { status: OpenStatus.UnknownPacket, cents: 0 }, 'an unknown packet: UnknownPacket');
  t.deepEqual((await totals()).group, before.group, 'the group totals did not move');
  for (const c of [sender, a, b, outsider]) c.close();
});

test.serial('opens of an expired packet are Expired (a share opened before stays a Repeat) and move nothing', async (t) => {
  const made = await server.adminFetch<CreatedAnswer>('POST', '/admin/packets', {
    sender: 20,
    totalCents: 90,
    shareCount: 3,
    recipients: [21, 22, 23],
    expiresInMs: 400,
  });
  t.is(made.status, 200, 'a packet that expires in 0.4 s');
  const packetId = made.body.packetId;
  told.packet(packetId, 90, 3);
  const r21 = await TestClient.login(server, 21);
  const r22 = await TestClient.login(server, 22);
  const opened = await ask(r21, (id) => encodeOpen(id, packetId));
  t.like(opened, { status: OpenStatus.Ok }, 'one share before the expiry');
  const cents = (opened as { cents: number }).cents;
  told.share(packetId, 21, cents);
  for (let i = 0; i < 40 && (await totals()).group.refunded.cents < 90 - cents; i++) await sleep(100);
  const before = await totals();
  t.true(before.group.refunded.cents >= 90 - cents, 'the sweep refunded the rest');
  t.like(await ask(r22, (id) => encodeOpen(id, packetId)), { status: OpenStatus.Expired, cents: 0 }, 'an open after expiry: Expired');
  t.deepEqual(await (await httpOpen(server.token(23), { packetId })).json(), { status: 'expired', packetId, cents: 0 }, 'Expired over HTTP too');
  t.like(await ask(r21, (id) => encodeOpen(id, packetId)), { status: OpenStatus.Repeat, cents }, 'the share opened before: Repeat, same cents');
  t.deepEqual(await totals(), before, 'nothing moved');
  r21.close();
  r22.close();
});

test.serial('a packet evicted after --retain-expired-ms: its opens are Expired, its details unknown, nothing moves; the ledger keeps it', async (t) => {
  const made = await server.adminFetch<CreatedAnswer>('POST', '/admin/packets', {
    sender: 30,
    totalCents: 70,
    shareCount: 2,
    recipients: [31, 32],
    expiresInMs: 200,
  });
  const packetId = made.body.packetId;
  told.packet(packetId, 70, 2);
  const r31 = await TestClient.login(server, 31);
  const opened = await ask(r31, (id) => encodeOpen(id, packetId));
  t.like(opened, { status: OpenStatus.Ok }, 'one share before the expiry');
  told.share(packetId, 31, (opened as { cents: number }).cents);
  const evicted = async () => (await server.adminFetch<StatsDocument>('GET', '/stats')).body.cumulative.evicted as number;
  const start = await evicted();
  const details = () => ask(r31, (id) => encodeDetails(id, packetId));
  t.like(await details(), { type: ServerType.DetailsResult, status: DetailsStatus.Found }, 'details while it is held');
  const held = async () => {
    const d = await details();
    return d.type === ServerType.DetailsResult && d.status === DetailsStatus.Found;
  };
  for (let i = 0; i < 100 && (await held()); i++) await sleep(100);
  t.like(
    await details(),
    { type: ServerType.DetailsResult, status: DetailsStatus.UnknownPacket },
    'details once evicted (~3.2 s after it was made): unknown packet',
  );
  for (let i = 0; i < 30 && (await evicted()) === start; i++) await sleep(100); // /stats is summed once a second
  t.true((await evicted()) > start, '/stats counts the eviction');
  const before = await totals();
  t.like(await ask(r31, (id) => encodeOpen(id, packetId)), { status: OpenStatus.Expired, cents: 0 }, 'the opener asking again: Expired (no longer Repeat)');
  t.deepEqual(
    await (await httpOpen(server.token(32), { packetId })).json(),
    { status: 'expired', packetId, cents: 0 },
    'the other recipient over HTTP: expired',
  );
  t.deepEqual(await totals(), before, 'nothing moved');
  r31.close();
});

test.serial(
  "HTTP: an expired token, a token of another server and the admin token are refused; a body naming another user opens as the token's user",
  async (t) => {
    const expired = await fetch(`${server.http}/v1/shake`, {
      method: 'POST',
      headers: { authorization: `Bearer ${mintToken(server.secret, 5, Date.now() / 1000 - 1)}` },
    });
    t.is(expired.status, 401, 'an expired user token: 401');
    t.like(await expired.json(), { error: 'token-expired' }, 'named token-expired');
    const foreign = await fetch(`${server.http}/v1/shake`, {
      method: 'POST',
      headers: { authorization: `Bearer ${mintToken('another server', 5, Date.now() / 1000 + 60)}` },
    });
    t.is(foreign.status, 401, 'a token signed with another secret: 401');
    const admin = await fetch(`${server.http}/v1/shake`, { method: 'POST', headers: { authorization: `Bearer ${server.adminToken}` } });
    t.is(admin.status, 401, 'the admin token is no user token: 401');

    const made = await server.adminFetch<CreatedAnswer>('POST', '/admin/packets', { sender: 30, totalCents: 77, shareCount: 1, recipients: [31] });
    const packetId = made.body.packetId;
    told.packet(packetId, 77, 1);
    const before = await totals();
    const asOther = await httpOpen(server.token(32), { packetId, user: 31, userId: 31 });
    t.deepEqual(await asOther.json(), { status: 'not-recipient', packetId, cents: 0 }, 'user 32 naming user 31 in the body is still user 32: not-recipient');
    t.deepEqual((await totals()).group, before.group, 'nothing moved');
    const own = await httpOpen(server.token(31), { packetId });
    t.deepEqual(await own.json(), { status: 'ok', packetId, cents: 77 }, 'user 31 still gets the share');
    told.share(packetId, 31, 77);
  },
);

test.serial('the admin API listens on 127.0.0.1 only: another local address is refused', async (t) => {
  const refused = await new Promise<string>((resolve) => {
    const s = net.connect({ host: '127.0.0.2', port: server.ready.adminPort });
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
  t.is(refused, 'ECONNREFUSED', 'the admin port does not answer on 127.0.0.2');
  t.is((await server.adminFetch('GET', '/health')).status, 200, 'it answers on 127.0.0.1');
});

test.serial('the ledger holds exactly the moves that were answered, and balances', async (t) => {
  const exit = await server.stop();
  t.is(exit.code, 0, 'the server stops cleanly');
  const report = checkTold(`${server.dataDir}/hongbao.db`, told, { exact: true });
  t.deepEqual(report.differences, [], 'no difference');
  t.true(report.check.ok, 'created = paid + remaining + refunded');
});
