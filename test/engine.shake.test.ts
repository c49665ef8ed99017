// Shake flow of the engine selected by HONGBAO_ENGINE: supply, round-robin release, FIFO buckets,
// hits and misses, totals, restore and misuse.
import test from 'ava';
import { EngineInputError, ShakeStatus, type Engine } from '../src/engine/index.ts';
import { assertIdentity, engineUnderTest, observable, release, shake } from './helpers/engine.ts';

let engine: Engine;
const SHARDS = 4;

test.before(async () => {
  engine = await engineUnderTest({ seed: 7, shards: SHARDS });
});

test.beforeEach(async () => {
  await engine.reset({ seed: 7, shards: SHARDS });
});

/** One user per shard: user s lands on shard s. */
const onePerShard = Array.from({ length: SHARDS }, (_, s) => s);

test.serial('a shake with no supply misses and moves nothing', async (t) => {
  const r = await shake(engine, [0, 1, 2, 3, 4, 99]);
  t.deepEqual(r.status, [0, 0, 0, 0, 0, 0], 'every shake misses');
  t.deepEqual(r.ids, [0, 0, 0, 0, 0, 0], 'a miss has packet id 0');
  t.deepEqual(r.cents, [0, 0, 0, 0, 0, 0], 'a miss has 0 cents');
  const totals = await engine.totals();
  t.is(totals.shake.created.count, 0, 'nothing was created');
  t.is(totals.shake.paid.count, 0, 'nothing was paid');
  t.is(await engine.supplyState(), null, 'no supply before startSupply');
});

test.serial('a miss overwrites stale output with zeros', async (t) => {
  const out = { status: new Uint8Array(3).fill(9), packetIds: new Uint32Array(3).fill(9), cents: new Uint32Array(3).fill(9) };
  await engine.shake(Uint32Array.of(1, 2, 3), out);
  t.deepEqual(Array.from(out.status), [ShakeStatus.Miss, ShakeStatus.Miss, ShakeStatus.Miss], 'status is Miss');
  t.deepEqual(Array.from(out.packetIds), [0, 0, 0], 'packet ids are reset to 0');
  t.deepEqual(Array.from(out.cents), [0, 0, 0], 'cents are reset to 0');
});

test.serial('release creates at most what the supply has left, with ids from 1', async (t) => {
  await engine.startSupply({ total: 10, ratePerSecond: 4, rule: { kind: 'range', min: 5, max: 50 } });
  const a = await release(engine, 4);
  const b = await release(engine, 4);
  const c = await release(engine, 4);
  const d = await release(engine, 4);
  t.deepEqual(a.ids, [1, 2, 3, 4], 'first release: ids 1..4');
  t.deepEqual(b.ids, [5, 6, 7, 8], 'second release continues the ids');
  t.deepEqual(c.ids, [9, 10], 'third release is capped by the total');
  t.deepEqual(d.ids, [], 'an exhausted supply releases nothing');
  for (const cents of [...a.cents, ...b.cents, ...c.cents]) t.true(cents >= 5 && cents <= 50, `range amount ${cents} in [5, 50]`);
  const state = await engine.supplyState();
  t.is(state?.released, 10, 'released counts every packet');
  t.is(state?.total, 10, 'total is kept');
  t.is(state?.ratePerSecond, 4, 'rate is kept');
  t.deepEqual(state?.rule, { kind: 'range', min: 5, max: 50 }, 'rule is kept');
  const totals = await engine.totals();
  const cents = [...a.cents, ...b.cents, ...c.cents].reduce((x, y) => x + y, 0);
  t.deepEqual(totals.shake.created, { count: 10, cents }, 'created counts the released packets and their cents');
  t.deepEqual(totals.shake.remaining, { count: 10, cents }, 'nothing won yet: all remaining');
});

test.serial('list rule amounts come from the list', async (t) => {
  const values = [1, 88, 888, 8888];
  await engine.startSupply({ total: 200, ratePerSecond: 200, rule: { kind: 'list', values } });
  const r = await release(engine, 200);
  t.is(r.ids.length, 200, 'all 200 released');
  for (const c of r.cents) t.true(values.includes(c), `amount ${c} is one of the list values`);
  t.is(new Set(r.cents).size, values.length, 'with 200 draws every list value appears');
});

