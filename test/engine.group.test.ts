// Group packets of the engine selected by HONGBAO_ENGINE: create checks, opens, repeats, expiry and
// refunds, details, restore and misuse.
import test from 'ava';
import { CreateStatus, EngineInputError, OpenStatus, SplitMode, type Engine } from '../src/engine/index.ts';
import { assertIdentity, batchOf, create, engineUnderTest, expire, NEVER, observable, open } from './helpers/engine.ts';

let engine: Engine;
const OPTIONS = { seed: 11, shards: 4 };

test.before(async () => {
  engine = await engineUnderTest(OPTIONS);
});

test.beforeEach(async () => {
  await engine.reset(OPTIONS);
});

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

test.serial('create gives ids from 1 in order and none to failed items', async (t) => {
  const r = await create(engine, [
    { total: 100, shares: 2, recipients: [1, 2] },
    { total: 1, shares: 2, recipients: [1, 2] },
    { total: 300, shares: 3, recipients: [4, 5, 6] },
  ]);
  t.deepEqual(r.status, [CreateStatus.Ok, CreateStatus.TotalBelowShares, CreateStatus.Ok], 'the middle item fails');
  t.deepEqual(r.ids, [1, 0, 2], 'ids count Ok items only');
  const totals = await engine.totals();
  t.is(totals.groupPackets, 2, 'two packets created');
  t.deepEqual(totals.group.created, { count: 5, cents: 400 }, 'created counts shares and cents of Ok items');
  assertIdentity(t, totals);
});

test.serial('create checks recipients, then share count, then total, then total below shares', async (t) => {
  const many = Array.from({ length: 1001 }, (_, i) => i);
  const r = await create(engine, [
    { total: 0, shares: 0, recipients: [] }, // every check fails: recipients first
    { total: 0, shares: 2, recipients: [1, 1] }, // duplicate recipient
    { total: 10, shares: 1, recipients: many }, // more than MAX_RECIPIENTS
    { total: 0, shares: 0, recipients: [1, 2] }, // share count 0 before total 0
    { total: 10, shares: 3, recipients: [1, 2] }, // more shares than recipients
    { total: 5000, shares: 1001, recipients: many }, // above MAX_SHARES (and MAX_RECIPIENTS)
    { total: 0, shares: 2, recipients: [1, 2] }, // total 0
    { total: 100_000_001, shares: 2, recipients: [1, 2] }, // above MAX_PACKET_CENTS
    { total: 2, shares: 3, recipients: [1, 2, 3] }, // total below shares
    { total: 100_000_000, shares: 1000, recipients: many.slice(0, 1000) }, // the largest valid packet
    { total: 3, shares: 3, recipients: [1, 2, 3] }, // one cent each
  ]);
  t.deepEqual(
    r.status,
    [
      CreateStatus.BadRecipients,
      CreateStatus.BadRecipients,
      CreateStatus.BadRecipients,
      CreateStatus.BadShareCount,
      CreateStatus.BadShareCount,
      CreateStatus.BadRecipients,
      CreateStatus.BadTotal,
      CreateStatus.BadTotal,
      CreateStatus.TotalBelowShares,
      CreateStatus.Ok,
      CreateStatus.Ok,
    ],
    'first failing check wins',
  );
  t.deepEqual(r.ids.slice(9), [1, 2], 'the valid items get ids 1 and 2');
});

test.serial('second open returns the same share', async (t) => {
  const { ids } = await create(engine, [{ total: 1000, shares: 3, recipients: [10, 20, 30] }]);
  const first = await open(engine, [[10, ids[0]]]);
  t.is(first.status[0], OpenStatus.Ok, 'first open takes a share');
  t.true(first.cents[0] >= 1, 'the share is at least one cent');
  const before = await engine.totals();
  const again = await open(engine, [
    [10, ids[0]],
    [10, ids[0]],
  ]);
  t.deepEqual(again.status, [OpenStatus.Repeat, OpenStatus.Repeat], 'later opens are repeats');
  t.deepEqual(again.cents, [first.cents[0], first.cents[0]], 'a repeat returns the same cents');
  t.deepEqual(await engine.totals(), before, 'a repeat moves no money');
});

