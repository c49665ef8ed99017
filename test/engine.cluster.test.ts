// The calls of cluster mode on the engine selected by HONGBAO_ENGINE (docs/engine.md, "Calls for cluster
// mode"): amounts drawn without a supply, leased packets adopted into and withdrawn from the buckets, and
// whole splits computed at create time.
import test from 'ava';
import { EngineInputError, MAX_PACKET_CENTS, MAX_SHARES, SplitMode, type AmountRule, type Engine } from '../src/engine/index.ts';
import { adopt, assertIdentity, create, draw, engineUnderTest, observable, open, release, shake, split, withdraw } from './helpers/engine.ts';

let engine: Engine;
const SEED = 11;
const SHARDS = 4;

test.before(async () => {
  engine = await engineUnderTest({ seed: SEED, shards: SHARDS });
});

test.beforeEach(async () => {
  await engine.reset({ seed: SEED, shards: SHARDS });
});

const RANGE: AmountRule = { kind: 'range', min: 1, max: 10_000 };
const LIST: AmountRule = { kind: 'list', values: [88, 188, 888, 1888] };

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

/** Shakes shard s (user s) until it misses: the ids its bucket held, oldest first. */
async function drainShard(s: number): Promise<number[]> {
  const ids: number[] = [];
  for (;;) {
    const r = await shake(engine, [s]);
    if (r.status[0] === 0) return ids;
    ids.push(r.ids[0]);
  }
}

async function drainAll(): Promise<number[][]> {
  const out: number[][] = [];
  for (let s = 0; s < SHARDS; s++) out.push(await drainShard(s));
  return out;
}

// drawAmounts

for (const rule of [RANGE, LIST]) {
  test.serial(`drawAmounts (${rule.kind} rule) draws what releaseSupply would have drawn`, async (t) => {
    await engine.startSupply({ total: 100, ratePerSecond: 10, rule });
    const released = await release(engine, 30);
    await engine.reset({ seed: SEED, shards: SHARDS });
    const drawn = await draw(engine, rule, 20);
    t.deepEqual(drawn, released.cents.slice(0, 20), 'the draws are the first 20 packets of a release');
    await engine.startSupply({ total: 100, ratePerSecond: 10, rule });
    const after = await release(engine, 10);
    t.deepEqual(after.cents, released.cents.slice(20), 'stream 0 advanced as by a release of 20 packets');
    t.deepEqual(after.ids, range(10, 1), 'drawing took no shake id');
  });
}

test.serial('drawAmounts creates nothing and leaves the supply alone', async (t) => {
  await engine.startSupply({ total: 5, ratePerSecond: 1, rule: LIST });
  const before = await observable(engine);
  const drawn = await draw(engine, RANGE, 50);
  t.true(
    drawn.every((c) => c >= 1 && c <= 10_000),
    'every amount obeys the given rule',
  );
  t.deepEqual(await observable(engine), before, 'no counter and no supply field moved');
  t.deepEqual(await shake(engine, range(SHARDS)), { status: [0, 0, 0, 0], ids: [0, 0, 0, 0], cents: [0, 0, 0, 0] }, 'no packet was created');
  t.deepEqual(await draw(engine, RANGE, 0), [], 'an empty output draws nothing');
});

test.serial('drawAmounts refuses an invalid rule or output and draws nothing', async (t) => {
  const bad: unknown[] = [
    { kind: 'range', min: 0, max: 5 },
    { kind: 'range', min: 6, max: 5 },
    { kind: 'range', min: 1, max: MAX_PACKET_CENTS + 1 },
    { kind: 'list', values: [] },
    { kind: 'list', values: [5, 1.5] },
    { kind: 'zipf' },
    null,
  ];
  for (const rule of bad) {
    const out = new Uint32Array(3).fill(7);
    await t.throwsAsync(async () => engine.drawAmounts(rule as AmountRule, out), { instanceOf: EngineInputError }, `rule ${JSON.stringify(rule)} is refused`);
    t.deepEqual(Array.from(out), [7, 7, 7], `rule ${JSON.stringify(rule)}: the output is untouched`);
  }
  await t.throwsAsync(async () => engine.drawAmounts(RANGE, [0, 0] as never), { instanceOf: EngineInputError }, 'a plain array output is refused');
  const afterRefusals = await draw(engine, RANGE, 10);
  await engine.reset({ seed: SEED, shards: SHARDS });
  t.deepEqual(afterRefusals, await draw(engine, RANGE, 10), 'the refused calls drew nothing from stream 0');
});

