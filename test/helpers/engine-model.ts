// A plain reference model of the engine's bookkeeping, for the property tests: it predicts every status,
// id, refund and total, and checks every amount against its bounds. It also keeps its own copy of the
// engine's random streams (src/engine/rng.ts and split.ts, the definitions of docs/engine.md), so it
// predicts every amount too: a release's or drawAmounts' cents, each share an open pays, and each split
// of splitShares (which must be what createGroup + open would pay from the same stream state).
import assert from 'node:assert/strict';
import { makeStreams, type Rng } from '../../src/engine/rng.ts';
import { doubleMeanShare, lineSegmentSplit } from '../../src/engine/split.ts';
import { CreateStatus, MAX_PACKET_CENTS, OpenStatus, SplitMode, type Totals } from '../../src/engine/types.ts';
import type { GroupSpec, Refund } from './engine.ts';

export interface ModelPacket {
  id: number;
  sender: number;
  total: number;
  shares: number;
  recipients: number[];
  expiresAt: number;
  /** user -> cents, in opening order. */
  opened: Map<number, number>;
  expired: boolean;
  refunded: number;
  /** Line segment: the share paid at each opening position, drawn at creation. */
  plan: Uint32Array | null;
}

interface Flow {
  createdCount: number;
  createdCents: number;
  paidCount: number;
  paidCents: number;
  refundedCount: number;
  refundedCents: number;
}

const flow = (): Flow => ({ createdCount: 0, createdCents: 0, paidCount: 0, paidCents: 0, refundedCount: 0, refundedCents: 0 });

export class EngineModel {
  supply: { total: number; released: number; active: boolean; min: number; max: number } | null = null;
  nextShakeId = 1;
  cursor = 0;
  readonly buckets: Array<Array<{ id: number; cents: number }>>;
  nextGroupId = 1;
  /** Packets the engine holds (evicted ones leave). */
  readonly packets = new Map<number, ModelPacket>();
  groupPackets = 0;
  /** Per shard, one more than the largest id evicted there. */
  readonly evictedBelow: number[];
  readonly shake = flow();
  readonly group = flow();
  /** Id the next adopted packet gets (set by the test). */
  nextLeasedId = 1;
  /** Stream 0 (shake amounts) and 1 + i (splits of shard i), as the engine's. */
  private readonly streams: Rng[];

  constructor(
    readonly shards: number,
    seed: number,
    readonly splitMode: SplitMode,
  ) {
    this.buckets = Array.from({ length: shards }, () => []);
    this.evictedBelow = Array.from({ length: shards }, () => 0);
    this.streams = makeStreams(seed, shards + 1);
  }

  private streamOf(packetId: number): Rng {
    return this.streams[1 + (packetId % this.shards)];
  }

  /** Packet i goes to shard (cursor + i) mod shards, counted as created. */
  private place(id: number, cents: number): void {
    this.buckets[this.cursor].push({ id, cents });
    this.cursor = (this.cursor + 1) % this.shards;
    this.shake.createdCount++;
    this.shake.createdCents += cents;
  }

  startSupply(total: number, min: number, max: number): void {
    this.supply = { total, released: 0, active: true, min, max };
  }

  stopSupply(): void {
    if (this.supply) this.supply.active = false;
  }

  /** Checks a release's output and files the packets round-robin. */
  release(count: number, ids: number[], cents: number[]): void {
    const s = this.supply;
    const expected = s?.active ? Math.min(count, s.total - s.released) : 0;
    assert.equal(ids.length, expected, `release(${count}) creates min(count, left) packets`);
    ids.forEach((id, i) => {
      assert.equal(id, this.nextShakeId++, 'shake ids are consecutive');
      assert.ok(s && cents[i] >= s.min && cents[i] <= s.max, `amount ${cents[i]} within the range rule`);
      assert.equal(cents[i], this.streams[0].uniform(s.min, s.max), `release: packet ${id}'s amount is stream 0's next draw`);
      this.place(id, cents[i]);
    });
    if (s) s.released += ids.length;
  }

