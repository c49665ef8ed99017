// The pure-TypeScript packet engine: same semantics and same random draws as the native engine
// (docs/engine.md). Lives in one JavaScript heap, so it is not shared across worker threads.
// Every method answers synchronously; each batch is checked whole before any state changes.
import { getRandomValues } from 'node:crypto';
import { checkF64Array, checkFinite, checkTime, checkLength, checkOut, checkRule, checkU32, checkU32Array, fail, resolveOptions } from './check.ts';
import { createStatusOf } from './create-rules.ts';
import { adoptShakePackets, drawAmounts, splitShares, withdrawShakePackets } from './ts-cluster.ts';
import { restoreInto } from './ts-restore.ts';
import { doubleMeanShare, lineSegmentSplit } from './split.ts';
import { GroupPacket } from './ts-group.ts';
import { EngineState } from './ts-state.ts';
import {
  CreateStatus,
  OpenStatus,
  SplitMode,
  type AmountRule,
  type CreateBatch,
  type CreateOut,
  type Engine,
  type EngineOptions,
  type EngineSnapshot,
  type OpenOut,
  type PacketDetails,
  type RefundOut,
  type ReleaseOut,
  type ShakeOut,
  type SupplyOptions,
  type SupplyState,
  type Totals,
} from './types.ts';

function entropySeed(): number {
  return getRandomValues(new Uint32Array(1))[0];
}

export class TsEngine implements Engine {
  readonly kind = 'ts' as const;
  readonly sharedAcrossThreads = false;
  private state: EngineState;
  /** Options as given, so that `reset()` without options starts over the same way. */
  private given: EngineOptions;

  constructor(options: EngineOptions = {}) {
    this.state = new EngineState(resolveOptions(options, entropySeed));
    this.given = { ...options };
  }

  get shardCount(): number {
    return this.state.options.shards;
  }

  startSupply(opts: SupplyOptions): void {
    if (opts == null || typeof opts !== 'object') fail('supply options must be an object');
    const total = checkU32('total', opts.total);
    const ratePerSecond = checkFinite('ratePerSecond', opts.ratePerSecond);
    if (ratePerSecond < 0) fail(`ratePerSecond must not be negative, got ${ratePerSecond}`);
    const rule = checkRule(opts.rule);
    const values = rule.kind === 'list' ? Uint32Array.from(rule.values) : null;
    this.state.supply = { total, ratePerSecond, released: 0, rule, active: true, values };
  }

  stopSupply(): void {
    if (this.state.supply) this.state.supply.active = false;
  }

  supplyState(): SupplyState | null {
    const s = this.state.supply;
    if (!s) return null;
    const rule = s.rule.kind === 'range' ? { ...s.rule } : { kind: 'list' as const, values: [...s.rule.values] };
    return { total: s.total, ratePerSecond: s.ratePerSecond, released: s.released, rule, active: s.active };
  }

  releaseSupply(count: number, out: ReleaseOut): number {
    checkU32('count', count);
    if (out == null) fail('out is required');
    const ids = checkOut('out.ids', out.ids, Uint32Array, count);
    const cents = checkOut('out.cents', out.cents, Uint32Array, count);
    const st = this.state;
    const s = st.supply;
    if (!s?.active) return 0;
    const n = Math.min(count, s.total - s.released);
    const rng = st.streams[0];
    const { rule, values } = s;
    for (let i = 0; i < n; i++) {
      const amount = values !== null ? values[rng.uniform(0, values.length - 1)] : rng.uniform((rule as { min: number }).min, (rule as { max: number }).max);
      const id = st.nextShakeId++;
      st.buckets.release(id, amount);
      ids[i] = id;
      cents[i] = amount;
    }
    s.released += n;
    return n;
  }

  shake(users: Uint32Array, out: ShakeOut): void {
    const u = checkU32Array('users', users);
    const n = u.length;
    if (out == null) fail('out is required');
    checkOut('out.status', out.status, Uint8Array, n);
    checkOut('out.packetIds', out.packetIds, Uint32Array, n);
    checkOut('out.cents', out.cents, Uint32Array, n);
    this.state.buckets.shake(u, n, out);
  }

