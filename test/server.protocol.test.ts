// The server's protocol round trips over real sockets: WebSocket frames and the HTTP API, against a
// real server process (the engine HONGBAO_ENGINE picks, a SQLite ledger in a temp dir).
import test from 'ava';
import { OpenStatus, ShakeStatus } from '../src/engine/types.ts';
import { encodeCreate, encodeDetails, encodeOpen, encodeShake, type ServerFrame } from '../src/protocol/codec.ts';
import { CreateExtraStatus, DetailsStatus, ServerType } from '../src/protocol/codes.ts';
import { startServer, TestClient, type TestServer, type StatsDocument, type CreatedAnswer, type SupplyAnswer } from './helpers/server.ts';
import { present } from './helpers/present.ts';
import { PushCollector } from '../src/monitor/push-collector.ts';

let server: TestServer;
let monitor: PushCollector;
const clients: TestClient[] = [];
let nextUser = 100;

async function user(): Promise<{ id: number; c: TestClient }> {
  const id = nextUser++;
  const c = await TestClient.login(server, id);
  clients.push(c);
  return { id, c };
}

let nextRequest = 1000;
async function ask(c: TestClient, encode: (requestId: number) => Uint8Array): Promise<ServerFrame> {
  const id = nextRequest++;
  c.send(encode(id));
  return c.reply(id);
}

async function createPacket(sender: TestClient, total: number, shares: number, recipients: number[]): Promise<number> {
  const f = await ask(sender, (r) => encodeCreate(r, total, shares, recipients));
  if (f.type !== ServerType.CreateResult || f.status !== 0) throw new Error(`create failed: ${JSON.stringify(f)}`);
  return f.packetId;
}

function http(path: string, userId: number | null, init: RequestInit = {}): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (userId !== null) headers.authorization = `Bearer ${server.token(userId)}`;
  return fetch(`${server.http}${path}`, { ...init, headers });
}

test.before(async () => {
  monitor = await PushCollector.start({ keepRecords: true });
  server = await startServer({ args: ['--seed', '7', '--shards', '4', '--monitor', monitor.url] });
});

test.after.always(async () => {
  for (const c of clients) c.close();
  const exit = await server?.stop();
  if (exit && exit.code !== 0) console.error(server.stderr());
  monitor?.close();
});

test.serial('a shake with no supply running misses', async (t) => {
  const { c } = await user();
  const f = await ask(c, encodeShake);
  t.is(f.type, ServerType.ShakeResult, 'a shake is answered with a ShakeResult');
  t.like(f, { status: ShakeStatus.Miss, packetId: 0, cents: 0 }, 'a miss carries no packet and no cents');
});

test.serial('after the supply released packets, shakes hit them and none is won twice', async (t) => {
  const started = await server.adminFetch<SupplyAnswer>('POST', '/admin/supply', { total: 4, ratePerSecond: 4, rule: { kind: 'list', values: [88] } });
  t.is(started.status, 200, `the admin API starts the supply: ${JSON.stringify(started.body)}`);
  t.like(started.body.supply, { total: 4, active: true }, 'the answer carries the supply state');
  await new Promise((r) => setTimeout(r, 2100)); // one tick of the supply clock, on the second
  const { c } = await user();
  const results = [];
  for (let i = 0; i < 8; i++) results.push(await ask(c, encodeShake));
  const hits = results.filter((f) => f.type === ServerType.ShakeResult && f.status === ShakeStatus.Hit);
  t.true(hits.length >= 1, `at least one shake of one user hits (got ${hits.length})`);
  for (const h of hits) t.like(h, { cents: 88 }, 'every hit carries the amount of the list rule');
  const ids = hits.map((h) => (h as { packetId: number }).packetId);
  t.is(new Set(ids).size, ids.length, 'no packet is won twice');
});

test.serial('group packet: recipients are notified, open once each, shares add up to the total', async (t) => {
  const sender = await user();
  const r1 = await user();
  const r2 = await user();
  const r3 = await user();
  const packetId = await createPacket(sender.c, 1000, 3, [r1.id, r2.id, r3.id]);
  t.true(packetId > 0, 'the create result carries the new packet id');
  let total = 0;
  for (const r of [r1, r2, r3]) {
    const notify = await r.c.next((f) => f.type === ServerType.PacketNotify);
    t.like(notify, { packetId, sender: sender.id, shareCount: 3, totalCents: 1000 }, 'each recipient is told about the packet');
    const opened = await ask(r.c, (id) => encodeOpen(id, packetId));
    t.like(opened, { type: ServerType.OpenResult, status: OpenStatus.Ok, packetId }, 'each recipient opens a share');
    const cents = (opened as { cents: number }).cents;
    t.true(cents >= 1, 'every share is at least one cent');
    total += cents;
  }
  t.is(total, 1000, 'the shares add up to the total exactly');
});

