// The simulator's own WebSocket clients and open-loop senders — both generators: the TypeScript
// Simulator and the native one (Rust worker processes under the coordinator) — against an
// independent WebSocket implementation (the `ws` package) playing a tiny hongbao server: logins,
// shakes (every 7th user of a second hits), one group packet notified to three users, opens.
import test, { type ExecutionContext } from 'ava';
import { WebSocketServer, type WebSocket } from 'ws';
import type { AddressInfo } from 'node:net';
import { decodeClientFrame, encodeLoginOk, encodePacketNotify, encodeResult, encodeError } from '../src/protocol/codec.ts';
import { ClientType, ServerType, ErrorCode } from '../src/protocol/codes.ts';
import { verifyToken } from '../src/auth/token.ts';
import { createGenerator, GENERATORS, type ClientGenerator, type GeneratorKind } from '../src/simulator/generator.ts';
import type { SimulatorOptions } from '../src/simulator/simulator.ts';
import { slotsInSecond } from '../src/simulator/schedule.ts';
import type { ClientSecondCounters } from '../src/monitor/push.ts';

const SECRET = 'test-secret-0123456789abcdef';

interface Fake {
  port: number;
  shakesBySecond: Map<number, number>;
  hits: Array<[number, number]>;
  opens: Array<[number, number, number]>;
  sockets: Map<number, WebSocket>;
  close(): Promise<void>;
}

async function fakeServer(): Promise<Fake> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', path: '/ws' });
  await new Promise((resolve) => wss.once('listening', resolve));
  const fake: Fake = {
    port: (wss.address() as AddressInfo).port,
    shakesBySecond: new Map(),
    hits: [],
    opens: [],
    sockets: new Map(),
    close: () =>
      new Promise((resolve) => {
        for (const ws of wss.clients) ws.terminate();
        wss.close(() => resolve());
      }),
  };
  let nextPacket = 1;
  wss.on('connection', (ws) => {
    let user = 0;
    ws.on('message', (data: Buffer) => {
      const frame = decodeClientFrame(new Uint8Array(data));
      if (!('type' in frame)) return ws.send(encodeError(frame.requestId, frame.code, frame.offendingType));
      if (frame.type === ClientType.Login) {
        const check = verifyToken(SECRET, frame.token);
        if (!check.ok || check.userId !== frame.userId) return ws.close(4001, 'auth');
        user = frame.userId;
        fake.sockets.set(user, ws);
        return ws.send(encodeLoginOk(frame.requestId, user, Date.now()));
      }
      if (frame.type === ClientType.Shake) {
        const second = Math.floor(Date.now() / 1000);
        fake.shakesBySecond.set(second, (fake.shakesBySecond.get(second) ?? 0) + 1);
        if (user % 7 === 0) {
          const id = nextPacket++;
          fake.hits.push([id, 100 + (id % 50)]);
          return ws.send(encodeResult(ServerType.ShakeResult, frame.requestId, 1, id, 100 + (id % 50)));
        }
        return ws.send(encodeResult(ServerType.ShakeResult, frame.requestId, 0, 0, 0));
      }
      if (frame.type === ClientType.Open) {
        const cents = 10 + user;
        fake.opens.push([frame.packetId, user, cents]);
        return ws.send(encodeResult(ServerType.OpenResult, frame.requestId, 0, frame.packetId, cents));
      }
      ws.send(encodeError(frame.requestId, ErrorCode.UnknownType, frame.type));
    });
  });
  return fake;
}

/** A started generator of `kind`, stopped (workers and all) when the test ends, also on failure. */
async function generator(t: ExecutionContext, kind: GeneratorKind, opts: SimulatorOptions, tickMicros = 0): Promise<ClientGenerator> {
  const sim = createGenerator(kind, opts, { usersPerWorker: kind === 'native' ? 100 : undefined, tickMicros });
  t.teardown(() =>
    sim.stop(0).then(
      () => undefined,
      () => undefined,
    ),
  );
  await sim.start();
  return sim;
}

function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  return new Promise((resolve) => {
    const poll = () => (cond() ? resolve(true) : Date.now() > deadline ? resolve(false) : setTimeout(poll, 10));
    poll();
  });
}

