// Disk trouble: the ledger on a small disk that fills up (a filler file until ENOSPC), then frees up;
// then a disk that goes read-only under the live server. While the disk refuses writes the server
// acknowledges no money move (answers Unavailable, /health 503), says why in its log, and it recovers
// by itself when the disk does. Every move told before, during and after is in the ledger, nothing
// else is, and the ledger balances.
// As root the disk is a real 16 MiB ext4 on a loop device, mounted errors=remount-ro: the read-only
// phase is the kernel's own (an ext4 error makes the filesystem read-only under the open database;
// the server must then let go of the file so that the disk can be unmounted, checked with e2fsck and
// mounted again, and pick it up again by itself). Without loop devices a tmpfs stands in (Linux does
// not remount it read-only under open files: PRAGMA query_only stands in for that phase); without
// mount rights the ledger's own switches stand in for both: setMaxPageCount for a full disk,
// setReadOnly for a read-only one. The test log says which ran (HONGBAO_TEST_NO_MOUNT=1 forces the
// switches, HONGBAO_TEST_NO_LOOP=1 the tmpfs).
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { mintToken } from '../src/auth/token.ts';
import { OpenStatus, ShakeStatus } from '../src/engine/types.ts';
import { encodeCreate, encodeOpen, encodeShake, type ServerFrame } from '../src/protocol/codec.ts';
import { CommonStatus, ServerType } from '../src/protocol/codes.ts';
import { parseFlags } from '../src/server/flags.ts';
import { startServer as startInProcess, type RunningServer } from '../src/server/server.ts';
import {
  detachLoop,
  failFilesystem,
  fill,
  isReadOnly,
  mountLoopExt4,
  mountTmpfs,
  remount,
  repairLoopExt4,
  unfill,
  unmount,
  type Outcome,
} from '../scripts/reliability/disk.ts';
import { ServerProc } from '../src/process/server-proc.ts';
import { checkTold, Told } from '../scripts/reliability/told.ts';
import { tempDir, TestClient, type TestServer } from './helpers/server.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let mountedAt: string | null = null;
let loopDevice = '';

test.after.always(() => {
  if (mountedAt) unmount(mountedAt);
  if (loopDevice) detachLoop(loopDevice);
});

/** The disk under the ledger: ext4 on a loop device, else a tmpfs, else none (the ledger's switches). */
function mountDisk(root: string, disk: string): { kind: 'ext4' | 'tmpfs' | 'none'; why: string } {
  if (process.env.HONGBAO_TEST_NO_MOUNT) return { kind: 'none', why: 'HONGBAO_TEST_NO_MOUNT is set' };
  const loop = process.env.HONGBAO_TEST_NO_LOOP
    ? { ok: false, why: 'HONGBAO_TEST_NO_LOOP is set', device: '' }
    : mountLoopExt4(disk, path.join(root, 'disk.img'), 16 * 1024 * 1024);
  if (loop.ok) {
    loopDevice = loop.device;
    return { kind: 'ext4', why: '' };
  }
  const tmpfs = mountTmpfs(disk, 4 * 1024 * 1024);
  return tmpfs.ok ? { kind: 'tmpfs', why: `no loop ext4 (${loop.why})` } : { kind: 'none', why: `no loop ext4 (${loop.why}), no tmpfs (${tmpfs.why})` };
}

