// Edges of both generators (the TypeScript Simulator and the native workers): server pings
// answered, a refused login never retried, a server close answered and followed by a reconnect,
// opens retried after Overloaded and re-sent after a reconnect, and frames cut into pieces by TCP
// read whole — the last against a hand-written server that sends every answer in delayed pieces.
import test, { type ExecutionContext } from 'ava';
import { createHash } from 'node:crypto';
import net from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import type { AddressInfo } from 'node:net';
import { verifyToken } from '../src/auth/token.ts';
import { decodeClientFrame, encodeLoginOk, encodePacketNotify, encodeResult } from '../src/protocol/codec.ts';
import { ClientType, CommonStatus, ServerType } from '../src/protocol/codes.ts';
import { createGenerator, GENERATORS, type ClientGenerator, type GeneratorKind } from '../src/simulator/generator.ts';
import type { SimulatorOptions } from '../src/simulator/simulator.ts';

const SECRET = 'wire-secret';

function options(port: number, users: number, secret = SECRET): SimulatorOptions {
  return {
    id: 'wire',
    target: { host: '127.0.0.1', port, path: '/ws', timeoutMs: 5000 },
    from: 1,
    to: users,
    total: users,
    qps: 0,
    secret,
    tokenTtlSeconds: 60,
    connectConcurrency: users,
    usersPerSourceAddress: 0,
  };
}

async function started(t: ExecutionContext, kind: GeneratorKind, opts: SimulatorOptions): Promise<ClientGenerator> {
  const sim = createGenerator(kind, opts);
  t.teardown(() =>
    sim.stop(0).then(
      () => undefined,
      () => undefined,
    ),
  );
  await sim.start();
  return sim;
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

type OpenHandler = (ws: WebSocket, user: number, requestId: number, packetId: number) => void;

/** A `ws` server that logs users in (closing with 4001 on a bad token), answers every shake Miss,
 *  and hands opens to `onOpen`. */
async function wsServer(t: ExecutionContext, onOpen: OpenHandler = () => {}) {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', path: '/ws' });
  await new Promise((resolve) => wss.once('listening', resolve));
  const state = { connections: 0, pongs: [] as string[], users: new Map<number, WebSocket>(), opens: [] as Array<[number, number, number]> };
  wss.on('connection', (ws) => {
    state.connections++;
    ws.on('pong', (data) => state.pongs.push(data.toString()));
    ws.on('message', (data: Buffer) => {
      const frame = decodeClientFrame(new Uint8Array(data));
      if (!('type' in frame)) return;
      if (frame.type === ClientType.Login) {
        const check = verifyToken(SECRET, frame.token);
        if (!check.ok || check.userId !== frame.userId) return ws.close(4001, 'auth');
        state.users.set(frame.userId, ws);
        ws.send(encodeLoginOk(frame.requestId, frame.userId, Date.now()));
      } else if (frame.type === ClientType.Shake) {
        ws.send(encodeResult(ServerType.ShakeResult, frame.requestId, 0, 0, 0));
      } else if (frame.type === ClientType.Open) {
        const user = [...state.users].find(([, w]) => w === ws)?.[0] ?? 0;
        state.opens.push([Date.now(), user, frame.packetId]);
        onOpen(ws, user, frame.requestId, frame.packetId);
      }
    });
  });
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        for (const ws of wss.clients) ws.terminate();
        wss.close(() => resolve());
      }),
  );
  return { port: (wss.address() as AddressInfo).port, state };
}

/** Minimal server-side RFC 6455 for the hand-written server: masked client frames of < 126 bytes. */
function takeClientFrames(buf: Buffer, out: Uint8Array[]): Buffer {
  let at = 0;
  while (buf.length - at >= 6) {
    const len = buf[at + 1] & 0x7f;
    if (buf.length - at < 6 + len) break;
    const mask = buf.subarray(at + 2, at + 6);
    const payload = new Uint8Array(len);
    for (let i = 0; i < len; i++) payload[i] = buf[at + 6 + i] ^ mask[i & 3];
    if ((buf[at] & 0x0f) === 0x2) out.push(payload);
    at += 6 + len;
  }
  return buf.subarray(at);
}

