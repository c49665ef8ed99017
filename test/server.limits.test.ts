// What a client cannot do to the server: malformed frames (each answered with its documented error),
// too many errors, shakes above the ceiling, oversized frames, and reading too slowly.
import test from 'ava';
import { encodeCreate, encodeDetails, encodeLogin, encodeOpen, encodeShake } from '../src/protocol/codec.ts';
import { ClientType, CloseCode, CommonStatus, ErrorCode, ServerType } from '../src/protocol/codes.ts';
import { startServer, TestClient, type TestServer, type StatsDocument, type CreatedAnswer } from './helpers/server.ts';

let server: TestServer;
let nextUser = 500;

test.before(async () => {
  server = await startServer({
    args: ['--max-shakes-per-second', '5', '--max-messages-per-second', '100000', '--max-errors', '5', '--max-payload', '1024', '--backpressure-limit', '4096'],
  });
});

test.after.always(async () => {
  await server?.stop();
});

function frame(...bytes: number[]): Uint8Array {
  return Uint8Array.from(bytes);
}

/** header: version, type, request id (LE) */
function header(version: number, type: number, requestId: number): number[] {
  return [version, type, requestId & 0xff, (requestId >> 8) & 0xff, (requestId >> 16) & 0xff, requestId >>> 24];
}

const malformed: Array<[name: string, bytes: Uint8Array, code: number, offendingType: number, requestId: number]> = [
  ['a frame shorter than the header', frame(1, 2, 3), ErrorCode.BadLength, 0, 0],
  ['an unknown protocol version', frame(...header(9, ClientType.Shake, 11)), ErrorCode.BadVersion, ClientType.Shake, 11],
  ['an unknown message type', frame(...header(1, 0x7f, 12)), ErrorCode.UnknownType, 0x7f, 12],
  ['a shake with a body', frame(...header(1, ClientType.Shake, 13), 0), ErrorCode.BadLength, ClientType.Shake, 13],
  ['an open without its packet id', frame(...header(1, ClientType.Open, 14), 1, 0), ErrorCode.BadLength, ClientType.Open, 14],
  ['a details frame one byte too long', frame(...header(1, ClientType.Details, 15), 1, 0, 0, 0, 0), ErrorCode.BadLength, ClientType.Details, 15],
  ['a login whose token length lies', frame(...header(1, ClientType.Login, 16), 1, 0, 0, 0, 9, 65), ErrorCode.BadLength, ClientType.Login, 16],
  ['a login token that is not UTF-8', frame(...header(1, ClientType.Login, 17), 1, 0, 0, 0, 2, 0xc3, 0x28), ErrorCode.BadField, ClientType.Login, 17],
];

const errorName = (code: number) => Object.entries(ErrorCode).find(([, v]) => v === code)?.[0];

for (const [name, bytes, code, offendingType, requestId] of malformed) {
  test.serial(`${name} is answered Error ${errorName(code)} (${code})`, async (t) => {
    const c = await TestClient.connect(server.ws);
    c.send(bytes);
    const f = await c.next();
    t.like(f, { type: ServerType.Error, code, offendingType, requestId }, `${name}: Error code ${code}`);
    c.close();
  });
}

test.serial('a create with an unknown split mode is answered BadField', async (t) => {
  const c = await TestClient.login(server, nextUser++);
  const bytes = encodeCreate(21, 100, 1, [1]);
  bytes[6 + 6] = 2; // split mode byte
  c.send(bytes);
  t.like(await c.reply(21), { type: ServerType.Error, code: ErrorCode.BadField, offendingType: ClientType.Create }, 'split mode 2: BadField');
  const truncated = encodeCreate(22, 100, 3, [1, 2, 3]).subarray(0, 20);
  c.send(truncated);
  t.like(await c.reply(22), { type: ServerType.Error, code: ErrorCode.BadLength }, 'a create cut short: BadLength');
  c.close();
});

test.serial('after too many errors the connection is closed with 4005, and nothing moved', async (t) => {
  const c = await TestClient.login(server, nextUser++);
  for (let i = 0; i < 10; i++) c.send(frame(...header(1, 0x7f, i)));
  t.is((await c.closed).code, CloseCode.TooManyErrors, 'close code 4005');
  const stats = await server.adminFetch<StatsDocument>('GET', '/stats');
  t.is(stats.body.totals.shake.paid.count + stats.body.totals.group.paid.count, 0, 'no money moved');
});

test.serial('shakes above the per-second ceiling are answered Overloaded at once', async (t) => {
  const c = await TestClient.login(server, nextUser++);
  for (let i = 1; i <= 30; i++) c.send(encodeShake(i));
  const replies = await Promise.all(Array.from({ length: 30 }, (_, i) => c.reply(i + 1)));
  const overloaded = replies.filter((f) => f.type === ServerType.ShakeResult && f.status === CommonStatus.Overloaded).length;
  t.true(overloaded >= 20, `at most 5 per second (x2 if the burst straddles a second) go through; ${overloaded} of 30 were Overloaded`);
  t.true(
    replies.every((f) => f.type === ServerType.ShakeResult),
    'every shake got a ShakeResult',
  );
  c.close();
});