  createGroup(batch: CreateBatch, out: CreateOut): void {
    if (batch == null || out == null) fail('batch and out are required');
    const senders = checkU32Array('senders', batch.senders);
    const n = senders.length;
    const totals = checkU32Array('totalCents', batch.totalCents);
    checkLength('totalCents', totals, n);
    const shares = checkU32Array('shareCounts', batch.shareCounts);
    checkLength('shareCounts', shares, n);
    const offsets = checkU32Array('recipientOffsets', batch.recipientOffsets);
    checkLength('recipientOffsets', offsets, n + 1);
    const recipients = checkU32Array('recipients', batch.recipients);
    const expiresAt = checkF64Array('expiresAt', batch.expiresAt);
    checkLength('expiresAt', expiresAt, n);
    for (let i = 0; i < n; i++) {
      checkFinite(`expiresAt[${i}]`, expiresAt[i]);
      if (offsets[i] > offsets[i + 1]) fail(`recipientOffsets must not decrease (item ${i})`);
    }
    if (offsets[n] > recipients.length) fail(`recipientOffsets[${n}] = ${offsets[n]} is past the ${recipients.length} recipients`);
    const status = checkOut('out.status', out.status, Uint8Array, n);
    const packetIds = checkOut('out.packetIds', out.packetIds, Uint32Array, n);

    const st = this.state;
    const mode = st.options.splitMode;
    for (let i = 0; i < n; i++) {
      const lo = offsets[i];
      const hi = offsets[i + 1];
      const shareCount = shares[i];
      const total = totals[i];
      const code = createStatusOf(recipients, lo, hi, shareCount, total);
      status[i] = code;
      if (code !== CreateStatus.Ok) {
        packetIds[i] = 0;
        continue;
      }
      const id = st.nextGroupId++;
      const p = new GroupPacket(id, senders[i], total, shareCount, mode, recipients, lo, hi, expiresAt[i]);
      if (mode === SplitMode.LineSegment) p.plan = lineSegmentSplit(st.streamOf(id), total, shareCount);
      st.groups.set(id, p);
      st.heap.push(p.expiresAt, id);
      const g = st.group;
      g.packets++;
      g.createdCount += shareCount;
      g.createdCents += total;
      g.remainingCount += shareCount;
      g.remainingCents += total;
      packetIds[i] = id;
    }
  }

  open(users: Uint32Array, packetIds: Uint32Array, nowMs: number, out: OpenOut): void {
    const u = checkU32Array('users', users);
    const n = u.length;
    const ids = checkU32Array('packetIds', packetIds);
    checkLength('packetIds', ids, n);
    checkTime('nowMs', nowMs);
    if (out == null) fail('out is required');
    const status = checkOut('out.status', out.status, Uint8Array, n);
    const cents = checkOut('out.cents', out.cents, Uint32Array, n);
    const st = this.state;
    const g = st.group;
    for (let i = 0; i < n; i++) {
      const p = st.groups.get(ids[i]);
      let code: OpenStatus;
      let amount = 0;
      if (p === undefined) code = ids[i] < st.evictedBelow[ids[i] % st.options.shards] ? OpenStatus.Expired : OpenStatus.UnknownPacket;
      else {
        const position = p.positionOf(u[i]);
        const already = position < 0 ? 0 : p.openedBy(position);
        if (position < 0) code = OpenStatus.NotRecipient;
        else if (already !== 0) {
          code = OpenStatus.Repeat;
          amount = already;
        } else if (p.expired || nowMs >= p.expiresAt) code = OpenStatus.Expired;
        else if (p.remainingShares === 0) code = OpenStatus.Empty;
        else {
          amount = p.plan !== null ? p.plan[p.openedCount] : doubleMeanShare(st.streamOf(p.id), p.remainingCents, p.remainingShares);
          p.pay(position, amount);
          g.paidCount++;
          g.paidCents += amount;
          g.remainingCount--;
          g.remainingCents -= amount;
          code = OpenStatus.Ok;
        }
      }
      status[i] = code;
      cents[i] = amount;
    }
  }