const shakesOnScheduleAndTallies = test.macro(async (t, kind: GeneratorKind, tickMicros: number) => {
  const fake = await fakeServer();
  t.teardown(() => fake.close());
  const seconds: Array<[number, ClientSecondCounters]> = [];
  const sim = await generator(
    t,
    kind,
    {
      id: 'test',
      target: { host: '127.0.0.1', port: fake.port, path: '/ws', timeoutMs: 5000 },
      from: 1,
      to: 150,
      total: 150,
      qps: 0,
      secret: SECRET,
      tokenTtlSeconds: 60,
      connectConcurrency: 50,
      usersPerSourceAddress: 0,
      onSecond: (s, c) => seconds.push([s, c]),
    },
    tickMicros,
  );
  t.true(await waitFor(() => sim.connected === 150, 5000), `all 150 users logged in (got ${sim.connected})`);

  const start = Math.floor(Date.now() / 1000) + 1;
  t.deepEqual(sim.setQps(400, start).scheduled, { qps: 400, at: start }, 'the rate is planned from the next second');
  t.deepEqual(
    sim.setQps(0, start + 2),
    {
      qps: 0,
      pending: [
        { qps: 400, at: start },
        { qps: 0, at: start + 2 },
      ],
      scheduled: { qps: 0, at: start + 2 },
    },
    'and the stop two seconds later',
  );
  t.true(await waitFor(() => Date.now() >= (start + 2) * 1000 + 200, 6000), 'two full seconds passed');

  // a group packet for users 3, 4 and 5
  for (const u of [3, 4, 5]) fake.sockets.get(u)?.send(encodePacketNotify(9001, 1, 3, 300, Date.now() + 60_000));
  t.true(await waitFor(() => fake.opens.length === 3, 3000), 'each recipient opened once');

  const tally = await sim.stop(2000);
  const arrived = [start, start + 1, start + 2].map((s) => fake.shakesBySecond.get(s) ?? 0);
  t.is(arrived[0] + arrived[1] + arrived[2], 800, `the server received 800 shakes (${arrived})`);
  for (const n of arrived.slice(0, 2)) t.true(Math.abs(n - 400) <= 40, `about 400 arrived in each second (${arrived})`);
  const expectedHits = fake.hits.reduce((sum, [, c]) => sum + c, 0);
  t.is(tally.counters.sent, 800, 'sent 800 shakes');
  t.is(tally.counters.hits, fake.hits.length, 'hits tallied');
  t.is(tally.counters.hitCents, expectedHits, 'hit cents tallied to the cent');
  t.is(tally.counters.misses + tally.counters.hits, 800, 'every shake answered');
  t.is(tally.latency.count, 800, 'one latency per shake');
  t.true(tally.latency.p99Ms < 1000, `p99 ${tally.latency.p99Ms} ms is sane`);
  t.deepEqual(tally.group.received, { count: 3, cents: 13 + 14 + 15 }, 'three shares tallied in count and cents');
  t.deepEqual(tally.group.notified, [[9001, 300, 3]], 'the notified packet is listed once');
  t.is(tally.counters.dropped, 0, 'nothing dropped');
  const expectedUsers = new Set([...slotsInSecond(start, 400, 150, 1, 150)].map((s) => s.user));
  t.is(expectedUsers.size, 150, 'with 400 qps over 150 users every user shook');
  for (const second of [start, start + 1]) {
    const pushed = seconds.find(([s]) => s === second);
    t.is(pushed?.[1].sent, 400, `the counters pushed for second ${second} say exactly 400 sent`);
    t.is(pushed?.[1].targetQps, 400, 'and its target');
  }
  t.is(seconds.find(([s]) => s === start + 2)?.[1].sent, 0, 'nothing after the rate went to 0');
});

for (const kind of GENERATORS) {
  test(`${kind}: simulated users log in, shake on schedule, open notified packets and tally every cent`, shakesOnScheduleAndTallies, kind, 0);

  test(`${kind}: a dropped connection reconnects with back-off and shakes again`, async (t) => {
    const fake = await fakeServer();
    t.teardown(() => fake.close());
    const sim = await generator(t, kind, {
      id: 'reconnect',
      target: { host: '127.0.0.1', port: fake.port, path: '/ws', timeoutMs: 5000 },
      from: 1,
      to: 10,
      total: 10,
      qps: 0,
      secret: SECRET,
      tokenTtlSeconds: 60,
      connectConcurrency: 10,
      usersPerSourceAddress: 0,
    });
    t.true(await waitFor(() => sim.connected === 10, 3000), 'connected');
    fake.sockets.get(4)?.terminate();
    t.true(await waitFor(() => sim.connected === 9, 2000), 'the drop is seen');
    t.true(await waitFor(() => sim.connected === 10, 3000), 'user 4 is back');
    const tally = await sim.stop(500);
    t.is(tally.counters.disconnects, 1, 'one disconnect counted');
    t.is(tally.counters.connects, 11, 'ten logins and one re-login');
  });

  test(`${kind}: connections spread over 127.1.x.y source addresses when asked`, async (t) => {
    const fake = await fakeServer();
    t.teardown(() => fake.close());
    const peers = new Set<string>();
    const sim = await generator(t, kind, {
      id: 'spread',
      target: { host: '127.0.0.1', port: fake.port, path: '/ws', timeoutMs: 5000 },
      from: 1,
      to: 12,
      total: 12,
      qps: 0,
      secret: SECRET,
      tokenTtlSeconds: 60,
      connectConcurrency: 12,
      usersPerSourceAddress: 4,
    });
    t.true(await waitFor(() => sim.connected === 12, 3000), 'connected');
    for (const ws of fake.sockets.values()) peers.add((ws as unknown as { _socket: { remoteAddress: string } })._socket.remoteAddress);
    await sim.stop(200);
    t.deepEqual([...peers].sort(), ['127.1.0.1', '127.1.0.2', '127.1.0.3'], 'three source addresses, four users each');
  });
}

test(
  'native with 1 ms worker ticks: simulated users log in, shake on schedule, open notified packets and tally every cent',
  shakesOnScheduleAndTallies,
  'native',
  1000,
);