test.serial('opens in one batch: unknown packet, not a recipient, repeat, empty', async (t) => {
  const { ids } = await create(engine, [{ total: 10, shares: 2, recipients: [1, 2, 3] }]);
  const id = ids[0];
  const r = await open(engine, [
    [1, 999],
    [9, id],
    [1, id],
    [1, id],
    [2, id],
    [3, id],
  ]);
  t.deepEqual(
    r.status,
    [OpenStatus.UnknownPacket, OpenStatus.NotRecipient, OpenStatus.Ok, OpenStatus.Repeat, OpenStatus.Ok, OpenStatus.Empty],
    'each outcome in order within one batch',
  );
  t.is(r.cents[0] + r.cents[1] + r.cents[5], 0, 'no cents for unknown, non-recipient and empty');
  t.is(r.cents[2] + r.cents[4], 10, 'the two shares add up to the total');
  t.is(r.cents[3], r.cents[2], 'the repeat in the same batch returns the first share');
});

test.serial('shares add up to the total, each at least one cent, in both split modes', async (t) => {
  for (const splitMode of [SplitMode.DoubleMean, SplitMode.LineSegment]) {
    await engine.reset({ ...OPTIONS, splitMode });
    const recipients = Array.from({ length: 50 }, (_, i) => 100 + i);
    const specs = [
      { total: 100_000_000, shares: 50, recipients },
      { total: 50, shares: 50, recipients },
      { total: 51, shares: 50, recipients },
      { total: 7, shares: 1, recipients: [5] },
    ];
    const { ids } = await create(engine, specs);
    for (const [k, id] of ids.entries()) {
      const r = await open(
        engine,
        specs[k].recipients.map((u) => [u, id] as [number, number]),
      );
      const paid = r.cents.filter((_, i) => r.status[i] === OpenStatus.Ok);
      t.is(paid.length, specs[k].shares, `mode ${splitMode} packet ${id}: one Ok per share`);
      t.is(sum(paid), specs[k].total, `mode ${splitMode} packet ${id}: shares add up to the total`);
      t.true(
        paid.every((c) => c >= 1),
        `mode ${splitMode} packet ${id}: every share >= 1 cent`,
      );
      const d = await engine.details(id);
      t.is(d?.splitMode, splitMode, `mode ${splitMode} packet ${id}: details report the split mode`);
    }
    assertIdentity(t, await engine.totals(), `mode ${splitMode}: `);
  }
});

test.serial('a double-mean share stays within [1, min(2B/r, B-(r-1))]', async (t) => {
  const recipients = Array.from({ length: 10 }, (_, i) => i + 1);
  const specs = Array.from({ length: 40 }, () => ({ total: 1000, shares: 10, recipients }));
  const { ids } = await create(engine, specs);
  for (const id of ids) {
    await open(
      engine,
      recipients.map((u) => [u, id] as [number, number]),
    );
    const d = await engine.details(id);
    let b = 1000;
    let r = 10;
    for (const s of d?.opened ?? []) {
      const hi = r === 1 ? b : Math.min(Math.floor((2 * b) / r), b - (r - 1));
      t.true(s.cents >= (r === 1 ? b : 1) && s.cents <= hi, `packet ${id} position ${s.order}: ${s.cents} in [1, ${hi}]`);
      b -= s.cents;
      r -= 1;
    }
    t.is(b, 0, `packet ${id}: the last share took the rest`);
  }
});

test.serial('open at or after expiresAt is Expired, but a repeat still returns the share', async (t) => {
  const { ids } = await create(engine, [{ total: 500, shares: 3, recipients: [1, 2, 3], expiresAt: 10_000 }]);
  const first = await open(engine, [[1, ids[0]]], 9_999);
  t.is(first.status[0], OpenStatus.Ok, 'open just before expiry succeeds');
  const late = await open(
    engine,
    [
      [2, ids[0]],
      [1, ids[0]],
    ],
    10_000,
  );
  t.deepEqual(late.status, [OpenStatus.Expired, OpenStatus.Repeat], 'at expiresAt: a new open expires, a repeat still repeats');
  t.deepEqual(late.cents, [0, first.cents[0]], 'the repeat keeps its cents');
  const refunds = await expire(engine, 10_000);
  t.deepEqual(refunds, [{ packetId: ids[0], sender: 1, cents: 500 - first.cents[0], shares: 2 }], 'the remainder is refunded');
  const after = await open(
    engine,
    [
      [3, ids[0]],
      [1, ids[0]],
    ],
    0,
  );
  t.deepEqual(after.status, [OpenStatus.Expired, OpenStatus.Repeat], 'once expired, even an early clock cannot open it');
});