  /** Checks drawAmounts' output: the draws a release under the range rule would make. */
  draw(min: number, max: number, cents: number[]): void {
    cents.forEach((c, i) => {
      assert.ok(c >= min && c <= max, `drawn amount ${c} within [${min}, ${max}]`);
      assert.equal(c, this.streams[0].uniform(min, max), `drawAmounts: amount ${i} is stream 0's next draw`);
    });
  }

  adopt(ids: number[], cents: number[]): void {
    for (const [i, id] of ids.entries()) this.place(id, cents[i]);
  }

  /** Checks a withdrawal against the buckets: shard 0 first, oldest first, up to the capacity. */
  withdraw(capacity: number, ids: number[], cents: number[]): void {
    const expected: Array<{ id: number; cents: number }> = [];
    for (const bucket of this.buckets) {
      while (expected.length < capacity && bucket.length > 0) expected.push(bucket.shift() as { id: number; cents: number });
    }
    assert.deepEqual(
      { ids, cents },
      { ids: expected.map((p) => p.id), cents: expected.map((p) => p.cents) },
      `withdraw(${capacity}): shard 0 first, each bucket oldest first`,
    );
    this.shake.refundedCount += expected.length;
    this.shake.refundedCents += sum(expected.map((p) => p.cents));
  }

  /** Checks splitShares' output per packet: exact sums, shares >= 1, and the shares createGroup + open
   *  would pay a packet of that shard from the same stream state. */
  split(items: Array<[packetId: number, total: number, shares: number]>, shares: number[][]): void {
    items.forEach(([id, total, count], k) => {
      const got = shares[k];
      const label = `split of packet ${id} (${total} cents, ${count} shares)`;
      assert.equal(sum(got), total, `${label}: the shares add up to the total`);
      assert.ok(
        got.every((c) => c >= 1),
        `${label}: every share >= 1 cent`,
      );
      const rng = this.streamOf(id);
      let expected: number[];
      if (this.splitMode === SplitMode.LineSegment) expected = Array.from(lineSegmentSplit(rng, total, count));
      else {
        expected = [];
        let left = total;
        for (let r = count; r >= 1; r--) {
          const c = doubleMeanShare(rng, left, r); // what open() pays with r shares and `left` cents left
          expected.push(c);
          left -= c;
        }
      }
      assert.deepEqual(got, expected, `${label}: the shares createGroup + open would pay from this stream state`);
    });
  }

  /** Checks a shake batch against the FIFO buckets. */
  shakeBatch(users: number[], status: number[], ids: number[], cents: number[]): void {
    users.forEach((u, i) => {
      const next = this.buckets[u % this.shards].shift();
      assert.deepEqual([status[i], ids[i], cents[i]], next ? [1, next.id, next.cents] : [0, 0, 0], `shake of user ${u}`);
      if (next) {
        this.shake.paidCount++;
        this.shake.paidCents += next.cents;
      }
    });
  }

  createStatus(spec: GroupSpec): CreateStatus {
    const r = spec.recipients;
    if (r.length === 0 || r.length > 1000 || new Set(r).size !== r.length) return CreateStatus.BadRecipients;
    if (spec.shares === 0 || spec.shares > 1000 || spec.shares > r.length) return CreateStatus.BadShareCount;
    if (spec.total === 0 || spec.total > MAX_PACKET_CENTS) return CreateStatus.BadTotal;
    if (spec.total < spec.shares) return CreateStatus.TotalBelowShares;
    return CreateStatus.Ok;
  }

  create(specs: GroupSpec[], status: number[], ids: number[]): void {
    specs.forEach((spec, i) => {
      const expected = this.createStatus(spec);
      const id = expected === CreateStatus.Ok ? this.nextGroupId++ : 0;
      assert.deepEqual([status[i], ids[i]], [expected, id], `create ${JSON.stringify(spec)}`);
      if (id === 0) return;
      this.groupPackets++;
      this.packets.set(id, {
        id,
        sender: spec.sender ?? 1,
        total: spec.total,
        shares: spec.shares,
        recipients: spec.recipients,
        expiresAt: spec.expiresAt as number,
        opened: new Map(),
        expired: false,
        refunded: 0,
        plan: this.splitMode === SplitMode.LineSegment ? lineSegmentSplit(this.streamOf(id), spec.total, spec.shares) : null,
      });
      this.group.createdCount += spec.shares;
      this.group.createdCents += spec.total;
    });
  }