  expire(nowMs: number, out: RefundOut, force?: Uint32Array): number {
    checkTime('nowMs', nowMs);
    if (out == null) fail('out is required');
    const outIds = checkOut('out.packetIds', out.packetIds, Uint32Array, 0);
    const cap = outIds.length;
    const outSenders = checkOut('out.senders', out.senders, Uint32Array, cap);
    const outCents = checkOut('out.cents', out.cents, Uint32Array, cap);
    const outShares = checkOut('out.shares', out.shares, Uint32Array, cap);
    if (outSenders.length !== cap || outCents.length !== cap || outShares.length !== cap) {
      fail('out.packetIds, out.senders, out.cents and out.shares must have the same length');
    }
    const forced = force == null ? null : checkU32Array('force', force); // null: none, as in the addon

    const st = this.state;
    const due: number[] = [];
    while (st.heap.size > 0 && st.heap.peekAt() <= nowMs) {
      const id = st.heap.pop();
      const p = st.groups.get(id); // undefined: expired by force, then evicted, before its time came
      if (p !== undefined && !p.expired) due.push(id);
    }
    if (forced !== null) {
      const extra = new Set<number>();
      for (let i = 0; i < forced.length; i++) {
        const p = st.groups.get(forced[i]);
        if (p !== undefined && !p.expired && !(p.expiresAt <= nowMs)) extra.add(p.id);
      }
      for (const id of extra) due.push(id);
    }
    due.sort((a, b) => a - b);
    const taken = Math.min(cap, due.length);
    const g = st.group;
    for (let k = 0; k < taken; k++) {
      const p = st.groups.get(due[k]) as GroupPacket;
      const cents = p.remainingCents;
      const shares = p.remainingShares;
      p.expired = true;
      p.refundedCents = cents;
      p.remainingCents = 0;
      p.remainingShares = 0;
      p.plan = null;
      st.held.push(p.expiresAt, p.id);
      g.remainingCount -= shares;
      g.remainingCents -= cents;
      g.refundedCount += shares;
      g.refundedCents += cents;
      outIds[k] = p.id;
      outSenders[k] = p.sender;
      outCents[k] = cents;
      outShares[k] = shares;
    }
    // Due packets that did not fit go back on the heap; forced ones not yet due never left it.
    for (let k = taken; k < due.length; k++) {
      const p = st.groups.get(due[k]) as GroupPacket;
      if (p.expiresAt <= nowMs) st.heap.push(p.expiresAt, p.id);
    }
    return taken;
  }

  evict(beforeMs: number): number {
    checkTime('beforeMs', beforeMs);
    const st = this.state;
    let dropped = 0;
    while (st.held.size > 0 && st.held.peekAt() <= beforeMs) {
      const id = st.held.pop();
      st.groups.delete(id);
      const shard = id % st.options.shards;
      st.evictedBelow[shard] = Math.max(st.evictedBelow[shard], Math.min(id + 1, 0xffff_ffff));
      dropped++;
    }
    return dropped;
  }

  details(packetId: number): PacketDetails | null {
    checkU32('packetId', packetId);
    const p = this.state.groups.get(packetId);
    return p === undefined ? null : p.details();
  }

  totals(): Totals {
    const b = this.state.buckets;
    const g = this.state.group;
    return {
      shake: {
        created: { count: b.createdCount, cents: b.createdCents },
        paid: { count: b.paidCount, cents: b.paidCents },
        remaining: { count: b.remainingCount, cents: b.remainingCents },
        refunded: { count: b.refundedCount, cents: b.refundedCents },
      },
      group: {
        created: { count: g.createdCount, cents: g.createdCents },
        paid: { count: g.paidCount, cents: g.paidCents },
        remaining: { count: g.remainingCount, cents: g.remainingCents },
        refunded: { count: g.refundedCount, cents: g.refundedCents },
      },
      groupPackets: g.packets,
    };
  }

  drawAmounts(rule: AmountRule, out: Uint32Array): void {
    drawAmounts(this.state, rule, out);
  }

  adoptShakePackets(ids: Uint32Array, cents: Uint32Array): void {
    adoptShakePackets(this.state, ids, cents);
  }

  withdrawShakePackets(out: ReleaseOut): number {
    return withdrawShakePackets(this.state, out);
  }

  splitShares(packetIds: Uint32Array, totalCents: Uint32Array, shareCounts: Uint32Array, out: Uint32Array): void {
    splitShares(this.state, packetIds, totalCents, shareCounts, out);
  }

  snapshotRestore(snapshot: EngineSnapshot): void {
    const fresh = new EngineState(this.state.options);
    restoreInto(fresh, snapshot);
    this.state = fresh;
  }

  /** Drops all state. Without options the engine's options are reused (a seed that was drawn from
   *  the OS is drawn again), as the native engine does. */
  reset(options?: EngineOptions): void {
    const given = options === undefined ? this.given : { ...options };
    this.state = new EngineState(resolveOptions(given, entropySeed));
    this.given = given;
  }
}