test.serial('expire refunds each remainder once, in ascending id order', async (t) => {
  const { ids } = await create(engine, [
    { sender: 7, total: 300, shares: 3, recipients: [1, 2, 3], expiresAt: 3_000 },
    { sender: 8, total: 200, shares: 2, recipients: [1, 2], expiresAt: 1_000 },
    { sender: 9, total: 100, shares: 1, recipients: [1], expiresAt: 2_000 },
    { sender: 6, total: 50, shares: 1, recipients: [1], expiresAt: 9_000 },
  ]);
  const opened = await open(
    engine,
    [
      [1, ids[0]],
      [1, ids[2]],
    ],
    0,
  );
  t.deepEqual(await expire(engine, 999), [], 'nothing is due before the earliest expiry');
  const refunds = await expire(engine, 3_000);
  t.deepEqual(
    refunds,
    [
      { packetId: ids[0], sender: 7, cents: 300 - opened.cents[0], shares: 2 },
      { packetId: ids[1], sender: 8, cents: 200, shares: 2 },
      { packetId: ids[2], sender: 9, cents: 0, shares: 0 },
    ],
    'due packets in ascending id order, a fully opened one refunds 0',
  );
  t.deepEqual(await expire(engine, 3_000), [], 'a second sweep refunds nothing again');
  const totals = await engine.totals();
  t.deepEqual(totals.group.refunded, { count: 4, cents: 500 - opened.cents[0] }, 'refunded counted once');
  t.deepEqual(totals.group.remaining, { count: 1, cents: 50 }, 'only the unexpired packet remains');
  assertIdentity(t, totals);
  const d = await engine.details(ids[1]);
  t.is(d?.expired, true, 'details mark the packet expired');
  t.is(d?.refundedCents, 200, 'details carry the refunded cents');
});

test.serial('force expires listed packets early and ignores unknown or expired ids', async (t) => {
  const { ids } = await create(engine, [
    { total: 30, shares: 3, recipients: [1, 2, 3] },
    { total: 40, shares: 2, recipients: [1, 2] },
    { total: 50, shares: 1, recipients: [1] },
  ]);
  const first = await expire(engine, 0, 16, [ids[2], 777, ids[0], ids[2]]);
  t.deepEqual(
    first.map((r) => r.packetId),
    [ids[0], ids[2]],
    'forced ids expire in ascending order, listed twice or not',
  );
  const second = await expire(engine, 0, 16, [ids[0], ids[1]]);
  t.deepEqual(
    second.map((r) => r.packetId),
    [ids[1]],
    'an already expired id is ignored',
  );
  t.deepEqual((await engine.totals()).group.refunded, { count: 6, cents: 120 }, 'all three refunded once');
});

test.serial('evict forgets expired packets due by then: their opens answer Expired, no details, no money moves', async (t) => {
  const { ids } = await create(engine, [
    { total: 30, shares: 3, recipients: [1, 2, 3], expiresAt: 100 },
    { total: 40, shares: 2, recipients: [1, 2], expiresAt: 200 },
    { total: 50, shares: 1, recipients: [1], expiresAt: 300 },
  ]);
  await open(
    engine,
    [
      [1, ids[0]],
      [1, ids[1]],
    ],
    50,
  );
  t.is(await engine.evict(1_000), 0, 'a live packet is never evicted, however old its expiry');
  await expire(engine, 250);
  const totals = await engine.totals();
  t.is(await engine.evict(99), 0, 'nothing expired by 99');
  t.is(await engine.evict(200), 2, 'the two expired packets due by 200');
  t.is(await engine.evict(200), 0, 'once');
  t.deepEqual(await engine.totals(), totals, 'eviction moves no money: the totals keep every cent');
  t.is(await engine.details(ids[0]), null, 'no details once evicted');
  t.deepEqual(
    (
      await open(
        engine,
        [
          [1, ids[0]],
          [2, ids[0]],
          [9, ids[1]],
        ],
        260,
      )
    ).status,
    [OpenStatus.Expired, OpenStatus.Expired, OpenStatus.Expired],
    'repeat, first open and stranger alike: Expired',
  );
  t.deepEqual(await expire(engine, 250, 16, [ids[0]]), [], 'forcing an evicted id does nothing');
  t.deepEqual(
    (
      await open(
        engine,
        [
          [1, ids[2]],
          [1, ids[2] + 1],
        ],
        260,
      )
    ).status,
    [OpenStatus.Ok, OpenStatus.UnknownPacket],
    'the live packet still opens; a never-made id is unknown',
  );
  await t.throwsAsync(async () => engine.evict(Number.NaN), { instanceOf: EngineInputError }, 'a NaN clock is misuse');
  assertIdentity(t, await engine.totals());
});