test.serial('before login a frame that decodes is answered NotLoggedIn; one that does not gets its decode error first', async (t) => {
  const c = await TestClient.connect(server.ws);
  c.send(encodeOpen(21, 5));
  t.like(await c.next(), { type: ServerType.Error, code: ErrorCode.NotLoggedIn, offendingType: ClientType.Open, requestId: 21 }, 'a good open: NotLoggedIn');
  c.send(frame(...header(9, ClientType.Open, 22), 5, 0, 0, 0));
  t.like(await c.next(), { type: ServerType.Error, code: ErrorCode.BadVersion, requestId: 22 }, 'a bad version wins over NotLoggedIn');
  c.close();
});

test.serial('a text frame of valid UTF-8 is decoded like a binary one', async (t) => {
  const c = await TestClient.connect(server.ws);
  c.socket.send(Buffer.from(encodeOpen(0x41414141, 0x42424242)), { binary: false }); // 01 03 'AAAA' 'BBBB': valid UTF-8
  t.like(await c.next(), { type: ServerType.Error, code: ErrorCode.NotLoggedIn, offendingType: ClientType.Open, requestId: 0x41414141 }, 'answered as an open');
  c.close();
});

test.serial('a text frame that is not valid UTF-8 drops the connection without a close frame; the server keeps serving', async (t) => {
  const c = await TestClient.login(server, nextUser++);
  c.socket.send(Buffer.from([1, 2, 0xff, 0xfe, 0, 0]), { binary: false });
  const { code } = await c.closed;
  t.is(code, 1006, 'closed without a close frame (1006), as an oversize frame is');
  const d = await TestClient.login(server, nextUser++);
  d.send(encodeOpen(5, 123456));
  t.like(await d.reply(5), { type: ServerType.OpenResult }, 'another connection is answered');
  d.close();
});

test.serial('a frame above the payload limit closes the connection; the server keeps serving', async (t) => {
  const c = await TestClient.login(server, nextUser++);
  c.send(new Uint8Array(2048));
  const { code } = await c.closed;
  t.not(code, 1000, `the connection is closed (code ${code})`);
  const d = await TestClient.login(server, nextUser++);
  d.send(encodeOpen(5, 123456));
  t.like(await d.reply(5), { type: ServerType.OpenResult }, 'another connection is answered');
  d.close();
});

test.serial('a slow reader is cut off at the backpressure limit with 4008', async (t) => {
  const made = await server.adminFetch<CreatedAnswer>('POST', '/admin/packets', {
    sender: 1,
    totalCents: 100,
    shareCount: 1,
    recipients: [2],
    cover: { title: 't', colour: 1, story: 'x'.repeat(280) },
  });
  t.is(made.status, 200, 'a packet with a long cover exists');
  const c = await TestClient.login(server, nextUser++);
  (c.socket as unknown as { _socket: { pause(): void } })._socket.pause(); // stop reading
  const request = encodeDetails(0, made.body.packetId);
  for (let i = 0; i < 40_000; i++) c.send(request); // ~375 bytes answered per 10 bytes asked
  await new Promise((r) => setTimeout(r, 3000)); // the server answers, its buffer fills, it gives up
  (c.socket as unknown as { _socket: { resume(): void } })._socket.resume(); // now read the close frame
  t.is((await c.closed).code, CloseCode.Backpressure, 'close code 4008');
});

test.serial('a login frame after an unknown type still works (errors do not poison the connection)', async (t) => {
  const c = await TestClient.connect(server.ws);
  c.send(frame(...header(1, 0x55, 1)));
  t.like(await c.reply(1), { code: ErrorCode.UnknownType }, 'unknown type first');
  c.send(encodeLogin(2, 9999, server.token(9999)));
  t.like(await c.reply(2), { type: ServerType.LoginOk }, 'then a normal login');
  c.close();
});

test.serial('random frames neither crash the server nor break the money identities', async (t) => {
  let seed = 12345;
  const rand = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  for (let conn = 0; conn < 40; conn++) {
    const c = await TestClient.login(server, nextUser++);
    for (let i = 0; i < 50; i++) {
      const length = rand(4) === 0 ? rand(6) : 6 + rand(40);
      const bytes = new Uint8Array(length);
      for (let j = 0; j < length; j++) bytes[j] = rand(256);
      if (length > 1 && rand(4) !== 0) bytes[0] = 1; // mostly the right version, to reach the decoders
      if (length > 1 && rand(2) === 0) bytes[1] = 1 + rand(5); // and a real message type
      c.send(bytes);
    }
    await new Promise((r) => setTimeout(r, 10));
    c.close();
  }
  const health = await fetch(`${server.http}/health`);
  t.is(health.status, 200, 'the server is healthy after 2000 random frames');
  const c = await TestClient.login(server, nextUser++);
  c.send(encodeOpen(77, 4242424));
  t.like(await c.reply(77), { type: ServerType.OpenResult }, 'and answers a fresh connection');
  c.close();
  const stats = (await server.adminFetch<StatsDocument>('GET', '/stats')).body;
  for (const flow of ['shake', 'group'] as const) {
    const f = stats.totals[flow];
    t.is(f.created.cents, f.paid.cents + f.remaining.cents + f.refunded.cents, `${flow}: created = paid + remaining + refunded`);
    t.is(f.created.count, f.paid.count + f.remaining.count + f.refunded.count, `${flow}: in count too`);
  }
});
