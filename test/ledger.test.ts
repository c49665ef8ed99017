// The durable ledger: real SQLite files in temporary directories, the real writer thread.
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import test from 'ava';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { createEngine } from '../src/engine/index.ts';
import { deepStrictEqual } from 'node:assert/strict';
import { SplitMode, type FlowTotals } from '../src/engine/types.ts';
import { checkLedger, formatReport } from '../src/ledger/check.ts';
import { main as ledgerCli } from '../src/ledger/cli.ts';
import { openLedger } from '../src/ledger/sqlite-ledger.ts';
import { LedgerDivergenceError, LedgerUnavailableError, type LedgerBatch } from '../src/ledger/types.ts';
import { AT, drive, group, hits, opens, refunds, release, supplyStart, tempDb, u32, type Command } from './helpers/ledger.ts';
import { present } from './helpers/present.ts';

async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await ledgerCli(argv, {
    stdout: (s) => {
      stdout += s;
    },
    stderr: (s) => {
      stderr += s;
    },
  });
  return { code, stdout, stderr };
}

test('committed batches survive close and reopen', async (t) => {
  const path = tempDb(t);
  let ledger = await openLedger(path);
  await ledger.commit(supplyStart(10));
  await ledger.commit(release([1, 2, 3], [10, 20, 30]));
  await ledger.commit(hits([[5, 2, 20]]));
  await ledger.commit({ creates: [group(1, 100, [1, 2, 3])] });
  await ledger.commit(opens([[2, 1, 40]]));
  await ledger.close();

  ledger = await openLedger(path);
  t.teardown(() => ledger.close());
  const snap = (await ledger.loadSnapshot()).engine;
  t.deepEqual(snap.shake.unpaidIds, [1, 3], 'packets 1 and 3 are still unwon after the restart');
  t.is(snap.shake.paidCents, 20, 'the hit on packet 2 survived');
  t.deepEqual(snap.groups[0]?.opened, [{ user: 2, cents: 40 }], 'the open survived');
  t.is(snap.supply?.released, 3, 'the supply remembers 3 released');
  await ledger.commit(hits([[6, 3, 30]]));
  t.is((await ledger.loadSnapshot()).engine.shake.paidCount, 2, 'the reopened ledger keeps committing');
});

test('concurrent batches are group-committed into fewer transactions', async (t) => {
  const ledger = await openLedger(tempDb(t));
  t.teardown(() => ledger.close());
  await ledger.commit(supplyStart(1000));
  const before = ledger.health();
  const n = 300;
  await Promise.all(Array.from({ length: n }, (_, i) => ledger.commit(release([i + 1], [1 + (i % 50)]))));
  const after = ledger.health();
  t.is(after.batches - before.batches, n, 'every batch is committed');
  t.true(after.commits - before.commits < n, `${n} batches took ${after.commits - before.commits} transactions: some were merged`);
  t.true(after.healthy, 'the ledger is healthy');
  t.is((await ledger.loadSnapshot()).engine.shake.createdCount, n, 'all released packets are in the database');
});

test('a batch copies its arrays: the caller may reuse them as soon as commit returns', async (t) => {
  const ledger = await openLedger(tempDb(t));
  t.teardown(() => ledger.close());
  await ledger.commit(supplyStart(10));
  const ids = u32([1, 2, 99, 99]);
  const cents = u32([5, 6, 99, 99]);
  const done = ledger.commit({ release: { count: 2, ids, cents, at: AT } });
  ids.fill(0);
  cents.fill(0);
  await done;
  const snap = (await ledger.loadSnapshot()).engine;
  t.deepEqual(snap.shake.unpaidIds, [1, 2], 'only [0, count) is committed, with the values at commit time');
  t.deepEqual(snap.shake.unpaidCents, [5, 6], 'cents as they were when commit was called');
});

