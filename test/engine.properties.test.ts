// Property tests (fast-check) of the engine selected by HONGBAO_ENGINE: random interleavings of supply,
// release, shake, create, open, clock steps, expiry, eviction, the calls of cluster mode (drawAmounts,
// adoptShakePackets, withdrawShakePackets, splitShares) and misuse, each checked against a reference
// model (test/helpers/engine-model.ts) after every step.
import assert from 'node:assert/strict';
import test from 'ava';
import fc from 'fast-check';
import { EngineInputError, MAX_PACKET_CENTS, OpenStatus, SplitMode, type Engine } from '../src/engine/index.ts';
import { EngineModel, sum } from './helpers/engine-model.ts';
import { adopt, batchOf, create, draw, engineUnderTest, expire, observable, open, release, shake, split, withdraw, type GroupSpec } from './helpers/engine.ts';

let engine: Engine;

test.before(async () => {
  engine = await engineUnderTest({ seed: 3, shards: 4 });
});

const user = fc.integer({ min: 0, max: 7 });
const packetId = fc.integer({ min: 0, max: 25 });

// Mostly valid packets (shares fit the recipients), sometimes a bad one for the create checks.
const groupSpec = fc
  .record({
    sender: fc.integer({ min: 0, max: 9 }),
    total: fc.oneof(fc.integer({ min: 0, max: 12 }), fc.integer({ min: 1, max: 100_000 })),
    shareChoice: fc.integer({ min: 0, max: 9 }),
    rawShares: fc.integer({ min: 0, max: 8 }),
    recipients: fc.uniqueArray(user, { maxLength: 7 }),
    ttl: fc.integer({ min: 0, max: 8_000 }),
  })
  .map(({ shareChoice, rawShares, recipients, ...rest }) => ({
    ...rest,
    recipients,
    shares: shareChoice === 0 || recipients.length === 0 ? rawShares : 1 + (shareChoice % recipients.length),
  }));

/** An open aimed at a live packet and one of its recipients most of the time, resolved at run time. */
const openPick = fc.record({ packet: fc.nat(), user: fc.nat(), kind: fc.integer({ min: 0, max: 9 }) });

const MISUSE = [
  'create-lengths',
  'create-nan-expiry',
  'create-negative-cents',
  'bad-rule',
  'release-negative',
  'open-lengths',
  'shake-short-out',
  'expire-out-lengths',
  'evict-nan',
  'draw-bad-rule',
  'adopt-lengths',
  'adopt-zero-id',
  'adopt-zero-cents',
  'withdraw-out-lengths',
  'split-below-shares',
  'split-zero-shares',
  'split-short-out',
] as const;

/** A valid item of splitShares: any packet id (its shard picks the stream), 1..8 shares, at least a cent each. */
const splitItem = fc
  .record({
    id: fc.integer({ min: 0, max: 0xffff_ffff }),
    shares: fc.integer({ min: 1, max: 8 }),
    extra: fc.oneof(fc.integer({ min: 0, max: 10 }), fc.integer({ min: 0, max: 100_000 })),
  })
  .map(({ id, shares, extra }): [number, number, number] => [id, shares + extra, shares]);

const command = fc.oneof(
  fc.record({
    op: fc.constant('supply' as const),
    total: fc.integer({ min: 0, max: 30 }),
    min: fc.integer({ min: 1, max: 50 }),
    span: fc.integer({ min: 0, max: 100 }),
  }),
  fc.record({ op: fc.constant('stop' as const) }),
  fc.record({ op: fc.constant('release' as const), count: fc.integer({ min: 0, max: 10 }) }),
  fc.record({ op: fc.constant('shake' as const), users: fc.array(fc.integer({ min: 0, max: 0xffff_ffff }), { maxLength: 12 }) }),
  fc.record({ op: fc.constant('create' as const), specs: fc.array(groupSpec, { maxLength: 4 }) }),
  fc.record({ op: fc.constant('open' as const), picks: fc.array(openPick, { maxLength: 12 }) }),
  fc.record({ op: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 3_000 }) }),
  fc.record({ op: fc.constant('expire' as const), capacity: fc.integer({ min: 0, max: 5 }), force: fc.array(packetId, { maxLength: 3 }) }),
  fc.record({ op: fc.constant('evict' as const), back: fc.integer({ min: 0, max: 4_000 }) }),
  fc.record({ op: fc.constant('misuse' as const), kind: fc.constantFrom(...MISUSE) }),
  fc.record({
    op: fc.constant('draw' as const),
    n: fc.integer({ min: 0, max: 8 }),
    min: fc.integer({ min: 1, max: 50 }),
    span: fc.integer({ min: 0, max: 1_000 }),
  }),
  fc.record({ op: fc.constant('adopt' as const), cents: fc.array(fc.integer({ min: 1, max: MAX_PACKET_CENTS }), { maxLength: 6 }) }),
  fc.record({ op: fc.constant('withdraw' as const), capacity: fc.integer({ min: 0, max: 6 }) }),
  fc.record({ op: fc.constant('split' as const), items: fc.array(splitItem, { maxLength: 4 }) }),
);
type Command = typeof command extends fc.Arbitrary<infer C> ? C : never;