test.serial('an output too small leaves the rest unexpired for the next sweep', async (t) => {
  const specs = Array.from({ length: 5 }, (_, i) => ({ total: 10 + i, shares: 1, recipients: [1], expiresAt: 100 - i }));
  const { ids } = await create(engine, specs);
  const a = await expire(engine, 100, 2);
  t.deepEqual(
    a.map((r) => r.packetId),
    [ids[0], ids[1]],
    'the two lowest ids first, whatever their expiry time',
  );
  const mid = await engine.details(ids[4]);
  t.is(mid?.expired, false, 'a due packet that did not fit is still unexpired');
  t.deepEqual(
    (await expire(engine, 100, 2)).map((r) => r.packetId),
    [ids[2], ids[3]],
    'the next two',
  );
  t.deepEqual(
    (await expire(engine, 100, 2)).map((r) => r.packetId),
    [ids[4]],
    'the last one',
  );
  t.deepEqual(await expire(engine, 100, 0), [], 'an empty output takes nothing');
  assertIdentity(t, await engine.totals());
});

test.serial('details list opened shares in order and the first of the largest as best luck', async (t) => {
  const { ids } = await create(engine, [{ sender: 5, total: 1000, shares: 4, recipients: [11, 12, 13, 14], expiresAt: 12_345 }]);
  const id = ids[0];
  const empty = await engine.details(id);
  t.is(empty?.bestLuck, null, 'no best luck before any open');
  t.deepEqual(empty?.opened, [], 'no opened shares yet');
  const r = await open(engine, [
    [13, id],
    [11, id],
    [14, id],
  ]);
  const d = await engine.details(id);
  t.truthy(d, 'details exist for a created packet');
  if (!d) return;
  t.deepEqual(
    d.opened,
    [
      { user: 13, cents: r.cents[0], order: 0 },
      { user: 11, cents: r.cents[1], order: 1 },
      { user: 14, cents: r.cents[2], order: 2 },
    ],
    'opened shares in opening order',
  );
  const max = Math.max(...r.cents);
  t.is(d.bestLuck, [13, 11, 14][r.cents.indexOf(max)], 'best luck is the first opener of the largest share');
  t.is(d.sender, 5, 'sender');
  t.is(d.totalCents, 1000, 'total');
  t.is(d.shareCount, 4, 'share count');
  t.deepEqual(d.recipients, [11, 12, 13, 14], 'recipients in the given order');
  t.is(d.expiresAt, 12_345, 'expiry time');
  t.is(d.remainingShares, 1, 'one share left');
  t.is(d.remainingCents, 1000 - sum(r.cents), 'remaining cents');
  t.is(d.refundedCents, 0, 'nothing refunded');
  t.is(d.expired, false, 'not expired');
  t.is(await engine.details(999), null, 'an unknown packet has no details');
});

test.serial('best luck on a tie is the first opener of the largest share', async (t) => {
  // 3 cents in 3 shares: every share is 1 cent, so the first opener has the best luck.
  const { ids } = await create(engine, [{ total: 3, shares: 3, recipients: [7, 8, 9] }]);
  await open(engine, [
    [9, ids[0]],
    [7, ids[0]],
    [8, ids[0]],
  ]);
  const d = await engine.details(ids[0]);
  t.deepEqual(
    d?.opened.map((s) => s.cents),
    [1, 1, 1],
    'one cent each',
  );
  t.is(d?.bestLuck, 9, 'the first opener wins the tie');
});