test.serial('released packets are spread round-robin, every shard within one packet of the others', async (t) => {
  await engine.startSupply({ total: 1000, ratePerSecond: 1000, rule: { kind: 'range', min: 1, max: 9 } });
  await release(engine, 7);
  const perShard: number[] = [];
  for (const s of onePerShard) {
    let hits = 0;
    while ((await shake(engine, [s])).status[0] === ShakeStatus.Hit) hits++;
    perShard.push(hits);
  }
  t.deepEqual(perShard, [2, 2, 2, 1], '7 packets over 4 shards from shard 0: 2, 2, 2, 1');
});

test.serial("a shake takes the oldest packet of the user's shard (FIFO)", async (t) => {
  await engine.startSupply({ total: 100, ratePerSecond: 100, rule: { kind: 'range', min: 1, max: 1000 } });
  const r = await release(engine, 12);
  // Packet i (0-based) went to shard i mod 4; user 4k + s maps to shard s.
  const first = await shake(engine, [1, 5, 9, 13]);
  t.deepEqual(first.status, [1, 1, 1, 0], 'shard 1 holds three packets, the fourth shake misses');
  t.deepEqual(first.ids, [r.ids[1], r.ids[5], r.ids[9], 0], 'shard 1 pays its packets oldest first');
  t.deepEqual(first.cents, [r.cents[1], r.cents[5], r.cents[9], 0], 'cents match the released amounts');
  const other = await shake(engine, [2]);
  t.is(other.ids[0], r.ids[2], 'shard 2 is untouched by shard 1 shakes');
});

test.serial('shake totals: created = paid + remaining, nothing refunded', async (t) => {
  await engine.startSupply({ total: 50, ratePerSecond: 50, rule: { kind: 'range', min: 1, max: 100 } });
  const r = await release(engine, 50);
  const s = await shake(
    engine,
    Array.from({ length: 30 }, (_, i) => i * 7),
  );
  const paidCents = s.cents.reduce((x, y) => x + y, 0);
  const paidCount = s.status.filter((x) => x === ShakeStatus.Hit).length;
  const totals = await engine.totals();
  t.deepEqual(totals.shake.paid, { count: paidCount, cents: paidCents }, 'paid is the sum of hits');
  t.is(
    totals.shake.created.cents,
    r.cents.reduce((x, y) => x + y, 0),
    'created cents are the released cents',
  );
  assertIdentity(t, totals);
  const won = s.ids.filter((id) => id !== 0);
  t.is(new Set(won).size, won.length, 'no packet is won twice');
});

test.serial('stopSupply stops releases; startSupply replaces the supply and keeps released packets', async (t) => {
  await engine.startSupply({ total: 100, ratePerSecond: 10, rule: { kind: 'range', min: 1, max: 1 } });
  await release(engine, 3);
  await engine.stopSupply();
  t.is((await engine.supplyState())?.active, false, 'a stopped supply is inactive');
  t.deepEqual((await release(engine, 5)).ids, [], 'a stopped supply releases nothing');
  await engine.startSupply({ total: 2, ratePerSecond: 1, rule: { kind: 'list', values: [7] } });
  const state = await engine.supplyState();
  t.is(state?.released, 0, 'a new supply starts at released 0');
  t.is(state?.active, true, 'a new supply is active');
  t.deepEqual((await release(engine, 5)).ids, [4, 5], 'ids continue after the old supply, capped by the new total');
  // The round-robin cursor belongs to the engine, not to the supply: ids 4 and 5 go to shards 3 and 0.
  const hits = await shake(engine, [...onePerShard, 0]);
  t.deepEqual(hits.ids, [1, 2, 3, 4, 5], 'old packets stay; new ones continue the round-robin at shard 3');
  t.is((await engine.totals()).shake.created.count, 5, 'packets of both supplies count as created');
});

test.serial('restore re-spreads unwon packets round-robin from shard 0 and keeps the counters', async (t) => {
  await engine.snapshotRestore({
    nextShakeId: 11,
    nextGroupId: 1,
    supply: { total: 20, ratePerSecond: 5, released: 10, rule: { kind: 'range', min: 3, max: 3 }, active: true },
    shake: { createdCount: 10, createdCents: 30, paidCount: 7, paidCents: 21, unpaidIds: [8, 9, 10], unpaidCents: [3, 3, 3] },
    groups: [],
  });
  const totals = await engine.totals();
  t.deepEqual(totals.shake.remaining, { count: 3, cents: 9 }, 'the unwon packets are remaining');
  assertIdentity(t, totals);
  const r = await shake(engine, onePerShard);
  t.deepEqual(r.ids, [8, 9, 10, 0], 'unwon packets placed from shard 0 in the given order');
  t.deepEqual((await release(engine, 2)).ids, [11, 12], 'release continues from nextShakeId');
  t.is((await engine.supplyState())?.released, 12, 'released continues from the snapshot');
});