  open(pairs: Array<[number, number]>, nowMs: number, status: number[], cents: number[]): void {
    pairs.forEach(([user, id], i) => {
      const p = this.packets.get(id);
      const label = `open(user ${user}, packet ${id}) at ${nowMs}`;
      let expected: OpenStatus;
      if (!p) expected = id < this.evictedBelow[id % this.shards] ? OpenStatus.Expired : OpenStatus.UnknownPacket;
      else if (!p.recipients.includes(user)) expected = OpenStatus.NotRecipient;
      else if (p.opened.has(user)) expected = OpenStatus.Repeat;
      else if (p.expired || nowMs >= p.expiresAt) expected = OpenStatus.Expired;
      else if (p.opened.size === p.shares) expected = OpenStatus.Empty;
      else expected = OpenStatus.Ok;
      assert.equal(status[i], expected, `${label}: status`);
      if (expected === OpenStatus.Repeat) assert.equal(cents[i], p?.opened.get(user), `${label}: a repeat returns the same share`);
      else if (expected !== OpenStatus.Ok) assert.equal(cents[i], 0, `${label}: no cents without a share`);
      else if (p) {
        const left = p.total - sum(p.opened.values());
        const sharesLeft = p.shares - p.opened.size;
        assert.ok(cents[i] >= 1, `${label}: share ${cents[i]} is at least one cent`);
        assert.ok(cents[i] <= left - (sharesLeft - 1), `${label}: share ${cents[i]} leaves a cent for each of ${sharesLeft - 1} later shares of ${left}`);
        if (sharesLeft === 1) assert.equal(cents[i], left, `${label}: the last share takes the rest`);
        const expected = p.plan !== null ? p.plan[p.opened.size] : doubleMeanShare(this.streamOf(id), left, sharesLeft);
        assert.equal(cents[i], expected, `${label}: the share the packet's shard stream gives`);
        p.opened.set(user, cents[i]);
        this.group.paidCount++;
        this.group.paidCents += cents[i];
      }
    });
  }

  expire(nowMs: number, capacity: number, force: number[], refunds: Refund[]): void {
    const due = [...this.packets.values()]
      .filter((p) => !p.expired && (p.expiresAt <= nowMs || force.includes(p.id)))
      .sort((a, b) => a.id - b.id)
      .slice(0, capacity);
    const expected = due.map((p) => ({
      packetId: p.id,
      sender: p.sender,
      cents: p.total - sum(p.opened.values()),
      shares: p.shares - p.opened.size,
    }));
    assert.deepEqual(refunds, expected, `expire at ${nowMs} (capacity ${capacity}, force ${force}): refunds once, ascending ids`);
    for (const r of expected) {
      const p = this.packets.get(r.packetId) as ModelPacket;
      p.expired = true;
      p.refunded = r.cents;
      this.group.refundedCount += r.shares;
      this.group.refundedCents += r.cents;
    }
  }

  /** Drops what `evict(beforeMs)` must drop; returns the ids, ascending. */
  evict(beforeMs: number, dropped: number): number[] {
    const ids = [...this.packets.values()].filter((p) => p.expired && p.expiresAt <= beforeMs).map((p) => p.id);
    assert.equal(dropped, ids.length, `evict(${beforeMs}) drops every expired packet due by then`);
    for (const id of ids) {
      this.packets.delete(id);
      const shard = id % this.shards;
      this.evictedBelow[shard] = Math.max(this.evictedBelow[shard], id + 1);
    }
    return ids.sort((a, b) => a - b);
  }

  totals(): Totals {
    const build = (f: Flow) => ({
      created: { count: f.createdCount, cents: f.createdCents },
      paid: { count: f.paidCount, cents: f.paidCents },
      remaining: { count: f.createdCount - f.paidCount - f.refundedCount, cents: f.createdCents - f.paidCents - f.refundedCents },
      refunded: { count: f.refundedCount, cents: f.refundedCents },
    });
    return { shake: build(this.shake), group: build(this.group), groupPackets: this.groupPackets };
  }
}

export function sum(xs: Iterable<number>): number {
  let s = 0;
  for (const x of xs) s += x;
  return s;
}