// adoptShakePackets

test.serial('adopted packets go round-robin from the cursor, as released ones do', async (t) => {
  await engine.startSupply({ total: 100, ratePerSecond: 10, rule: RANGE });
  await release(engine, 3); // shards 0, 1, 2; the cursor is at 3
  await adopt(engine, [900, 901, 902, 903, 904], [10, 20, 30, 40, 50]);
  const later = await release(engine, 2); // the cursor is at (3 + 5) mod 4 = 0
  t.deepEqual(later.ids, [4, 5], 'adoption took no shake id');
  t.deepEqual(
    await drainAll(),
    [
      [1, 901, 4],
      [2, 902, 5],
      [3, 903],
      [900, 904],
    ],
    'adopted packet i went to shard (cursor + i) mod shards, and the cursor moved on',
  );
});

test.serial('adopted packets count as created, need no supply and are shaken with their cents', async (t) => {
  await adopt(engine, [70, 71], [123, MAX_PACKET_CENTS]);
  const totals = await engine.totals();
  t.deepEqual(totals.shake.created, { count: 2, cents: 123 + MAX_PACKET_CENTS }, 'created counts the adopted packets and their cents');
  t.deepEqual(totals.shake.remaining, totals.shake.created, 'nothing won yet: all remaining');
  t.is(await engine.supplyState(), null, 'no supply was started');
  t.deepEqual(await shake(engine, [0, 1, 2]), { status: [1, 1, 0], ids: [70, 71, 0], cents: [123, MAX_PACKET_CENTS, 0] }, 'a shake wins an adopted packet');
  assertIdentity(t, await engine.totals());
});

test.serial('adoption refuses a bad batch whole', async (t) => {
  await adopt(engine, [1], [5]); // the cursor is at 1
  const before = await observable(engine);
  const cases: Array<[unknown, unknown, string]> = [
    [Uint32Array.of(1, 2), Uint32Array.of(5), 'arrays of different lengths'],
    [Uint32Array.of(2, 0), Uint32Array.of(5, 5), 'an id of 0'],
    [Uint32Array.of(2, 3), Uint32Array.of(5, 0), 'a packet of 0 cents'],
    [Uint32Array.of(2, 3), Uint32Array.of(5, MAX_PACKET_CENTS + 1), 'a packet above MAX_PACKET_CENTS'],
    [[2, 3], Uint32Array.of(5, 5), 'a plain array of ids'],
  ];
  for (const [ids, cents, what] of cases) {
    await t.throwsAsync(async () => engine.adoptShakePackets(ids as Uint32Array, cents as Uint32Array), { instanceOf: EngineInputError }, `${what} is refused`);
    t.deepEqual(await observable(engine), before, `${what}: nothing was adopted`);
  }
  await adopt(engine, [2], [6]);
  t.deepEqual((await shake(engine, [1])).ids, [2], 'the refused batches left the cursor where it was');
});

// withdrawShakePackets

test.serial('withdraw takes shard 0 first, each bucket oldest first, up to the capacity', async (t) => {
  await engine.startSupply({ total: 100, ratePerSecond: 10, rule: RANGE });
  const released = await release(engine, 10); // shard 0: 1 5 9; 1: 2 6 10; 2: 3 7; 3: 4 8
  t.deepEqual((await shake(engine, [1])).ids, [2], 'one packet of shard 1 is won');
  const first = await withdraw(engine, 5);
  t.deepEqual(first.ids, [1, 5, 9, 6, 10], 'all of shard 0, then shard 1 oldest first');
  t.deepEqual(
    first.cents,
    first.ids.map((id) => released.cents[id - 1]),
    'each packet with its cents',
  );
  const totals = await engine.totals();
  t.deepEqual(totals.shake.refunded, { count: 5, cents: sum(first.cents) }, 'the withdrawn packets are refunded');
  t.is(totals.shake.paid.count, 1, 'the won packet stays paid');
  assertIdentity(t, totals, '', 5);
});