test.serial('bad amount rules throw EngineInputError and keep the old supply', async (t) => {
  await engine.startSupply({ total: 5, ratePerSecond: 1, rule: { kind: 'range', min: 1, max: 9 } });
  const before = await observable(engine);
  const bad: unknown[] = [
    { kind: 'range', min: 0, max: 5 },
    { kind: 'range', min: 6, max: 5 },
    { kind: 'range', min: 1, max: 100_000_001 },
    { kind: 'range', min: 1.5, max: 5 },
    { kind: 'range', min: -1, max: 5 },
    { kind: 'list', values: [] },
    { kind: 'list', values: [5, 0] },
    { kind: 'list', values: [5, -5] },
    { kind: 'list', values: [2.5] },
    { kind: 'other' },
  ];
  for (const rule of bad) {
    await t.throwsAsync(
      async () => engine.startSupply({ total: 10, ratePerSecond: 1, rule: rule as never }),
      { instanceOf: EngineInputError },
      `rule ${JSON.stringify(rule)} is refused`,
    );
  }
  for (const total of [-1, 1.5]) {
    await t.throwsAsync(
      async () => engine.startSupply({ total, ratePerSecond: 1, rule: { kind: 'range', min: 1, max: 2 } }),
      { instanceOf: EngineInputError },
      `supply total ${total} is refused`,
    );
  }
  t.deepEqual(await observable(engine), before, 'the old supply and the totals are unchanged');
});

test.serial('bad release and shake arguments throw EngineInputError and move nothing', async (t) => {
  await engine.startSupply({ total: 50, ratePerSecond: 1, rule: { kind: 'range', min: 1, max: 9 } });
  await release(engine, 8);
  const before = await observable(engine);
  for (const count of [-1, 2.5]) {
    await t.throwsAsync(
      async () => engine.releaseSupply(count, { ids: new Uint32Array(4), cents: new Uint32Array(4) }),
      { instanceOf: EngineInputError },
      `release count ${count} is refused`,
    );
  }
  await t.throwsAsync(
    async () => engine.releaseSupply(4, { ids: new Uint32Array(2), cents: new Uint32Array(2) }),
    { instanceOf: EngineInputError },
    'release outputs shorter than count are refused',
  );
  const short = { status: new Uint8Array(2), packetIds: new Uint32Array(3), cents: new Uint32Array(3) };
  await t.throwsAsync(async () => engine.shake(Uint32Array.of(0, 1, 2), short), { instanceOf: EngineInputError }, 'a short status output is refused');
  const shortCents = { status: new Uint8Array(3), packetIds: new Uint32Array(3), cents: new Uint32Array(1) };
  await t.throwsAsync(async () => engine.shake(Uint32Array.of(0, 1, 2), shortCents), { instanceOf: EngineInputError }, 'a short cents output is refused');
  t.deepEqual(await observable(engine), before, 'totals and supply unchanged after refused calls');
  const all = await shake(engine, [0, 1, 2, 3, 0, 1, 2, 3]);
  t.is(all.status.filter((s) => s === ShakeStatus.Hit).length, 8, 'all 8 released packets are still in the buckets');
});

test.serial('a shard count below 1 is refused', async (t) => {
  for (const shards of [0, -2, 1.5]) {
    await t.throwsAsync(async () => engine.reset({ seed: 1, shards }), { instanceOf: EngineInputError }, `shards ${shards} is refused`);
  }
  t.is(engine.shardCount, SHARDS, 'the engine keeps its shard count after a refused reset');
});

test.serial('the engine reports its kind and whether threads share it', async (t) => {
  t.is(engine.kind, process.env.HONGBAO_ENGINE === 'ts' ? 'ts' : 'native', 'kind follows HONGBAO_ENGINE');
  t.is(engine.sharedAcrossThreads, engine.kind === 'native', 'only the native engine is shared across threads');
  t.is(engine.shardCount, SHARDS, 'shardCount is the configured number');
});