test.serial('a second open by the same user returns the same share and moves nothing', async (t) => {
  const sender = await user();
  const r = await user();
  const packetId = await createPacket(sender.c, 500, 2, [r.id, sender.id]);
  const first = await ask(r.c, (id) => encodeOpen(id, packetId));
  const second = await ask(r.c, (id) => encodeOpen(id, packetId));
  t.like(first, { status: OpenStatus.Ok }, 'the first open takes a share');
  t.like(second, { status: OpenStatus.Repeat, cents: (first as { cents: number }).cents }, 'the repeat answers Repeat with the same cents');
  const details = await ask(r.c, (id) => encodeDetails(id, packetId));
  t.is(details.type === ServerType.DetailsResult && details.details?.opened.length, 1, 'only one share was taken');
});

test.serial('opens that cannot take a share say why', async (t) => {
  const sender = await user();
  const r = await user();
  const outsider = await user();
  const packetId = await createPacket(sender.c, 10, 1, [r.id]);
  t.like(await ask(outsider.c, (id) => encodeOpen(id, packetId)), { status: OpenStatus.NotRecipient }, 'a non-recipient gets NotRecipient');
  t.like(await ask(outsider.c, (id) => encodeOpen(id, 999_999)), { status: OpenStatus.UnknownPacket }, 'an unknown id gets UnknownPacket');
  const two = await createPacket(sender.c, 10, 1, [r.id, outsider.id]);
  t.like(await ask(r.c, (id) => encodeOpen(id, two)), { status: OpenStatus.Ok }, 'the only share is taken');
  t.like(await ask(outsider.c, (id) => encodeOpen(id, two)), { status: OpenStatus.Empty }, 'the next recipient finds it Empty');
});

test.serial('details list who got how much, the best luck and the cover', async (t) => {
  const sender = await user();
  const a = await user();
  const b = await user();
  const f = await ask(sender.c, (r) => encodeCreate(r, 300, 2, [a.id, b.id], 0, { title: '新年快乐', colour: 0xff0000, story: 'gong xi' }));
  const packetId = (f as { packetId: number }).packetId;
  const oa = (await ask(a.c, (id) => encodeOpen(id, packetId))) as { cents: number };
  const ob = (await ask(b.c, (id) => encodeOpen(id, packetId))) as { cents: number };
  const d = await ask(sender.c, (id) => encodeDetails(id, packetId));
  t.is(d.type, ServerType.DetailsResult, 'details are answered with a DetailsResult');
  if (d.type !== ServerType.DetailsResult || !d.details) return t.fail('details missing');
  t.is(d.status, DetailsStatus.Found, 'a known packet is Found');
  t.deepEqual(
    d.details.opened,
    [
      { user: a.id, cents: oa.cents },
      { user: b.id, cents: ob.cents },
    ],
    'shares in opening order',
  );
  t.is(d.details.bestLuck, oa.cents >= ob.cents ? a.id : b.id, 'best luck is the first of the largest shares');
  t.deepEqual(d.details.cover, { title: '新年快乐', colour: 0xff0000, story: 'gong xi' }, 'the cover comes back as sent');
  t.like(d.details, { remainingCents: 0, remainingShares: 0, totalCents: 300, sender: sender.id }, 'the packet is fully opened');
  const unknown = await ask(sender.c, (id) => encodeDetails(id, 888_888));
  t.like(unknown, { status: DetailsStatus.UnknownPacket, details: null }, 'an unknown packet has no details');
});

test.serial('a create the engine refuses answers its status, a bad cover answers BadCover', async (t) => {
  const sender = await user();
  t.like(
    await ask(sender.c, (r) => encodeCreate(r, 2, 3, [1, 2, 3])),
    { type: ServerType.CreateResult, status: 1, packetId: 0 },
    'total below shares: TotalBelowShares',
  );
  t.like(await ask(sender.c, (r) => encodeCreate(r, 100, 2, [5, 5])), { status: 4 }, 'a recipient twice: BadRecipients');
  const longTitle = 'x'.repeat(41);
  t.like(
    await ask(sender.c, (r) => encodeCreate(r, 100, 1, [5], 0, { title: longTitle, colour: 0, story: '' })),
    { type: ServerType.CreateResult, status: CreateExtraStatus.BadCover },
    'a title above 40 bytes: BadCover',
  );
});