test.serial('withdrawing until a short answer empties every bucket and keeps the money identity', async (t) => {
  await engine.startSupply({ total: 100, ratePerSecond: 10, rule: RANGE });
  const released = await release(engine, 23);
  await adopt(engine, [500, 501], [7, 8]);
  const won = await shake(engine, [0, 4, 3]);
  const taken: number[] = [];
  for (;;) {
    const w = await withdraw(engine, 4);
    taken.push(...w.ids);
    if (w.ids.length < 4) break;
  }
  t.is(taken.length, 25 - 3, 'every unwon packet came out once');
  t.is(new Set([...taken, ...won.ids]).size, 25, 'no packet is both won and withdrawn');
  const totals = await engine.totals();
  t.deepEqual(totals.shake.remaining, { count: 0, cents: 0 }, 'nothing remains in the buckets');
  t.deepEqual(totals.shake.refunded, { count: 22, cents: sum(released.cents) + 15 - sum(won.cents) }, 'everything unwon is refunded');
  assertIdentity(t, totals, '', 22);
  t.deepEqual((await shake(engine, range(SHARDS))).status, [0, 0, 0, 0], 'every shake misses');
  t.deepEqual(await withdraw(engine, 4), { ids: [], cents: [] }, 'an empty engine gives nothing back');
  const next = await release(engine, 1);
  t.deepEqual((await shake(engine, [(23 + 2) % SHARDS])).ids, next.ids, 'withdrawal left the cursor where it was');
});

test.serial('withdraw refuses outputs of different lengths and moves nothing', async (t) => {
  await adopt(engine, [1, 2], [10, 20]);
  const before = await observable(engine);
  await t.throwsAsync(
    async () => engine.withdrawShakePackets({ ids: new Uint32Array(2), cents: new Uint32Array(1) }),
    { instanceOf: EngineInputError },
    'outputs of different lengths are refused',
  );
  await t.throwsAsync(
    async () => engine.withdrawShakePackets({ ids: new Uint32Array(2), cents: [0, 0] as never }),
    { instanceOf: EngineInputError },
    'a plain array is refused',
  );
  t.deepEqual(await observable(engine), before, 'nothing was withdrawn');
  t.deepEqual(await withdraw(engine, 0), { ids: [], cents: [] }, 'a capacity of 0 takes nothing');
});

// splitShares

/** Creates packets (one recipient per share), opens every share in recipient order: the ids and the shares paid. */
async function createAndOpenAll(items: Array<[total: number, shares: number]>): Promise<{ ids: number[]; paid: number[][] }> {
  const { ids } = await create(
    engine,
    items.map(([total, shares]) => ({ total, shares, recipients: range(shares, 1) })),
  );
  const paid: number[][] = [];
  for (const [k, id] of ids.entries())
    paid.push(
      (
        await open(
          engine,
          range(items[k][1], 1).map((u) => [u, id] as [number, number]),
        )
      ).cents,
    );
  return { ids, paid };
}

const ITEMS: Array<[total: number, shares: number]> = [
  [1_000, 5],
  [7, 7],
  [100_000_000, MAX_SHARES],
  [99, 1],
  [1_200, MAX_SHARES],
  [5_000, 3],
  [333, 4],
];