test('a double win in one batch is refused and nothing of that batch is applied', async (t) => {
  const ledger = await openLedger(tempDb(t));
  t.teardown(() => ledger.close());
  await ledger.commit(supplyStart(10));
  const bad = ledger.commit({
    ...release([1, 2], [10, 20]),
    ...hits([
      [5, 1, 10],
      [6, 1, 10],
    ]),
  });
  const good = ledger.commit(release([3], [30])); // same group commit, innocent
  const err = await t.throwsAsync(bad, { instanceOf: LedgerDivergenceError }, 'the double win is a divergence');
  t.regex(err?.message ?? '', /shake packet 1 won twice: by user 5 and by user 6/, 'the error names the packet and both winners');
  await t.notThrowsAsync(good, 'the other batch of the same transaction commits');
  const snap = (await ledger.loadSnapshot()).engine;
  t.deepEqual(snap.shake.unpaidIds, [3], 'neither the release nor the first hit of the refused batch was applied');
  t.is(snap.supply?.released, 1, 'the supply counts only the committed release');
  t.is(ledger.health().divergences, 1, 'health counts the divergence');
});

test('a double open in one batch is refused and nothing of that batch is applied', async (t) => {
  const ledger = await openLedger(tempDb(t));
  t.teardown(() => ledger.close());
  await ledger.commit({ creates: [group(1, 100, [1, 2, 3])] });
  const bad = ledger.commit({
    creates: [group(2, 50, [4, 5])],
    ...opens([
      [1, 1, 30],
      [1, 1, 30],
    ]),
  });
  const err = await t.throwsAsync(bad, { instanceOf: LedgerDivergenceError }, 'the second payment is refused');
  t.regex(err?.message ?? '', /user 1 paid twice for group packet 1/, 'the error names user and packet');
  const snap = (await ledger.loadSnapshot()).engine;
  t.is(snap.groups.length, 1, 'the packet created in the refused batch is not there');
  t.deepEqual(snap.groups[0].opened, [], 'the first open of the refused batch is not there either');
});

test('opens that break a packet are refused with the reason', async (t) => {
  const ledger = await openLedger(tempDb(t));
  t.teardown(() => ledger.close());
  await ledger.commit({ creates: [group(1, 100, [1, 2, 3], { shareCount: 2 }), group(2, 10, [1, 2])] });
  const cases: Array<[LedgerBatch, RegExp, string]> = [
    [opens([[9, 1, 10]]), /user 9 is not a recipient of group packet 1/, 'a non-recipient'],
    [opens([[1, 1, 100]]), /leaves 0 cents for 1 shares/, 'a share that leaves nothing for the last share'],
    [
      opens([
        [1, 2, 3],
        [2, 2, 6],
      ]),
      /leaves 1 cents for 0 shares/,
      'a last share that does not take exactly the rest',
    ],
    [
      opens([[1, 1, 0]]),
      /a share of 0 cents to user 1 from group packet 1 \(every share is at least 1 cent\) \(SQLITE_CONSTRAINT_CHECK\)/,
      'a share of 0 cents',
    ],
  ];
  for (const [batch, reason, what] of cases) {
    const err = await t.throwsAsync(ledger.commit(batch), { instanceOf: LedgerDivergenceError }, `${what} is refused`);
    t.regex(err?.message ?? '', reason, `${what}: the error says why`);
  }
  await ledger.commit(
    opens([
      [1, 1, 60],
      [3, 1, 40],
    ]),
  );
  const err = await t.throwsAsync(ledger.commit(opens([[2, 1, 1]])), { instanceOf: LedgerDivergenceError }, 'an open after the last share');
  t.regex(err?.message ?? '', /after all 2 shares were paid/, 'the error says the packet is used up');
  t.true(checkLedger(ledger.path).ok, 'after all the refusals the ledger still balances');
});