/** A call the engine must refuse with EngineInputError. */
function misuse(kind: (typeof MISUSE)[number], now: number): () => unknown {
  const good = batchOf([{ total: 10, shares: 2, recipients: [1, 2], expiresAt: now + 1_000 }]);
  const createOut = { status: new Uint8Array(1), packetIds: new Uint32Array(1) };
  switch (kind) {
    case 'create-lengths':
      return () => engine.createGroup({ ...good, shareCounts: Uint32Array.of(2, 2) }, createOut);
    case 'create-nan-expiry':
      return () => engine.createGroup({ ...good, expiresAt: Float64Array.of(Number.NaN) }, createOut);
    case 'create-negative-cents':
      return () => engine.createGroup({ ...good, totalCents: [-10] as never }, createOut);
    case 'bad-rule':
      return () => engine.startSupply({ total: 5, ratePerSecond: 1, rule: { kind: 'range', min: 0, max: 3 } });
    case 'release-negative':
      return () => engine.releaseSupply(-1, { ids: new Uint32Array(4), cents: new Uint32Array(4) });
    case 'open-lengths':
      return () => engine.open(Uint32Array.of(1, 2), Uint32Array.of(1), now, { status: new Uint8Array(2), cents: new Uint32Array(2) });
    case 'shake-short-out':
      return () => engine.shake(Uint32Array.of(0, 1, 2), { status: new Uint8Array(3), packetIds: new Uint32Array(2), cents: new Uint32Array(3) });
    case 'evict-nan':
      return () => engine.evict(Number.NaN);
    case 'expire-out-lengths':
      return () =>
        engine.expire(now + 1e9, { packetIds: new Uint32Array(3), senders: new Uint32Array(3), cents: new Uint32Array(3), shares: new Uint32Array(2) });
    case 'draw-bad-rule':
      return () => engine.drawAmounts({ kind: 'list', values: [5, 0] }, new Uint32Array(2));
    case 'adopt-lengths':
      return () => engine.adoptShakePackets(Uint32Array.of(1, 2), Uint32Array.of(5));
    case 'adopt-zero-id':
      return () => engine.adoptShakePackets(Uint32Array.of(7, 0), Uint32Array.of(5, 5));
    case 'adopt-zero-cents':
      return () => engine.adoptShakePackets(Uint32Array.of(7, 8), Uint32Array.of(5, 0));
    case 'withdraw-out-lengths':
      return () => engine.withdrawShakePackets({ ids: new Uint32Array(3), cents: new Uint32Array(2) });
    case 'split-below-shares':
      return () => engine.splitShares(Uint32Array.of(1, 2), Uint32Array.of(100, 2), Uint32Array.of(2, 3), new Uint32Array(5));
    case 'split-zero-shares':
      return () => engine.splitShares(Uint32Array.of(1, 2), Uint32Array.of(100, 2), Uint32Array.of(2, 0), new Uint32Array(5));
    case 'split-short-out':
      return () => engine.splitShares(Uint32Array.of(1, 2), Uint32Array.of(100, 20), Uint32Array.of(2, 3), new Uint32Array(4));
  }
}

/** How often each outcome came up, so a generator that stops reaching a branch fails loudly. */
const seen = {
  open: [0, 0, 0, 0, 0, 0],
  shake: [0, 0],
  create: [0, 0, 0, 0, 0],
  refunds: 0,
  misuse: 0,
  evicted: 0,
  opensOfEvicted: 0,
  drawn: 0,
  adopted: 0,
  withdrawn: 0,
  splitShares: 0,
};

/** Ids of adopted packets: far above the released ones, as a cluster's pool would hand out. */
const LEASED_IDS_FROM = 0x8000_0000;