test.serial('HTTP: shake, open and details with a user token', async (t) => {
  const shake = await http('/v1/shake', 42, { method: 'POST' });
  t.is(shake.status, 200, 'POST /v1/shake answers 200');
  t.regex((await shake.json()).status, /^(hit|miss)$/, 'the shake status is hit or miss');
  const sender = await user();
  const packetId = await createPacket(sender.c, 99, 1, [43]);
  const open = await http('/v1/open', 43, { method: 'POST', body: JSON.stringify({ packetId }) });
  t.deepEqual(await open.json(), { status: 'ok', packetId, cents: 99 }, 'POST /v1/open takes the share');
  const again = await http('/v1/open', 43, { method: 'POST', body: JSON.stringify({ packetId }) });
  t.deepEqual(await again.json(), { status: 'repeat', packetId, cents: 99 }, 'a repeat open over HTTP returns the same share');
  const details = await http(`/v1/packets/${packetId}`, 44);
  t.is(details.status, 200, 'GET /v1/packets/:id answers 200');
  t.like(await details.json(), { id: packetId, totalCents: 99, bestLuck: 43 }, 'details as JSON');
  t.is((await http('/v1/packets/777777', 44)).status, 404, 'an unknown packet is 404');
  t.is((await http('/v1/open', 43, { method: 'POST', body: '{"packetId":"x"}' })).status, 400, 'a bad packet id is 400');
  t.is((await http('/v1/open', 43, { method: 'POST', body: 'not json' })).status, 400, 'a body that is not JSON is 400');
  for (const body of [`{"packetId":"${packetId}"}`, `{"packetId":" ${packetId} "}`, `{"packetId":${packetId}.5}`]) {
    t.is((await http('/v1/open', 43, { method: 'POST', body })).status, 400, `packetId must be a JSON integer: ${body} is 400`);
  }
});

test.serial('HTTP: a public body above 1 KiB is 413, on /v1/shake as on /v1/open', async (t) => {
  const big = JSON.stringify({ packetId: 1, pad: 'x'.repeat(1100) });
  const shake = await http('/v1/shake', 45, { method: 'POST', body: big });
  t.is(shake.status, 413, '/v1/shake refuses a body above the limit');
  t.like(await shake.json(), { error: 'too-large' }, 'and says why');
  t.is((await http('/v1/open', 45, { method: 'POST', body: big })).status, 413, '/v1/open too');
  t.is((await http('/v1/shake', 45, { method: 'POST', body: 'x'.repeat(1024) })).status, 200, 'a body of exactly 1 KiB is taken (and ignored by shake)');
});

test.serial('HTTP: no or a forged token is 401, unknown paths 404, /health is public', async (t) => {
  t.is((await http('/v1/shake', null, { method: 'POST' })).status, 401, 'no token: 401');
  const forged = await fetch(`${server.http}/v1/shake`, { method: 'POST', headers: { authorization: `Bearer ${server.token(1).slice(0, -2)}AA` } });
  t.is(forged.status, 401, 'a forged token: 401');
  t.is((await http('/v1/nothing', 1)).status, 404, 'unknown path: 404');
  const health = await fetch(`${server.http}/health`);
  t.is(health.status, 200, 'GET /health on the public port answers 200');
  t.like(await health.json(), { ok: true, state: 'healthy' }, 'health says ok');
});

test.serial('admin: a campaign notifies recipients; expire refunds the unopened remainder', async (t) => {
  const r = await user();
  const campaign = await server.adminFetch('POST', '/admin/campaign', {
    count: 1,
    ratePerSecond: 10,
    recipientsPerPacket: 1,
    userFrom: r.id,
    userTo: r.id + 1,
    rule: { kind: 'range', min: 50, max: 50 },
  });
  t.is(campaign.status, 200, `the campaign starts: ${JSON.stringify(campaign.body)}`);
  // Either the user is the sender (then user+1 is told) or the recipient: wait for one packet to exist.
  let created = 0;
  for (let i = 0; i < 50 && created === 0; i++) {
    await new Promise((res) => setTimeout(res, 100));
    created = present((await server.adminFetch<StatsDocument>('GET', '/stats')).body.campaign, 'the campaign').created;
  }
  t.is(created, 1, 'the campaign created its one packet');
  const made = await server.adminFetch<CreatedAnswer>('POST', '/admin/packets', { sender: 1, totalCents: 700, shareCount: 2, recipients: [r.id, 2] });
  t.is(made.status, 200, 'the admin API creates a packet');
  const packetId = made.body.packetId;
  const notify = await r.c.next((f) => f.type === ServerType.PacketNotify && f.packetId === packetId);
  t.like(notify, { totalCents: 700, shareCount: 2, sender: 1 }, 'the recipient is told about the admin packet');
  const opened = (await ask(r.c, (id) => encodeOpen(id, packetId))) as { cents: number };
  const expired = await server.adminFetch('POST', '/admin/expire', { packetIds: [packetId] });
  t.deepEqual(expired.body, { expired: 1, refundedCents: 700 - opened.cents }, 'expire refunds the unopened cents');
  t.like(await ask(r.c, (id) => encodeOpen(id, packetId)), { status: OpenStatus.Repeat }, 'an opener still sees their share');
  const bad = await server.adminFetch<CreatedAnswer>('POST', '/admin/packets', { sender: 1, totalCents: 1, shareCount: 2, recipients: [3, 4] });
  t.is(bad.status, 422, 'a packet the engine refuses is 422');
  t.is(bad.body.status, 'total-below-shares', 'with the create status name');
});