test('a refund is taken once and must match what is unopened', async (t) => {
  const ledger = await openLedger(tempDb(t));
  t.teardown(() => ledger.close());
  await ledger.commit({ creates: [group(1, 100, [1, 2, 3], { sender: 7 })], ...opens([[1, 1, 30]]) });
  await t.throwsAsync(
    ledger.commit(refunds([[1, 8, 70, 2]])),
    { instanceOf: LedgerDivergenceError, message: /sent by 7, its refund goes to 8/ },
    'a refund to someone else',
  );
  await t.throwsAsync(
    ledger.commit(refunds([[1, 7, 71, 2]])),
    { instanceOf: LedgerDivergenceError, message: /does not match 70 cents \/ 2 shares/ },
    'a refund of the wrong amount',
  );
  await ledger.commit(refunds([[1, 7, 70, 2]]));
  await t.throwsAsync(ledger.commit(refunds([[1, 7, 70, 2]])), { instanceOf: LedgerDivergenceError, message: /refunded twice/ }, 'a second refund');
  await t.throwsAsync(ledger.commit(opens([[2, 1, 10]])), { instanceOf: LedgerDivergenceError, message: /after its refund/ }, 'an open after the refund');
  const g = (await ledger.loadSnapshot()).engine.groups[0];
  t.true(g.expired, 'the packet is expired');
  t.is(g.refundedCents, 70, 'the remainder was refunded once');
});

test('a hit that reaches the writer before its release waits for it', async (t) => {
  const ledger = await openLedger(tempDb(t));
  t.teardown(() => ledger.close());
  // As when a worker thread wins a packet the supply thread has released but not yet handed over.
  const hit = ledger.commit(hits([[5, 1, 10]]));
  const open = ledger.commit(opens([[2, 1, 25]]));
  const refund = ledger.commit(refunds([[1, 7, 75, 2]]));
  await ledger.commit(supplyStart(5));
  await ledger.commit({ ...release([1], [10]), creates: [group(1, 100, [1, 2, 3])] });
  await t.notThrowsAsync(Promise.all([hit, open, refund]), 'the early batches commit once what they name exists');
  t.true(checkLedger(ledger.path).ok, 'the ledger balances');
  t.is(ledger.health().waiting, 0, 'nothing is left waiting');
});

test('a hit on a packet that is never released is refused after the wait', async (t) => {
  const ledger = await openLedger(tempDb(t), { dependencyWaitMs: 50 });
  t.teardown(() => ledger.close());
  await ledger.commit(supplyStart(5));
  const started = Date.now();
  const err = await t.throwsAsync(ledger.commit(hits([[5, 42, 10]])), { instanceOf: LedgerDivergenceError }, 'the hit is refused');
  t.regex(err?.message ?? '', /shake packet 42 won by user 5 was never released/, 'the error names the packet');
  t.true(Date.now() - started >= 45, 'it waited for the release first');
  t.is(ledger.health().divergences, 1, 'health counts it');
});

test('a hit waiting for a release the full disk refused is refused as Unavailable, not counted as a divergence', async (t) => {
  const ledger = await openLedger(tempDb(t), { dependencyWaitMs: 100 });
  t.teardown(() => ledger.close());
  await ledger.commit(supplyStart(1000));
  await ledger.setMaxPageCount(1);
  const ids = Array.from({ length: 800 }, (_, i) => i + 1);
  await t.throwsAsync(
    ledger.commit(
      release(
        ids,
        ids.map(() => 10),
      ),
    ),
    { instanceOf: LedgerUnavailableError },
    'the release does not fit',
  );
  // Another thread's engine had already paid one of those packets: its hit arrives after the failure.
  const err = await t.throwsAsync(ledger.commit(hits([[5, 7, 10]])), { instanceOf: LedgerUnavailableError }, 'the hit is refused as Unavailable');
  t.regex(err?.message ?? '', /shake packet 7 won by user 5 was never released.*after a failed commit/, 'saying why');
  t.is(ledger.health().divergences, 0, 'no divergence is counted: engine and ledger did not disagree, the disk failed');
  await ledger.setMaxPageCount(1_000_000);
});

test('barrier resolves after every batch submitted before it is committed', async (t) => {
  const ledger = await openLedger(tempDb(t));
  t.teardown(() => ledger.close());
  await ledger.commit(supplyStart(100));
  let settled = 0;
  const commits = Array.from({ length: 20 }, (_, i) => ledger.commit(release([i + 1], [1])).then(() => void settled++));
  await ledger.barrier();
  t.is(settled, 20, 'every earlier commit had settled when the barrier resolved');
  await Promise.all(commits);
});