test.serial('restore rebuilds packets: repeats, remaining shares, refunds and expiry', async (t) => {
  for (const splitMode of [SplitMode.DoubleMean, SplitMode.LineSegment]) {
    await engine.reset(OPTIONS);
    await engine.snapshotRestore({
      nextShakeId: 1,
      nextGroupId: 4,
      supply: null,
      shake: { createdCount: 0, createdCents: 0, paidCount: 0, paidCents: 0, unpaidIds: [], unpaidCents: [] },
      groups: [
        {
          id: 3,
          sender: 9,
          totalCents: 90,
          shareCount: 2,
          splitMode,
          recipients: [1, 2],
          expiresAt: 50,
          opened: [{ user: 2, cents: 10 }],
          expired: true,
          refundedCents: 80,
        },
        {
          id: 1,
          sender: 8,
          totalCents: 1000,
          shareCount: 4,
          splitMode,
          recipients: [1, 2, 3, 4, 5],
          expiresAt: NEVER,
          opened: [
            { user: 4, cents: 300 },
            { user: 1, cents: 500 },
          ],
          expired: false,
          refundedCents: 0,
        },
      ],
    });
    const totals = await engine.totals();
    t.is(totals.groupPackets, 2, `mode ${splitMode}: two packets restored`);
    t.deepEqual(totals.group.created, { count: 6, cents: 1090 }, `mode ${splitMode}: created`);
    t.deepEqual(totals.group.paid, { count: 3, cents: 810 }, `mode ${splitMode}: paid`);
    t.deepEqual(totals.group.remaining, { count: 2, cents: 200 }, `mode ${splitMode}: remaining`);
    t.deepEqual(totals.group.refunded, { count: 1, cents: 80 }, `mode ${splitMode}: refunded`);
    assertIdentity(t, totals, `mode ${splitMode}: `);
    const r = await open(engine, [
      [1, 1],
      [2, 1],
      [3, 1],
      [5, 1],
      [1, 3],
      [2, 3],
    ]);
    t.deepEqual(
      r.status,
      [OpenStatus.Repeat, OpenStatus.Ok, OpenStatus.Ok, OpenStatus.Empty, OpenStatus.Expired, OpenStatus.Repeat],
      `mode ${splitMode}: repeats, new shares, empty and expired after restore`,
    );
    t.is(r.cents[0], 500, `mode ${splitMode}: the repeat returns the restored share`);
    t.is(r.cents[1] + r.cents[2], 200, `mode ${splitMode}: the new shares add up to the remainder`);
    t.true(r.cents[1] >= 1 && r.cents[2] >= 1, `mode ${splitMode}: new shares are at least one cent`);
    t.is((await engine.details(1))?.bestLuck, 1, `mode ${splitMode}: best luck survives the restore (500 of 1000)`);
    t.deepEqual(
      await expire(engine, Number.MAX_SAFE_INTEGER),
      [{ packetId: 1, sender: 8, cents: 0, shares: 0 }],
      `mode ${splitMode}: restored expired packets do not refund twice`,
    );
    const created = await create(engine, [{ total: 5, shares: 1, recipients: [1] }]);
    t.deepEqual(created.ids, [4], `mode ${splitMode}: new ids continue from nextGroupId`);
  }
});

test.serial('bad create batches throw EngineInputError and create nothing', async (t) => {
  await create(engine, [{ total: 100, shares: 2, recipients: [1, 2] }]);
  const before = await observable(engine);
  const good = batchOf([
    { total: 10, shares: 1, recipients: [1] },
    { total: 20, shares: 2, recipients: [1, 2] },
  ]);
  const out = { status: new Uint8Array(2), packetIds: new Uint32Array(2) };
  const cases: Array<[string, unknown, unknown]> = [
    ['senders shorter than the batch', { ...good, senders: Uint32Array.of(1) }, out],
    ['totalCents of another length', { ...good, totalCents: Uint32Array.of(10, 20, 30) }, out],
    ['shareCounts shorter', { ...good, shareCounts: Uint32Array.of(1) }, out],
    ['recipientOffsets without the final entry', { ...good, recipientOffsets: Uint32Array.of(0, 1) }, out],
    ['recipientOffsets past the recipients', { ...good, recipientOffsets: Uint32Array.of(0, 1, 9) }, out],
    ['recipientOffsets decreasing', { ...good, recipientOffsets: Uint32Array.of(0, 2, 1) }, out],
    ['expiresAt shorter', { ...good, expiresAt: Float64Array.of(1) }, out],
    ['expiresAt NaN', { ...good, expiresAt: Float64Array.of(NEVER, Number.NaN) }, out],
    ['expiresAt infinite', { ...good, expiresAt: Float64Array.of(Number.POSITIVE_INFINITY, NEVER) }, out],
    ['negative cents', { ...good, totalCents: [10, -20] }, out],
    ['fractional cents', { ...good, totalCents: [10, 20.5] }, out],
    ['short status output', good, { status: new Uint8Array(1), packetIds: new Uint32Array(2) }],
    ['short packetIds output', good, { status: new Uint8Array(2), packetIds: new Uint32Array(1) }],
  ];
  for (const [label, batch, o] of cases) {
    await t.throwsAsync(async () => engine.createGroup(batch as never, o as never), { instanceOf: EngineInputError }, `${label} is refused`);
  }
  t.deepEqual(await observable(engine), before, 'no packet created by a refused batch');
  t.deepEqual((await create(engine, [{ total: 5, shares: 1, recipients: [1] }])).ids, [2], 'the next id was not consumed');
});

