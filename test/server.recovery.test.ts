// When the ledger cannot commit (a full disk), the server answers Unavailable and moves nothing more;
// once the disk has room again it rebuilds the engine from the ledger: every acknowledged move is
// still there, nothing unacknowledged is, and nothing is paid twice. In-process, to reach the ledger.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { mintToken } from '../src/auth/token.ts';
import { OpenStatus, ShakeStatus } from '../src/engine/types.ts';
import { encodeCreate, encodeOpen, encodeShake, type ServerFrame } from '../src/protocol/codec.ts';
import { CommonStatus, ServerType } from '../src/protocol/codes.ts';
import { parseFlags } from '../src/server/flags.ts';
import { startServer as startInProcess, type RunningServer } from '../src/server/server.ts';
import { tempDir, TestClient, type TestServer } from './helpers/server.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test.serial('a full disk: Unavailable, no move acknowledged, then a rebuild from the ledger and money moves again', async (t) => {
  const dataDir = tempDir();
  const flags = parseFlags(['--port', '0', '--admin-port', '0', '--data', dataDir, '--shards', '1']);
  const logs: string[] = [];
  const server: RunningServer = await startInProcess(flags, (m) => logs.push(m));
  // What TestClient.login needs of a server: its WebSocket URL and user tokens.
  const fake = {
    ws: `ws://127.0.0.1:${server.ready.port}/ws`,
    token: (u: number) => mintToken(readToken(dataDir, 'secret'), u, Date.now() / 1000 + 600),
  } as unknown as TestServer;
  const health = async () => (await fetch(`http://127.0.0.1:${server.ready.port}/health`)).status;
  let request = 1;
  const ask = (c: TestClient, bytes: (id: number) => Uint8Array): Promise<ServerFrame> => {
    const id = request++;
    c.send(bytes(id));
    return c.reply(id);
  };
  try {
    const admin = (route: string, body: unknown) =>
      fetch(`http://127.0.0.1:${server.ready.adminPort}${route}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${readToken(dataDir, 'admin-token')}` },
        body: JSON.stringify(body),
      });
    t.is((await admin('/admin/supply', { total: 100_000, ratePerSecond: 2000, rule: { kind: 'list', values: [7] } })).status, 200, 'supply started');
    const shaker = await TestClient.login(fake, 1);
    const sender = await TestClient.login(fake, 2);
    const r1 = await TestClient.login(fake, 3);
    const r2 = await TestClient.login(fake, 4);
    const created = await ask(sender, (id) => encodeCreate(id, 100, 2, [3, 4]));
    const packetId = (created as { packetId: number }).packetId;
    const first = await ask(r1, (id) => encodeOpen(id, packetId));
    t.like(first, { status: OpenStatus.Ok }, 'an open before the disk fills');
    const share1 = (first as { cents: number }).cents;

    let told = 0;
    let unavailable = false;
    for (let i = 0; i < 30 && told === 0; i++) {
      const f = await ask(shaker, encodeShake);
      if (f.type === ServerType.ShakeResult && f.status === ShakeStatus.Hit) told++;
      else await sleep(100);
    }
    t.true(told > 0, 'shakes hit while the disk has room');

    await server.ledger.setMaxPageCount(1); // no page may be added any more
    for (let i = 0; i < 400 && !unavailable; i++) {
      const f = await ask(shaker, encodeShake);
      if (f.type !== ServerType.ShakeResult) continue;
      if (f.status === ShakeStatus.Hit) told++;
      else if (f.status === CommonStatus.Unavailable) unavailable = true;
      else await sleep(20);
    }
    t.true(unavailable, 'once the disk is full, shakes are answered Unavailable');
    t.like(await ask(r2, (id) => encodeOpen(id, packetId)), { status: CommonStatus.Unavailable }, 'an open is answered Unavailable');
    t.like(await ask(r1, (id) => encodeOpen(id, packetId)), { status: CommonStatus.Unavailable }, 'even a repeat open waits for the ledger');
    t.is(await health(), 503, 'GET /health says 503 while degraded');
    t.true(
      logs.some((l) => /ledger cannot commit/.test(l)),
      'the failure is logged',
    );

    await server.ledger.setMaxPageCount(1_000_000); // room again
    for (let i = 0; i < 100 && (await health()) !== 200; i++) await sleep(100);
    t.is(await health(), 200, 'the server is healthy again');
    t.is(logs.filter((l) => /ledger cannot commit/.test(l)).length, 1, 'logged once per state change, not per failure');
    t.true(
      logs.some((l) => /engine rebuilt from the ledger/.test(l)),
      'the rebuild is logged',
    );

    t.like(
      await ask(r1, (id) => encodeOpen(id, packetId)),
      { status: OpenStatus.Repeat, cents: share1 },
      'the share acknowledged before the failure is still there',
    );
    const second = await ask(r2, (id) => encodeOpen(id, packetId));
    t.like(second, { status: OpenStatus.Ok }, 'the other recipient can open now');
    t.is(share1 + (second as { cents: number }).cents, 100, 'the shares still add up to the total');

    await sleep(300);
    const snapshot = await server.ledger.loadSnapshot();
    t.is(snapshot.engine.shake.paidCount, told, 'the ledger holds exactly the hits that were told, no more');
    const stats = await (
      await fetch(`http://127.0.0.1:${server.ready.adminPort}/stats`, { headers: { authorization: `Bearer ${readToken(dataDir, 'admin-token')}` } })
    ).json();
    t.is(stats.totals.shake.paid.count, told, 'the rebuilt engine agrees with the ledger');
    const f = stats.totals.shake;
    t.is(f.created.cents, f.paid.cents + f.remaining.cents + f.refunded.cents, 'created = paid + remaining + refunded');
    for (const c of [shaker, sender, r1, r2]) c.close();
  } finally {
    await server.shutdown();
  }
});

function readToken(dir: string, name: string): string {
  return readFileSync(path.join(dir, name), 'utf8').trim();
}