async function step(model: EngineModel, c: Command, clock: { now: number }): Promise<void> {
  switch (c.op) {
    case 'supply':
      await engine.startSupply({ total: c.total, ratePerSecond: 10, rule: { kind: 'range', min: c.min, max: c.min + c.span } });
      model.startSupply(c.total, c.min, c.min + c.span);
      break;
    case 'stop':
      await engine.stopSupply();
      model.stopSupply();
      break;
    case 'release': {
      const r = await release(engine, c.count);
      model.release(c.count, r.ids, r.cents);
      break;
    }
    case 'shake': {
      const r = await shake(engine, c.users);
      model.shakeBatch(c.users, r.status, r.ids, r.cents);
      for (const s of r.status) seen.shake[s]++;
      break;
    }
    case 'create': {
      const specs: GroupSpec[] = c.specs.map((s) => ({ ...s, expiresAt: clock.now + s.ttl }));
      const r = await create(engine, specs);
      model.create(specs, r.status, r.ids);
      for (const s of r.status) seen.create[s]++;
      break;
    }
    case 'open': {
      const live = [...model.packets.values()];
      const pairs = c.picks.map(({ packet, user: u, kind }): [number, number] => {
        const evicted = model.evictedBelow.filter((b) => b > 0);
        if (kind === 2 && evicted.length > 0) return [u % 8, evicted[packet % evicted.length] - 1]; // the last evicted of a shard
        if (live.length === 0 || kind === 0) return [u % 8, packet % 26]; // any id, often unknown
        const p = live[packet % live.length];
        return [kind === 1 ? u % 8 : p.recipients[u % p.recipients.length], p.id];
      });
      seen.opensOfEvicted += pairs.filter(([, id]) => !model.packets.has(id) && id < model.evictedBelow[id % model.shards]).length;
      const before = await engine.totals();
      const r = await open(engine, pairs, clock.now);
      model.open(pairs, clock.now, r.status, r.cents);
      for (const s of r.status) seen.open[s]++;
      if (r.status.every((s) => s !== OpenStatus.Ok)) {
        assert.deepEqual(await engine.totals(), before, 'opens without an Ok (repeats, misses) move no money');
      }
      break;
    }
    case 'tick':
      clock.now += c.ms;
      break;
    case 'expire': {
      const refunds = await expire(engine, clock.now, c.capacity, c.force);
      model.expire(clock.now, c.capacity, c.force, refunds);
      seen.refunds += refunds.length;
      break;
    }
    case 'evict': {
      const before = await engine.totals();
      const n = await engine.evict(clock.now - c.back);
      for (const id of model.evict(clock.now - c.back, n)) assert.equal(await engine.details(id), null, `evicted packet ${id} has no details`);
      assert.deepEqual(await engine.totals(), before, 'eviction moves no money');
      seen.evicted += n;
      break;
    }
    case 'draw': {
      const before = await engine.totals();
      model.draw(c.min, c.min + c.span, await draw(engine, { kind: 'range', min: c.min, max: c.min + c.span }, c.n));
      assert.deepEqual(await engine.totals(), before, 'drawAmounts moves no money');
      seen.drawn += c.n;
      break;
    }
    case 'adopt': {
      const ids = c.cents.map(() => model.nextLeasedId++);
      await adopt(engine, ids, c.cents);
      model.adopt(ids, c.cents);
      seen.adopted += ids.length;
      break;
    }
    case 'withdraw': {
      const r = await withdraw(engine, c.capacity);
      model.withdraw(c.capacity, r.ids, r.cents);
      seen.withdrawn += r.ids.length;
      break;
    }
    case 'split': {
      const before = await engine.totals();
      model.split(c.items, await split(engine, c.items));
      assert.deepEqual(await engine.totals(), before, 'splitShares moves no money');
      seen.splitShares += c.items.length;
      break;
    }
    case 'misuse': {
      const before = await observable(engine);
      await assert.rejects(async () => misuse(c.kind, clock.now)(), EngineInputError, `${c.kind} throws EngineInputError`);
      assert.deepEqual(await observable(engine), before, `${c.kind} changes nothing`);
      seen.misuse++;
      break;
    }
  }
  const totals = await engine.totals();
  for (const f of ['shake', 'group'] as const) {
    const t = totals[f];
    for (const unit of ['count', 'cents'] as const) {
      assert.equal(t.created[unit], t.paid[unit] + t.remaining[unit] + t.refunded[unit], `after ${c.op}: ${f} created ${unit} = paid + remaining + refunded`);
    }
  }
  assert.deepEqual(totals, model.totals(), `after ${JSON.stringify(c)}: engine totals match the model`);
}