test.serial('bad open and expire arguments throw EngineInputError and move nothing', async (t) => {
  const { ids } = await create(engine, [{ total: 100, shares: 2, recipients: [1, 2], expiresAt: 1_000 }]);
  const before = await observable(engine);
  const out = { status: new Uint8Array(2), cents: new Uint32Array(2) };
  await t.throwsAsync(
    async () => engine.open(Uint32Array.of(1, 2), Uint32Array.of(ids[0]), 0, out),
    { instanceOf: EngineInputError },
    'users and packetIds of different lengths',
  );
  await t.throwsAsync(
    async () => engine.open(Uint32Array.of(1, 2), Uint32Array.of(ids[0], ids[0]), 0, { status: new Uint8Array(1), cents: new Uint32Array(2) }),
    { instanceOf: EngineInputError },
    'short status output',
  );
  await t.throwsAsync(
    async () => engine.open(Uint32Array.of(1, 2), Uint32Array.of(ids[0], ids[0]), 0, { status: new Uint8Array(2), cents: new Uint32Array(1) }),
    { instanceOf: EngineInputError },
    'short cents output',
  );
  await t.throwsAsync(
    async () => engine.open([1, -2] as never, Uint32Array.of(ids[0], ids[0]), 0, out),
    { instanceOf: EngineInputError },
    'a negative user id',
  );
  const refundOut = { packetIds: new Uint32Array(4), senders: new Uint32Array(4), cents: new Uint32Array(1), shares: new Uint32Array(4) };
  await t.throwsAsync(async () => engine.expire(5_000, refundOut), { instanceOf: EngineInputError }, 'refund outputs of different lengths');
  t.deepEqual(await observable(engine), before, 'totals unchanged after refused calls');
  t.is((await engine.details(ids[0]))?.expired, false, 'the packet did not expire through a refused sweep');
});

test.serial('a plain array or another typed array where a typed array is due throws EngineInputError in both engines', async (t) => {
  const { ids } = await create(engine, [{ total: 100, shares: 2, recipients: [1, 2], expiresAt: 1_000 }]);
  const before = await observable(engine);
  const good = batchOf([{ total: 10, shares: 1, recipients: [1] }]);
  const createOut = { status: new Uint8Array(1), packetIds: new Uint32Array(1) };
  const openOut = { status: new Uint8Array(1), cents: new Uint32Array(1) };
  const refundOut = { packetIds: new Uint32Array(4), senders: new Uint32Array(4), cents: new Uint32Array(4), shares: new Uint32Array(4) };
  const shakeOut = { status: new Uint8Array(1), packetIds: new Uint32Array(1), cents: new Uint32Array(1) };
  // Every value is valid: only the kind of array is wrong.
  const cases: Array<[string, () => unknown]> = [
    ['plain array of users (shake)', () => engine.shake([1] as never, shakeOut)],
    ['Int32Array of users (shake)', () => engine.shake(Int32Array.of(1) as never, shakeOut)],
    ['plain array of users (open)', () => engine.open([1] as never, Uint32Array.of(ids[0]), 0, openOut)],
    ['plain array of packet ids (open)', () => engine.open(Uint32Array.of(1), [ids[0]] as never, 0, openOut)],
    ['plain array of senders', () => engine.createGroup({ ...good, senders: [1] as never }, createOut)],
    ['plain array of recipients', () => engine.createGroup({ ...good, recipients: [1] as never }, createOut)],
    ['plain array of expiry times', () => engine.createGroup({ ...good, expiresAt: [NEVER] as never }, createOut)],
    ['Float64Array of share counts', () => engine.createGroup({ ...good, shareCounts: Float64Array.of(1) as never }, createOut)],
    ['plain array of forced ids', () => engine.expire(0, refundOut, [ids[0]] as never)],
    ['plain array as an output', () => engine.open(Uint32Array.of(1), Uint32Array.of(ids[0]), 0, { ...openOut, cents: [0] as never })],
  ];
  for (const [label, call] of cases) {
    await t.throwsAsync(async () => call(), { instanceOf: EngineInputError }, `${label} is refused`);
  }
  t.deepEqual(await observable(engine), before, 'nothing moved');
  t.deepEqual((await create(engine, [{ total: 5, shares: 1, recipients: [1] }])).ids, [2], 'no id was consumed');
});