for (const splitMode of [SplitMode.DoubleMean, SplitMode.LineSegment]) {
  const name = splitMode === SplitMode.DoubleMean ? 'double mean' : 'line segment';
  test.serial(`${name}: splitShares gives the shares createGroup + open pay a packet of the same shard`, async (t) => {
    await engine.reset({ seed: SEED, shards: SHARDS, splitMode });
    const { ids, paid } = await createAndOpenAll(ITEMS);
    await engine.reset({ seed: SEED, shards: SHARDS, splitMode });
    // Other ids of the same shards: only the shard of an id picks the stream.
    const sameShards = ids.map((id) => id + 100 * SHARDS);
    const shares = await split(
      engine,
      ITEMS.map(([total, count], k) => [sameShards[k], total, count]),
    );
    t.deepEqual(shares, paid, 'the split is what the opens paid');
  });

  test.serial(`${name}: every split adds up to its total with every share >= 1 cent`, async (t) => {
    await engine.reset({ seed: SEED, shards: SHARDS, splitMode });
    const items: Array<[number, number, number]> = [...ITEMS, [MAX_PACKET_CENTS, 2], [2, 2], [3, 2]].map(([total, count], k) => [k * 3 + 1, total, count]);
    const shares = await split(engine, items);
    for (const [k, [id, total, count]] of items.entries()) {
      t.is(shares[k].length, count, `packet ${id}: ${count} shares`);
      t.is(sum(shares[k]), total, `packet ${id}: the shares add up to ${total} exactly`);
      t.true(
        shares[k].every((s) => s >= 1),
        `packet ${id}: every share is at least one cent`,
      );
    }
  });
}

test.serial('splitShares creates no packet and moves no counter', async (t) => {
  await engine.startSupply({ total: 10, ratePerSecond: 1, rule: RANGE });
  await release(engine, 3);
  const before = await observable(engine);
  await split(engine, [
    [1, 500, 5],
    [2, 600, 6],
  ]);
  t.deepEqual(await observable(engine), before, 'totals and supply are unchanged');
  t.is(await engine.details(1), null, 'no group packet 1 exists');
  t.deepEqual((await create(engine, [{ total: 10, shares: 1, recipients: [1] }])).ids, [1], 'group ids still start at 1');
});

test.serial('splitShares refuses a bad batch whole and draws nothing', async (t) => {
  const u = (...xs: number[]) => Uint32Array.from(xs);
  const cases: Array<[Uint32Array, Uint32Array, Uint32Array, number, string]> = [
    [u(1, 2), u(10), u(2, 2), 4, 'totalCents shorter than packetIds'],
    [u(1, 2), u(10, 10), u(2), 4, 'shareCounts shorter than packetIds'],
    [u(1, 2), u(10, 10), u(2, 0), 4, 'a packet of 0 shares'],
    [u(1, 2), u(10, 2_000), u(2, MAX_SHARES + 1), 2_000, 'more than MAX_SHARES shares'],
    [u(1, 2), u(10, 0), u(2, 1), 3, 'a packet of 0 cents'],
    [u(1, 2), u(10, MAX_PACKET_CENTS + 1), u(2, 1), 3, 'a packet above MAX_PACKET_CENTS'],
    [u(1, 2), u(10, 2), u(2, 3), 5, 'fewer cents than shares'],
    [u(1, 2), u(10, 10), u(2, 3), 4, 'an output shorter than the shares'],
  ];
  for (const [ids, totals, counts, length, what] of cases) {
    const out = new Uint32Array(length).fill(9);
    await t.throwsAsync(async () => engine.splitShares(ids, totals, counts, out), { instanceOf: EngineInputError }, `${what} is refused`);
    t.true(
      out.every((x) => x === 9),
      `${what}: the output is untouched`,
    );
  }
  await t.throwsAsync(async () => engine.splitShares(u(1), u(10), u(2), [0, 0] as never), { instanceOf: EngineInputError }, 'a plain array output is refused');
  const items: Array<[number, number, number]> = [
    [1, 1_000, 5],
    [2, 1_000, 5],
  ];
  const afterRefusals = await split(engine, items);
  await engine.reset({ seed: SEED, shards: SHARDS });
  t.deepEqual(afterRefusals, await split(engine, items), 'the refused batches drew nothing');
});

test.serial('splitShares writes only the shares into a longer output', async (t) => {
  const out = new Uint32Array(6).fill(9);
  await engine.splitShares(Uint32Array.of(4), Uint32Array.of(3), Uint32Array.of(3), out);
  t.deepEqual(Array.from(out), [1, 1, 1, 9, 9, 9], 'three 1-cent shares, the rest left alone');
});

function range(n: number, from = 0): number[] {
  return Array.from({ length: n }, (_, i) => from + i);
}