test('a port handed to another worker thread commits through the same writer', async (t) => {
  const ledger = await openLedger(tempDb(t));
  t.teardown(() => ledger.close());
  const port = ledger.createPort();
  const ids = Array.from({ length: 40 }, (_, i) => 2 * i + 2); // the worker takes even ids, this thread odd ones
  // Node 20 does not load a .ts worker entry from execArgv: load it through tsx's API, as the ledger does.
  const entry = new URL('./helpers/ledger-port-worker.ts', import.meta.url).href;
  const boot = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((api) => api.tsImport(${JSON.stringify(entry)}, ${JSON.stringify(import.meta.url)}))`;
  const worker = new Worker(boot, { eval: true, workerData: { port, ids }, transferList: [port] });
  const fromWorker = new Promise<{ rejected: string[]; health: { batches: number } }>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  await Promise.all(ids.map((id) => ledger.commit({ creates: [group(id - 1, 300, [1, 2, 3])] })));
  const result = await fromWorker;
  t.deepEqual(result.rejected, [], 'no commit of the worker thread was refused');
  t.true(result.health.batches >= 40, 'the worker thread reads the shared health counters');
  const snap = (await ledger.loadSnapshot()).engine;
  t.deepEqual(
    snap.groups.map((g) => g.id),
    Array.from({ length: 80 }, (_, i) => i + 1),
    'packets from both threads are in the one database',
  );
  t.is(snap.groups[1].sender, 102, 'the worker thread wrote packet 2');
});

test('a database that fills up (max_page_count) refuses with LedgerUnavailableError and recovers', async (t) => {
  const ledger = await openLedger(tempDb(t));
  t.teardown(() => ledger.close());
  await ledger.commit({ creates: [group(1, 100, [1, 2])] });
  await ledger.setMaxPageCount(1); // SQLite keeps it at the current size: no page may be added
  const big: LedgerBatch = {
    creates: Array.from({ length: 300 }, (_, i) =>
      group(
        i + 2,
        1000,
        Array.from({ length: 50 }, (_, k) => k + 1),
      ),
    ),
  };
  const err = await t.throwsAsync(ledger.commit(big), { instanceOf: LedgerUnavailableError }, 'the commit is refused');
  t.regex(err?.message ?? '', /SQLITE_FULL/, 'the error names the cause');
  const sick = ledger.health();
  t.false(sick.healthy, 'the ledger reports itself unhealthy');
  t.regex(sick.lastError ?? '', /SQLITE_FULL/, 'health says why');
  t.is((await ledger.loadSnapshot()).engine.groups.length, 1, 'nothing of the refused batch was written');

  await ledger.setMaxPageCount(1_000_000);
  await t.notThrowsAsync(ledger.commit(big), 'the same batch commits once there is room');
  t.true(ledger.health().healthy, 'healthy again');
  t.is(ledger.health().lastError, null, 'no error left');
  t.is((await ledger.loadSnapshot()).engine.groups.length, 301, 'the batch is there once, not twice');
});

// A real full disk: a small tmpfs (needs root and mount; skipped with the reason when unavailable).
function mountTmpfs(): { dir: string | null; why: string } {
  const dir = mkdtempSync(join(tmpdir(), 'hongbao-tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', dir], { stdio: 'pipe' });
    return { dir, why: '' };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    return { dir: null, why: String((err as Error).message).split('\n')[0] };
  }
}
const tmpfs = mountTmpfs();
test.after.always(() => {
  if (!tmpfs.dir) return;
  execFileSync('umount', [tmpfs.dir]);
  rmSync(tmpfs.dir, { recursive: true, force: true });
});

(tmpfs.dir ? test.serial : test.skip)(
  `a full disk (tmpfs) refuses with LedgerUnavailableError and the ledger recovers when space returns${tmpfs.dir ? '' : ` [skipped: ${tmpfs.why}]`}`,
  async (t) => {
    const dir = present(tmpfs.dir, 'the tmpfs mount');
    const path = join(dir, 'ledger.db');
    const ledger = await openLedger(path);
    t.teardown(() => ledger.close());
    await ledger.commit({ creates: [group(1, 100, [1, 2])] });
    // Fill the file system to the last byte.
    const filler = join(dir, 'filler');
    const fd = openSync(filler, 'w');
    const chunk = Buffer.alloc(64 * 1024, 1);
    try {
      for (;;) writeSync(fd, chunk);
    } catch (err) {
      t.is((err as NodeJS.ErrnoException).code, 'ENOSPC', 'the filler stopped because the disk is full');
    }
    closeSync(fd);
    t.true(statSync(filler).size > 0, 'the filler took the space');
    const big: LedgerBatch = {
      creates: Array.from({ length: 400 }, (_, i) =>
        group(
          i + 2,
          1000,
          Array.from({ length: 40 }, (_, k) => k + 1),
        ),
      ),
    };
    const err = await t.throwsAsync(ledger.commit(big), { instanceOf: LedgerUnavailableError }, 'the commit is refused');
    t.regex(err?.message ?? '', /SQLITE_FULL|SQLITE_IOERR/, 'the error names the cause');
    t.false(ledger.health().healthy, 'unhealthy while the disk is full');
    t.regex(ledger.health().lastError ?? '', /SQLITE_FULL|SQLITE_IOERR/, 'health says why');

    unlinkSync(filler);
    await t.notThrowsAsync(ledger.commit(big), 'the same batch commits once space is back');
    t.true(ledger.health().healthy, 'healthy again');
    await ledger.close();
    const report = checkLedger(path);
    t.true(report.ok, `the recovered ledger balances: ${report.differences.join('; ')}`);
    t.is(report.groupPackets, 401, 'the refused attempt left nothing behind, the retry everything');
  },
);

test('snapshot round trip: history in, engine snapshot and covers out', async (t) => {
  const ledger = await openLedger(tempDb(t));
  t.teardown(() => ledger.close());
  await ledger.commit({ supplyStart: { total: 50, ratePerSecond: 20, rule: { kind: 'list', values: [88, 188] }, at: AT } });
  await ledger.commit(release([1, 2, 3, 4], [88, 188, 88, 88]));
  await ledger.commit(
    hits([
      [10, 2, 188],
      [11, 4, 88],
    ]),
  );
  await ledger.commit({
    creates: [
      group(1, 100, [1, 2, 3], { sender: 9, cover: { title: '新年快乐', colour: 0xff2200, story: 'from grandma' } }),
      group(2, 60, [4, 5, 6, 7], { sender: 8, shareCount: 3, splitMode: SplitMode.LineSegment, expiresAt: AT + 1000 }),
      group(3, 10, [1], { sender: 9 }),
    ],
  });
  await ledger.commit(
    opens([
      [3, 1, 50],
      [1, 1, 20],
      [6, 2, 5],
    ]),
  );
  await ledger.commit(opens([[2, 1, 30]]));
  await ledger.commit(refunds([[2, 8, 55, 2]]));
  await ledger.commit({ supplyStop: { at: AT + 5 } });

  const { engine: s, covers } = await ledger.loadSnapshot();
  t.is(s.nextShakeId, 5, 'next shake id follows the largest released');
  t.is(s.nextGroupId, 4, 'next group id follows the largest created');
  t.deepEqual(s.supply, { total: 50, ratePerSecond: 20, released: 4, rule: { kind: 'list', values: [88, 188] }, active: false }, 'supply state, stopped');
  t.deepEqual(
    s.shake,
    { createdCount: 4, createdCents: 452, paidCount: 2, paidCents: 276, unpaidIds: [1, 3], unpaidCents: [88, 88] },
    'shake counters and the unwon packets in release order',
  );
  t.deepEqual(
    s.groups[0],
    {
      id: 1,
      sender: 9,
      totalCents: 100,
      shareCount: 3,
      splitMode: SplitMode.DoubleMean,
      recipients: [1, 2, 3],
      expiresAt: 4_102_444_800_000,
      opened: [
        { user: 3, cents: 50 },
        { user: 1, cents: 20 },
        { user: 2, cents: 30 },
      ],
      expired: false,
      refundedCents: 0,
    },
    'a fully opened packet with its shares in opening order',
  );
  t.like(
    s.groups[1],
    {
      id: 2,
      splitMode: SplitMode.LineSegment,
      recipients: [4, 5, 6, 7],
      expiresAt: AT + 1000,
      opened: [{ user: 6, cents: 5 }],
      expired: true,
      refundedCents: 55,
    },
    'an expired, refunded packet',
  );
  t.like(s.groups[2], { id: 3, opened: [], expired: false, refundedCents: 0 }, 'an unopened packet');
  t.deepEqual([...covers.entries()], [[1, { title: '新年快乐', colour: 0xff2200, story: 'from grandma' }]], 'covers of the packets that have one');
});

test.serial('the snapshot restores an engine to the totals it had', async (t) => {
  const engine = await createEngine({ seed: 3, shards: 4 });
  const ledger = await openLedger(tempDb(t));
  t.teardown(() => ledger.close());
  const cmds: Command[] = [
    { k: 'start', total: 30, min: 1, max: 300 },
    { k: 'release', n: 12 },
    { k: 'shake', users: [1, 2, 3, 4, 5, 6, 7, 8] },
    { k: 'create', sender: 3, total: 500, shares: 3, recipients: [1, 2, 3, 4], cover: true },
    { k: 'create', sender: 4, total: 90, shares: 2, recipients: [5, 6], cover: false },
    {
      k: 'open',
      picks: [
        [0, 0],
        [1, 0],
        [0, 1],
      ],
    },
    { k: 'expire', picks: [1] },
  ];
  for (const cmd of cmds) {
    const batch = await drive(engine, cmd, SplitMode.DoubleMean, AT);
    if (batch) await ledger.commit(batch);
  }
  const expected = await engine.totals();
  await engine.reset({ seed: 3, shards: 4 });
  await engine.snapshotRestore((await ledger.loadSnapshot()).engine);
  t.deepEqual(await engine.totals(), expected, 'the restored engine has the same totals');
  t.deepEqual(
    await engine.supplyState(),
    { total: 30, ratePerSecond: 10, released: 12, rule: { kind: 'range', min: 1, max: 300 }, active: true },
    'and the same supply',
  );
});

test('ledger check passes on a consistent database and prints table and JSON', async (t) => {
  const path = tempDb(t);
  const ledger = await openLedger(path);
  await ledger.commit({ ...supplyStart(10), ...release([1, 2], [5, 7]) });
  await ledger.commit({ ...hits([[3, 1, 5]]), creates: [group(1, 100, [1, 2]), group(2, 9, [1, 2, 3])] });
  await ledger.commit({
    ...opens([
      [1, 1, 61],
      [2, 1, 39],
      [3, 2, 4],
    ]),
    ...refunds([]),
  });
  await ledger.commit(refunds([[2, 7, 5, 2]]));
  await ledger.close();
  const r = await cli(['check', '--db', path]);
  t.is(r.code, 0, `exit 0 when balanced (stderr: ${r.stderr})`);
  const json = JSON.parse(r.stdout);
  t.true(json.ok, 'JSON says ok');
  t.deepEqual(json.group.created, { count: 5, cents: 109 }, 'group created: shares and cents');
  t.deepEqual(json.group.paid, { count: 3, cents: 104 }, 'group paid');
  t.deepEqual(json.group.refunded, { count: 2, cents: 5 }, 'group refunded');
  t.deepEqual(json.shake.remaining, { count: 1, cents: 7 }, 'shake remaining');
  t.regex(r.stderr, /group\s+5 \/ 109\s+3 \/ 104\s+0 \/ 0\s+2 \/ 5\s+yes/, 'the table shows the group flow');
});

test('ledger check fails naming the difference after a raw UPDATE', async (t) => {
  const path = tempDb(t);
  const ledger = await openLedger(path);
  await ledger.commit({ creates: [group(1, 100, [1, 2]), group(2, 50, [1, 2])] });
  await ledger.commit(
    opens([
      [1, 1, 61],
      [2, 1, 39],
      [1, 2, 10],
    ]),
  );
  await ledger.close();
  const raw = new Database(path);
  raw.prepare('UPDATE opens SET cents = cents + 1 WHERE packet_id = 1 AND user = 2').run(); // one cent out of thin air
  raw.close();

  const r = await cli(['check', '--db', path]);
  t.is(r.code, 1, 'exit 1 on a difference');
  const json = JSON.parse(r.stdout);
  t.false(json.ok, 'JSON says not ok');
  t.true(
    json.differences.some((d: string) => /group packet 1: opens table pays 2 shares \/ 101 cents, the packet counts 2 \/ 100/.test(d)),
    `the counter mismatch is named: ${json.differences}`,
  );
  t.true(
    json.differences.some((d: string) => /group packet 1: paid and refunded 2 shares \/ 101 cents of 2 \/ 100/.test(d)),
    'the overpaid packet is named',
  );
  t.true(
    json.differences.some((d: string) => /group flow, cents: 150 created != 111 paid \+ 40 remaining \+ 0 refunded/.test(d)),
    'the flow imbalance is named',
  );
  t.false(
    json.differences.some((d: string) => /group packet 2/.test(d)),
    'the untouched packet is not blamed',
  );
  t.regex(r.stderr, /group .* NO/, 'the table marks the flow unbalanced');
  t.regex(r.stderr, /difference\(s\):/, 'stderr lists the differences');
});

test('ledger check finds a refund that does not match and a supply released past its total', async (t) => {
  const path = tempDb(t);
  const ledger = await openLedger(path);
  await ledger.commit({ ...supplyStart(3), ...release([1, 2], [5, 7]), creates: [group(1, 100, [1, 2, 3])] });
  await ledger.commit({ ...hits([[9, 1, 5]]), ...opens([[1, 1, 40]]) });
  await ledger.commit(refunds([[1, 7, 60, 2]]));
  await ledger.close();
  const raw = new Database(path);
  raw.pragma('ignore_check_constraints = ON'); // the schema would refuse the second write
  raw.prepare('UPDATE refunds SET cents = 59').run();
  raw.prepare('UPDATE supply_events SET total = 1').run();
  raw.close();
  const report = checkLedger(path);
  t.false(report.ok, 'not balanced');
  t.true(
    report.differences.some((d) => /refunds table returns 2 shares \/ 59 cents, the packet counts 2 \/ 60/.test(d)),
    `refund mismatch named: ${report.differences}`,
  );
  t.true(
    report.differences.some((d) => /expired with 0 shares \/ 1 cents neither paid nor refunded/.test(d)),
    'the lost cent is named',
  );
  t.true(
    report.differences.some((d) => /supply 1: released 2 packets, more than its total 1/.test(d)),
    'the over-released supply is named',
  );
  t.regex(formatReport(report), /difference\(s\)/, 'the table lists them');
});

test('ledger cli: --help, missing flags and missing files', async (t) => {
  t.is((await cli(['--help'])).code, 0, '--help exits 0');
  t.regex((await cli(['check', '--help'])).stdout, /usage: hongbao ledger check --db FILE/, 'check --help prints the usage');
  t.is((await cli(['check'])).code, 2, 'no --db is a usage error');
  t.is((await cli(['frobnicate'])).code, 2, 'an unknown subcommand is a usage error');
  const r = await cli(['check', '--db', join(tmpdir(), 'no-such-ledger.db')]);
  t.is(r.code, 2, 'a missing file is exit 2');
  t.regex(r.stderr, /no such file/, 'and says so');
});

test('opening a ledger where no file can be created fails with LedgerUnavailableError', async (t) => {
  await t.throwsAsync(openLedger('/nonexistent-dir/ledger.db'), { instanceOf: LedgerUnavailableError, message: /cannot open ledger/ }, 'the open is refused');
});

test('a closed ledger refuses commits', async (t) => {
  const ledger = await openLedger(tempDb(t));
  await ledger.close();
  await t.throwsAsync(ledger.commit(supplyStart(1)), { instanceOf: LedgerUnavailableError }, 'commit after close');
  t.false(ledger.health().healthy, 'health says it is gone');
});

// ---- property: whatever the engine does, the ledger's books balance and match the engine's totals

const command: fc.Arbitrary<Command> = fc.oneof(
  fc.record({
    k: fc.constant('start' as const),
    total: fc.integer({ min: 0, max: 40 }),
    min: fc.integer({ min: 1, max: 50 }),
    max: fc.integer({ min: 50, max: 300 }),
  }),
  fc.constant({ k: 'stop' as const }),
  fc.record({ k: fc.constant('release' as const), n: fc.integer({ min: 0, max: 15 }) }),
  fc.record({ k: fc.constant('shake' as const), users: fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 20 }) }),
  fc.record({
    k: fc.constant('create' as const),
    sender: fc.integer({ min: 1, max: 12 }),
    total: fc.integer({ min: 1, max: 2000 }),
    shares: fc.integer({ min: 1, max: 6 }),
    recipients: fc.uniqueArray(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 8 }),
    cover: fc.boolean(),
  }),
  fc.record({ k: fc.constant('open' as const), picks: fc.array(fc.tuple(fc.nat(20), fc.nat(20)), { minLength: 1, maxLength: 12 }) }),
  fc.record({ k: fc.constant('expire' as const), picks: fc.array(fc.nat(20), { minLength: 1, maxLength: 3 }) }),
);

function flowOf(f: FlowTotals): FlowTotals {
  return { created: f.created, paid: f.paid, remaining: f.remaining, refunded: f.refunded };
}

test.serial('random sequences of engine batches, committed concurrently, keep the ledger balanced and equal to the engine', async (t) => {
  const engine = await createEngine({ seed: 5, shards: 4 });
  let run = 0;
  // Inside the property, failures throw (node:assert) so that fast-check can shrink them.
  const property = fc.assert(
    fc.asyncProperty(
      fc.array(command, { minLength: 1, maxLength: 40 }),
      fc.integer({ min: 1, max: 8 }),
      fc.constantFrom(SplitMode.DoubleMean, SplitMode.LineSegment),
      async (cmds, inFlight, mode) => {
        await engine.reset({ seed: 5 + run, shards: 4, splitMode: mode });
        const dir = mkdtempSync(join(tmpdir(), 'hongbao-ledger-prop-'));
        const path = join(dir, `run-${run++}.db`);
        const ledger = await openLedger(path);
        try {
          let pending: Array<Promise<void>> = [];
          let batches = 0;
          for (const cmd of cmds) {
            const batch = await drive(engine, cmd, mode, AT);
            if (!batch) continue;
            batches++;
            pending.push(ledger.commit(batch));
            if (pending.length >= inFlight) {
              await Promise.all(pending);
              pending = [];
            }
          }
          await Promise.all(pending);
          const health = ledger.health();
          if (health.batches !== batches || health.divergences !== 0) throw new Error(`health ${JSON.stringify(health)} for ${batches} batches`);
          const report = checkLedger(path);
          if (!report.ok) throw new Error(`ledger check failed: ${report.differences.join('; ')}`);
          const totals = await engine.totals();
          deepStrictEqual(flowOf(report.shake), flowOf(totals.shake), 'shake flow: ledger and engine agree');
          deepStrictEqual(flowOf(report.group), flowOf(totals.group), 'group flow: ledger and engine agree');
          deepStrictEqual(report.groupPackets, totals.groupPackets, 'group packet count agrees');
          const snap = (await ledger.loadSnapshot()).engine;
          await engine.reset({ seed: 99, shards: 3, splitMode: mode });
          await engine.snapshotRestore(snap);
          deepStrictEqual(await engine.totals(), totals, 'an engine restored from the snapshot has the same totals');
          return report.shake.balanced && report.group.balanced;
        } finally {
          await ledger.close();
          rmSync(dir, { recursive: true, force: true });
        }
      },
    ),
    { numRuns: 25 },
  );
  await t.notThrowsAsync(property, 'every random history balances, matches the engine and restores it');
});