test.serial('a full disk, then a read-only disk: nothing acknowledged that is not committed, Unavailable meanwhile, recovery after', async (t) => {
  t.timeout(120_000);
  const root = tempDir('hongbao-disk-');
  const dataDir = path.join(root, 'data');
  const disk = path.join(root, 'disk');
  mkdirSync(disk);
  const { kind, why } = mountDisk(root, disk);
  const mounted = { ok: kind !== 'none' };
  if (mounted.ok) mountedAt = disk;
  t.log(
    kind === 'ext4'
      ? `ledger on a 16 MiB ext4 on ${loopDevice} (errors=remount-ro)`
      : kind === 'tmpfs'
        ? `ledger on a 4 MiB tmpfs: ${why}`
        : `${why}: full disk via setMaxPageCount, read-only via setReadOnly`,
  );
  const dbFile = path.join(disk, 'hongbao.db');
  const logs: string[] = [];
  let server: RunningServer | null = null;
  const told = new Told();
  try {
    server = await startInProcess(
      parseFlags([
        '--port',
        '0',
        '--admin-port',
        '0',
        '--host',
        '127.0.0.1',
        '--data',
        dataDir,
        '--db',
        dbFile,
        '--shards',
        '1',
        '--max-messages-per-second',
        '100000',
      ]),
      (m) => logs.push(m),
    );
    const s = server;
    const secret = readFileSync(path.join(dataDir, 'secret'), 'utf8').trim();
    const adminToken = readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim();
    const fake = { ws: `ws://127.0.0.1:${s.ready.port}/ws`, token: (u: number) => mintToken(secret, u, Date.now() / 1000 + 600) } as unknown as TestServer;
    const health = async () => (await fetch(`http://127.0.0.1:${s.ready.port}/health`)).status;
    const admin = (method: string, route: string, body?: unknown) =>
      fetch(`http://127.0.0.1:${s.ready.adminPort}${route}`, {
        method,
        headers: { authorization: `Bearer ${adminToken}` },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    const httpShake = (user: number) =>
      fetch(`http://127.0.0.1:${s.ready.port}/v1/shake`, { method: 'POST', headers: { authorization: `Bearer ${fake.token(user)}` } });
    let request = 1;
    const ask = (c: TestClient, bytes: (id: number) => Uint8Array): Promise<ServerFrame> => {
      const id = request++;
      c.send(bytes(id));
      return c.reply(id);
    };
    const shaker = await TestClient.login(fake, 1);
    /** Shake until `until` says stop (bounded); every hit told is recorded. */
    const shakeUntil = async (until: (f: ServerFrame) => boolean, tries: number): Promise<ServerFrame | null> => {
      for (let i = 0; i < tries; i++) {
        const f = await ask(shaker, encodeShake);
        if (f.type === ServerType.ShakeResult && f.status === ShakeStatus.Hit) told.hit(f.packetId, 1, f.cents);
        if (until(f)) return f;
        if (f.type === ServerType.ShakeResult && f.status === ShakeStatus.Miss) await sleep(5);
      }
      return null;
    };
    const isUnavailable = (f: ServerFrame) => f.type === ServerType.ShakeResult && f.status === CommonStatus.Unavailable;
    const isHit = (f: ServerFrame) => f.type === ServerType.ShakeResult && f.status === ShakeStatus.Hit;
    const waitHealthy = async () => {
      for (let i = 0; i < 150 && (await health()) !== 200; i++) await sleep(100);
      return health();
    };

    t.is(
      (await admin('POST', '/admin/supply', { total: 1_000_000, ratePerSecond: 3000, rule: { kind: 'list', values: [7, 11] } })).status,
      200,
      'supply started',
    );
    t.truthy(await shakeUntil(isHit, 400), 'shakes hit while the disk has room');
    const sender = await TestClient.login(fake, 2);
    const r3 = await TestClient.login(fake, 3);
    const r4 = await TestClient.login(fake, 4);
    const created = await ask(sender, (id) => encodeCreate(id, 1000, 2, [3, 4]));
    t.like(created, { type: ServerType.CreateResult, status: 0 }, 'a packet is created');
    const packetId = (created as { packetId: number }).packetId;
    told.packet(packetId, 1000, 2);
    const open3 = await ask(r3, (id) => encodeOpen(id, packetId));
    t.like(open3, { status: OpenStatus.Ok }, 'user 3 opens a share');
    told.share(packetId, 3, (open3 as { cents: number }).cents);

    // ---- full
    if (mounted.ok) t.log(`filler wrote ${Math.round(fill(disk) / 1024)} KiB until ENOSPC`);
    else await s.ledger.setMaxPageCount(1);
    // The failed commit gives back what it had taken of the disk, and the server's recovery probe (a
    // small write, once a second) could find that room and reopen before the asks below: take it
    // too, give a probe already under way time to end, and fill up again if it reopened meanwhile.
    let full: ServerFrame | null = null;
    for (let round = 1; round <= 5; round++) {
      full = await shakeUntil(isUnavailable, 20_000);
      if (mounted.ok) fill(disk);
      await sleep(1500);
      if (full === null || (await health()) !== 200) break;
      t.log(`the server reopened before the disk was full again (round ${round}): once more`);
    }
    t.truthy(full, 'once the disk is full, shakes are answered Unavailable');
    t.like(await ask(r4, (id) => encodeOpen(id, packetId)), { status: CommonStatus.Unavailable }, 'an open is answered Unavailable');
    t.like(
      await ask(sender, (id) => encodeCreate(id, 50, 1, [3])),
      { type: ServerType.CreateResult, status: CommonStatus.Unavailable },
      'a create is answered Unavailable',
    );
    const http = await httpShake(9);
    t.is(http.status, 503, 'an HTTP shake is 503');
    t.deepEqual(await http.json(), { status: 'unavailable' }, 'with status "unavailable"');
    t.is((await admin('POST', '/admin/packets', { sender: 1, totalCents: 10, shareCount: 1, recipients: [3] })).status, 503, 'an admin create is 503');
    t.is(await health(), 503, '/health is 503');
    const fullLog = logs.find((l) => /ledger cannot commit/.test(l)) ?? '';
    t.regex(fullLog, /SQLITE_FULL|full/i, `the log says why: ${fullLog}`);

    if (mounted.ok) unfill(disk);
    else await s.ledger.setMaxPageCount(1_000_000_000);
    t.is(await waitHealthy(), 200, 'healthy again once the disk has room');
    t.true(
      logs.some((l) => /engine rebuilt from the ledger/.test(l)),
      'the rebuild is logged',
    );
    t.truthy(await shakeUntil(isHit, 2000), 'shakes hit again');
    t.like(
      await ask(r3, (id) => encodeOpen(id, packetId)),
      { status: OpenStatus.Repeat, cents: (open3 as { cents: number }).cents },
      'the share told before is still there',
    );
    const open4 = await ask(r4, (id) => encodeOpen(id, packetId));
    t.like(open4, { status: OpenStatus.Ok }, 'user 4 opens the other share now');
    told.share(packetId, 4, (open4 as { cents: number }).cents);

    // ---- read-only
    let ro: Outcome = { ok: false, why: 'no mounted disk' };
    if (kind === 'ext4') {
      ro = failFilesystem(loopDevice);
      t.true(ro.ok, `an ext4 error is triggered (${ro.why})`);
      t.true(isReadOnly(disk), 'the kernel made the filesystem read-only under the live server');
    } else if (kind === 'tmpfs') {
      ro = remount(disk, 'ro');
    }
    if (!ro.ok) {
      t.log(
        kind === 'tmpfs'
          ? `remount read-only refused (${ro.why}): Linux does not remount under open writers; PRAGMA query_only stands in`
          : 'no tmpfs: PRAGMA query_only stands in for a read-only disk',
      );
      await s.ledger.setReadOnly(true);
    }
    const logsBefore = logs.length;
    t.truthy(await shakeUntil(isUnavailable, 20_000), 'on a read-only disk shakes are answered Unavailable');
    t.is(await health(), 503, '/health is 503 again');
    const roLog = logs.slice(logsBefore).find((l) => /ledger cannot commit/.test(l)) ?? '';
    t.regex(roLog, /READONLY|read-?only|IOERR/i, `the log says why: ${roLog}`);
    if (kind === 'ext4') {
      const repaired = await repairLoopExt4(disk, loopDevice, 20_000);
      t.true(repaired.ok, `the server let go of the database file: unmounted after ${repaired.busyMs} ms, e2fsck, mounted again (${repaired.why})`);
      t.log(`read-only: ${roLog.slice(0, 160)}; unmounted ${repaired.busyMs} ms after, e2fsck, mounted again`);
    } else if (ro.ok) remount(disk, 'rw');
    else await s.ledger.setReadOnly(false);
    t.is(await waitHealthy(), 200, 'healthy again once the disk takes writes');
    t.truthy(await shakeUntil(isHit, 2000), 'shakes hit again');
    t.is(s.ledger.health().divergences, 0, 'no failed commit was mistaken for an engine/ledger divergence');
    for (const c of [shaker, sender, r3, r4]) c.close();
    await admin('DELETE', '/admin/supply');
  } finally {
    await server?.shutdown();
  }

  // ---- read-only at start-up (now nothing holds the files open, so the kernel allows it)
  if (mounted.ok && remount(disk, 'ro').ok) {
    const failed = await ServerProc.start({ dataDir, host: '127.0.0.1', args: ['--db', dbFile] }).then(
      (p) => p.stop().then(() => null),
      (err: Error) => err.message,
    );
    t.truthy(failed, 'a server on a read-only disk does not start');
    t.regex(failed ?? '', /exited with 1 before it was ready/, 'it exits 1');
    t.regex(
      failed ?? '',
      /hongbao server: cannot open ledger .*read-only filesystem/,
      `with one line saying why: ${failed?.split('\n').find((l) => l.includes('ledger'))}`,
    );
    remount(disk, 'rw');
  }

  const report = checkTold(dbFile, told, { exact: true });
  t.deepEqual(report.differences, [], 'the ledger holds exactly the moves that were told');
  t.true(report.check.ok, 'created = paid + remaining + refunded');
  t.is(report.centsLost, 0, 'no cent lost');
  if (mounted.ok) {
    t.true(unmount(disk).ok, 'the disk is unmounted');
    mountedAt = null;
  }
  if (loopDevice) {
    detachLoop(loopDevice);
    loopDevice = '';
  }
});