/** Per packet, from the engine's own details: shares add up, each >= 1 cent, best luck is right. */
async function checkPackets(model: EngineModel): Promise<void> {
  for (const p of model.packets.values()) {
    const d = await engine.details(p.id);
    assert.ok(d, `packet ${p.id} has details`);
    assert.deepEqual(
      d.opened.map((s) => [s.user, s.cents]),
      [...p.opened],
      `packet ${p.id}: opened shares in opening order`,
    );
    const paid = sum(d.opened.map((s) => s.cents));
    assert.equal(paid + d.remainingCents + d.refundedCents, p.total, `packet ${p.id}: paid + remaining + refunded = total`);
    assert.ok(
      d.opened.every((s) => s.cents >= 1),
      `packet ${p.id}: every share >= 1 cent`,
    );
    if (d.opened.length === p.shares) assert.equal(paid, p.total, `packet ${p.id}: fully opened shares add up to the total exactly`);
    assert.equal(d.refundedCents, p.refunded, `packet ${p.id}: refunded as the model says`);
    assert.equal(d.expired, p.expired, `packet ${p.id}: expired flag`);
    const best = d.opened.reduce<{ user: number; cents: number } | null>((b, s) => (b === null || s.cents > b.cents ? s : b), null);
    assert.equal(d.bestLuck, best?.user ?? null, `packet ${p.id}: best luck is the first of the largest share`);
  }
}

for (const splitMode of [SplitMode.DoubleMean, SplitMode.LineSegment]) {
  const name = splitMode === SplitMode.DoubleMean ? 'double mean' : 'line segment';
  test.serial(`${name}: random interleavings keep every money rule`, async (t) => {
    seen.open.fill(0);
    seen.shake.fill(0);
    seen.create.fill(0);
    seen.refunds = 0;
    seen.misuse = 0;
    seen.evicted = 0;
    seen.opensOfEvicted = 0;
    seen.drawn = 0;
    seen.adopted = 0;
    seen.withdrawn = 0;
    seen.splitShares = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 0xffff_ffff }),
        fc.integer({ min: 1, max: 4 }),
        fc.array(command, { minLength: 10, maxLength: 60, size: 'max' }),
        async (seed, shards, commands) => {
          await engine.reset({ seed, shards, splitMode });
          const model = new EngineModel(shards, seed, splitMode);
          model.nextLeasedId = LEASED_IDS_FROM;
          const clock = { now: 1_000_000 };
          for (const c of commands) await step(model, c, clock);
          await checkPackets(model);
          // Drain: expire everything, then nothing may remain in the group flow.
          clock.now += 1e9;
          model.expire(clock.now, 10_000, [], await expire(engine, clock.now, 10_000));
          const totals = await engine.totals();
          assert.deepEqual(totals.group.remaining, { count: 0, cents: 0 }, 'after expiring everything nothing remains');
          assert.deepEqual(totals, model.totals(), 'final totals match the model');
          await checkPackets(model);
        },
      ),
      { numRuns: 300 },
    );
    t.pass('every run kept shares exact and as the streams give them, refunds once, totals balanced and misuse harmless');
    const names = Object.keys(OpenStatus) as Array<keyof typeof OpenStatus>;
    for (const n of names) t.true(seen.open[OpenStatus[n]] > 0, `the runs reached open outcome ${n} (${JSON.stringify(seen.open)})`);
    t.true(seen.shake[0] > 0 && seen.shake[1] > 0, `the runs had shake hits and misses (${JSON.stringify(seen.shake)})`);
    t.true(
      seen.create.every((x) => x > 0),
      `the runs reached every create status (${JSON.stringify(seen.create)})`,
    );
    t.true(seen.refunds > 0 && seen.misuse > 0, `the runs refunded (${seen.refunds}) and tried misuse (${seen.misuse})`);
    t.true(seen.evicted > 0 && seen.opensOfEvicted > 0, `the runs evicted packets (${seen.evicted}) and opened evicted ones (${seen.opensOfEvicted})`);
    t.true(
      seen.drawn > 0 && seen.adopted > 0 && seen.withdrawn > 0 && seen.splitShares > 0,
      `the runs drew amounts (${seen.drawn}), adopted (${seen.adopted}) and withdrew (${seen.withdrawn}) shake packets and split packets (${seen.splitShares})`,
    );
    t.log(`outcomes: ${JSON.stringify(seen)}`);
  });
}