test.serial('stats and metrics count what happened', async (t) => {
  await new Promise((r) => setTimeout(r, 1100));
  const stats = await server.adminFetch<StatsDocument>('GET', '/stats');
  t.is(stats.status, 200, 'GET /stats answers');
  const s = stats.body;
  t.true(s.cumulative.shakes >= 10, 'shakes are counted');
  t.true(s.cumulative.opens >= 5, 'opens are counted');
  t.true(s.connections >= 1, 'connections are counted');
  t.true(Number.isFinite(s.loopDelayMs) && s.loopDelayMs >= 0, `the longest loop delay of the last second is reported (${s.loopDelayMs} ms)`);
  t.true(
    s.heapMb.length >= 1 && s.heapMb.every((mb: number, i: number) => mb >= s.heapUsedMb[i] && s.heapUsedMb[i] > 0),
    `each thread's heap is reported (${s.heapUsedMb} in use of ${s.heapMb} MiB)`,
  );
  t.true(s.ledger.heapUsedMb > 0 && s.ledger.heapMb >= s.ledger.heapUsedMb, `and the ledger writer's (${s.ledger.heapUsedMb} of ${s.ledger.heapMb} MiB)`);
  for (const flow of ['shake', 'group'] as const) {
    const f = s.totals[flow];
    t.is(f.created.cents, f.paid.cents + f.remaining.cents + f.refunded.cents, `${flow}: created = paid + remaining + refunded`);
  }
  t.is(s.totals.shake.paid.cents, s.cumulative.hitCents, 'every shake cent the engine paid was told to a user');
  const metrics = await server.adminFetch('GET', '/metrics');
  // prom-client is loaded by this first scrape: what was counted before it is there too
  t.regex(String(metrics.body), new RegExp(`\\nhongbao_shakes_total ${s.cumulative.shakes}\\n`), 'Prometheus text has every shake counted');
  t.regex(
    String(metrics.body),
    new RegExp(`\\nhongbao_engine_totals\\{flow="shake",part="paid",unit="cents"\\} ${s.totals.shake.paid.cents}\\n`),
    "and the engine's totals",
  );
  t.regex(String(metrics.body), /hongbao_loop_delay_max_ms [\d.]+/, 'and the loop delay gauge');
  t.regex(String(metrics.body), /hongbao_process_cpu_seconds_total [\d.]+/, "and Node's default process metrics");
  t.regex(String(metrics.body), /hongbao_nodejs_heap_size_used_bytes [\d.]+/, 'its heap');
  t.notRegex(String(metrics.body), /eventloop_lag/, "but not prom-client's loop lag, which would sample the loop on a second timer");
});

test.serial('a packet past its expiry is refunded by the sweep and can no longer be opened', async (t) => {
  const r = await user();
  const made = await server.adminFetch<CreatedAnswer>('POST', '/admin/packets', {
    sender: 1,
    totalCents: 300,
    shareCount: 2,
    recipients: [r.id, 2],
    expiresInMs: 200,
  });
  const packetId = made.body.packetId;
  let d: ServerFrame | null = null;
  for (let i = 0; i < 30; i++) {
    await new Promise((res) => setTimeout(res, 100));
    d = await ask(r.c, (id) => encodeDetails(id, packetId));
    if (d.type === ServerType.DetailsResult && d.details?.expired) break;
  }
  t.like(
    d,
    { type: ServerType.DetailsResult, details: { expired: true, refundedCents: 300, remainingCents: 0 } },
    'the sweep expired it and refunded everything',
  );
  t.like(await ask(r.c, (id) => encodeOpen(id, packetId)), { status: OpenStatus.Expired }, 'an open after expiry is Expired');
});

test.serial('the server pushes its counters to the monitor once a second', async (t) => {
  const pushes = monitor.records;
  for (let i = 0; i < 30 && pushes.length < 2; i++) await new Promise((r) => setTimeout(r, 100));
  t.true(pushes.length >= 2, `pushes arrive (${pushes.length})`);
  const last = present(pushes.at(-1), 'a push');
  t.is(last.source, 'server', 'the source is the server');
  t.true(Number.isInteger(last.second), 'each push names its second');
  t.true('shakes' in last.counters && 'connections' in last.counters && 'totals' in last.counters, 'with the second block, connections and totals');
  const seconds = pushes.map((p) => p.second);
  t.deepEqual(
    seconds,
    [...new Set(seconds)].sort((a, b) => a - b),
    'one push per second, in order',
  );
});