function serverFrame(payload: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([0x82, payload.length]), Buffer.from(payload)]);
}

/** Write `bytes` in pieces of `piece` bytes, `gapMs` apart, so the client reads them separately. */
function dribble(socket: net.Socket, bytes: Buffer, piece: number, gapMs: number): Promise<void> {
  return new Promise((resolve) => {
    let at = 0;
    const next = () => {
      if (socket.destroyed || at >= bytes.length) return resolve();
      socket.write(bytes.subarray(at, at + piece));
      at += piece;
      setTimeout(next, gapMs);
    };
    next();
  });
}

for (const kind of GENERATORS) {
  test(`${kind}: server pings are answered with pongs carrying their payload`, async (t) => {
    const server = await wsServer(t);
    const sim = await started(t, kind, options(server.port, 5));
    t.true(await until(() => sim.connected === 5, 3000), 'five users logged in');
    for (const [user, ws] of server.state.users) ws.ping(Buffer.from(`ping-${user}`));
    t.true(await until(() => server.state.pongs.length === 5, 3000), `five pongs came back (${server.state.pongs.length})`);
    t.deepEqual([...server.state.pongs].sort(), ['ping-1', 'ping-2', 'ping-3', 'ping-4', 'ping-5'], 'each with its ping payload');
    const tally = await sim.stop(200);
    t.is(tally.counters.disconnects, 0, 'nobody was dropped');
  });

  test(`${kind}: a refused login (4001) is never retried`, async (t) => {
    const server = await wsServer(t);
    const sim = await started(t, kind, options(server.port, 4, 'not-the-server-secret'));
    t.true(await until(() => server.state.connections === 4, 3000), 'four attempts');
    await new Promise((r) => setTimeout(r, 1200)); // longer than the first back-off (at most 250 ms)
    t.is(server.state.connections, 4, 'and no second attempt');
    const tally = await sim.stop(0);
    t.is(tally.counters.connects, 0, 'nobody logged in');
    t.is(tally.counters.connectFailures, 4, 'four failures counted');
  });

  test(`${kind}: a server close is answered, counted and followed by a reconnect`, async (t) => {
    const server = await wsServer(t);
    const sim = await started(t, kind, options(server.port, 3));
    t.true(await until(() => sim.connected === 3, 3000), 'three users logged in');
    const closed = new Promise<number>((resolve) => server.state.users.get(2)?.once('close', (code) => resolve(code)));
    server.state.users.get(2)?.close(4004, 'replaced');
    t.is(await closed, 4004, 'the close handshake completed (the client answered the close frame)');
    t.true(await until(() => server.state.connections === 4 && sim.connected === 3, 3000), 'user 2 came back');
    const tally = await sim.stop(200);
    t.is(tally.counters.disconnects, 1, 'one disconnect');
    t.is(tally.counters.connects, 4, 'three logins and one re-login');
  });

  test(`${kind}: answers cut into pieces by TCP are read whole`, async (t) => {
    const sockets = new Set<net.Socket>();
    let shakes = 0;
    const server = net.createServer((socket) => {
      sockets.add(socket);
      socket.setNoDelay(true);
      socket.on('error', () => {});
      let buf: Buffer = Buffer.alloc(0);
      let upgraded = false;
      socket.on('data', (chunk) => {
        buf = Buffer.concat([buf, chunk]);
        if (!upgraded) {
          const end = buf.indexOf('\r\n\r\n');
          if (end < 0) return;
          const key = /sec-websocket-key:\s*(\S+)/i.exec(buf.subarray(0, end).toString())?.[1] ?? '';
          const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
          buf = buf.subarray(end + 4);
          upgraded = true;
          void dribble(
            socket,
            Buffer.from(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`),
            40,
            5,
          );
        }
        const frames: Uint8Array[] = [];
        buf = takeClientFrames(buf, frames);
        for (const payload of frames) {
          const frame = decodeClientFrame(payload);
          if (!('type' in frame)) continue;
          if (frame.type === ClientType.Login) void dribble(socket, serverFrame(encodeLoginOk(frame.requestId, frame.userId, Date.now())), 3, 5);
          if (frame.type === ClientType.Shake) {
            shakes++;
            // two answers back to back, cut across their boundary
            const two = Buffer.concat([
              serverFrame(encodeResult(ServerType.ShakeResult, frame.requestId, 0, 0, 0)),
              serverFrame(encodeResult(ServerType.ShakeResult, 7, 0, 0, 0)),
            ]);
            void dribble(socket, two, 11, 5);
          }
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.teardown(() => {
      for (const s of sockets) s.destroy();
      server.close();
    });
    const sim = await started(t, kind, options((server.address() as AddressInfo).port, 4));
    t.true(await until(() => sim.connected === 4, 5000), 'four users logged in through a dribbled upgrade answer and LoginOk');
    const start = Math.floor(Date.now() / 1000) + 1;
    sim.setQps(8, start);
    sim.setQps(0, start + 1);
    await new Promise((r) => setTimeout(r, (start + 1) * 1000 - Date.now() + 300));
    const tally = await sim.stop(2000);
    t.is(tally.counters.sent, 8, 'eight shakes sent');
    t.is(shakes, 8, 'the server read eight');
    t.is(tally.counters.misses, 16, 'every answer read, the unasked ones too');
    t.is(tally.counters.unmatched, 8, 'the eight unasked answers matched nothing');
    t.is(tally.latency.count, 8, 'one latency per shake');
    t.is(tally.counters.errors + tally.counters.disconnects, 0, 'no protocol error');
  });

  test(`${kind}: an open answered Overloaded is sent again 500 ms later`, async (t) => {
    const answered = new Set<number>();
    const server = await wsServer(t, (ws, user, requestId, packetId) => {
      const first = !answered.has(user);
      answered.add(user);
      ws.send(encodeResult(ServerType.OpenResult, requestId, first ? CommonStatus.Overloaded : 0, packetId, first ? 0 : 100 + user));
    });
    const sim = await started(t, kind, options(server.port, 3));
    t.true(await until(() => sim.connected === 3, 3000), 'three users logged in');
    for (const ws of server.state.users.values()) ws.send(encodePacketNotify(77, 9, 3, 306, Date.now() + 60_000));
    t.true(await until(() => server.state.opens.length === 6, 3000), `each recipient opened twice (${server.state.opens.length})`);
    for (const user of [1, 2, 3]) {
      const times = server.state.opens.filter(([, u]) => u === user).map(([at]) => at);
      t.true(times[1] - times[0] >= 450, `user ${user}: the retry came ${times[1] - times[0]} ms after the first open`);
    }
    const tally = await sim.stop(1000);
    t.is(tally.counters.overloaded, 3, 'three Overloaded answers counted');
    t.deepEqual(tally.group.received, { count: 3, cents: 101 + 102 + 103 }, 'and the three shares received');
  });

  test(`${kind}: an open whose connection drops is sent again after the reconnect`, async (t) => {
    let dropped = false;
    const server = await wsServer(t, (ws, user, requestId, packetId) => {
      if (!dropped) {
        dropped = true;
        ws.terminate(); // the first open is never answered
        return;
      }
      ws.send(encodeResult(ServerType.OpenResult, requestId, 0, packetId, 250 + user));
    });
    const sim = await started(t, kind, options(server.port, 2));
    t.true(await until(() => sim.connected === 2, 3000), 'two users logged in');
    server.state.users.get(2)?.send(encodePacketNotify(88, 1, 1, 252, Date.now() + 60_000));
    t.true(await until(() => server.state.opens.length === 2 && sim.connected === 2, 4000), 'user 2 reconnected and opened again');
    const tally = await sim.stop(1000);
    t.deepEqual(tally.group.shares, [[88, 2, 252]], 'the share of the re-sent open is tallied');
    t.is(tally.counters.lost, 1, 'the unanswered first open counted lost');
    t.is(tally.counters.disconnects, 1, 'one disconnect');
  });
}