test.serial('an inconsistent snapshot throws EngineInputError and changes nothing', async (t) => {
  await create(engine, [{ total: 100, shares: 2, recipients: [1, 2] }]);
  await open(engine, [[1, 1]]);
  const before = await observable(engine);
  const details = await engine.details(1);
  const shake = { createdCount: 2, createdCents: 20, paidCount: 1, paidCents: 10, unpaidIds: [2], unpaidCents: [10] };
  const group = {
    id: 1,
    sender: 1,
    totalCents: 90,
    shareCount: 2,
    splitMode: SplitMode.DoubleMean,
    recipients: [1, 2],
    expiresAt: NEVER,
    opened: [{ user: 1, cents: 40 }],
    expired: false,
    refundedCents: 0,
  };
  const base = { nextShakeId: 3, nextGroupId: 2, supply: null, shake, groups: [group] };
  const cases: Array<[string, unknown]> = [
    ['shake created != paid + unpaid', { ...base, shake: { ...shake, createdCents: 21 } }],
    ['an unpaid shake id listed twice', { ...base, shake: { ...shake, createdCount: 3, createdCents: 30, unpaidIds: [2, 2], unpaidCents: [10, 10] } }],
    ['an unpaid shake id not below nextShakeId', { ...base, nextShakeId: 2 }],
    ['a group id not below nextGroupId', { ...base, nextGroupId: 1 }],
    ['a group listed twice', { ...base, groups: [group, group] }],
    ['an opener who is not a recipient', { ...base, groups: [{ ...group, opened: [{ user: 9, cents: 40 }] }] }],
    ['opened shares above the total', { ...base, groups: [{ ...group, opened: [{ user: 1, cents: 91 }] }] }],
    ['a refund before expiry', { ...base, groups: [{ ...group, refundedCents: 5 }] }],
    ['a refund that is not the remainder', { ...base, groups: [{ ...group, expired: true, refundedCents: 49 }] }],
    ['opened shares leaving less than a cent per unopened share', { ...base, groups: [{ ...group, opened: [{ user: 1, cents: 90 }] }] }],
    [
      'an expired packet with less than a cent per unopened share',
      { ...base, groups: [{ ...group, opened: [{ user: 1, cents: 90 }], expired: true, refundedCents: 0 }] },
    ],
    [
      'all shares opened with cents left',
      {
        ...base,
        groups: [
          {
            ...group,
            opened: [
              { user: 1, cents: 40 },
              { user: 2, cents: 40 },
            ],
          },
        ],
      },
    ],
    [
      'an expired packet with all shares opened and cents left',
      {
        ...base,
        groups: [
          {
            ...group,
            opened: [
              { user: 1, cents: 40 },
              { user: 2, cents: 40 },
            ],
            expired: true,
            refundedCents: 10,
          },
        ],
      },
    ],
    ['nextGroupId above 2^32 - 1', { ...base, nextGroupId: 2 ** 32 }],
  ];
  for (const [label, snapshot] of cases) {
    await t.throwsAsync(
      async () => engine.snapshotRestore(snapshot as never),
      { instanceOf: EngineInputError },
      `${label} is refused (docs/engine.md, "Restore")`,
    );
  }
  t.deepEqual(await observable(engine), before, 'totals and supply unchanged by refused restores');
  t.deepEqual(await engine.details(1), details, 'the existing packet is untouched');
});
