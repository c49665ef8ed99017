// The engine of an access node in cluster mode (docs/cluster.md). It implements the same batch
// interface as the single-server engines, so the batcher, the admin API and the sweeps do not
// change; what it does underneath:
// - shakes run on the node's own engine, whose buckets hold packets leased from Redis (LeaseClock):
//   a miss costs no Redis call; a hit is confirmed with one `hb_sup_hit` call per batch before the
//   batcher commits it to the node's journal and tells the user;
// - group packets live on Redis: creates (the split computed here by the node's engine), opens,
//   expiry and details are function calls, one pipeline per master per batch (ClusterStore);
// - a move whose outcome Redis did not confirm is answered Unavailable; if it may have happened
//   anyway (in doubt) it is kept as a doubt and settled against Redis later (Settler).
import {
  CreateStatus,
  type CountCents,
  type CreateBatch,
  type CreateOut,
  type Engine,
  type EngineOptions,
  type EngineSnapshot,
  type FlowTotals,
  type OpenOut,
  OpenStatus,
  type PacketDetails,
  type RefundOut,
  type ReleaseOut,
  type ShakeOut,
  ShakeStatus,
  type SplitMode,
  type SupplyOptions,
  type SupplyState,
  type Totals,
  type AmountRule,
} from '../engine/types.ts';
import { createStatusOf } from '../engine/create-rules.ts';
import type { Doubt } from '../ledger/types.ts';
import { CommonStatus } from '../protocol/codes.ts';
import { GROUP_BUCKETS, groupBucketKey, groupBucketOf, IDS_KEY, SUPPLY_KEY, userBucketKey, userBucketOf } from './keys.ts';
import type { Call, ClusterStore } from './store.ts';

export interface ClusterEngineOptions {
  local: Engine;
  store: ClusterStore;
  node: string;
  splitMode: SplitMode;
  /** How long Redis keeps an expired packet's keys (details, late opens). */
  retainExpiredMs: number;
  /** Moves in doubt: the node journals them and settles them later. */
  onDoubts(doubts: Doubt[]): void;
  log(message: string): void;
}

/** Ids of group packets are handed out cluster-wide in blocks of this many (one INCRBY per refill, for as many blocks as a batch needs). */
const ID_BLOCK = 64;

const zero = (): CountCents => ({ count: 0, cents: 0 });

export class ClusterEngine implements Engine {
  readonly kind: Engine['kind'];
  readonly shardCount: number;
  readonly sharedAcrossThreads = false;
  /** The live nodes, sorted, as the last lease call saw them (which buckets this node sweeps). */
  liveNodes: string[] = [];
  private readonly local: Engine;
  private readonly store: ClusterStore;
  private readonly node: string;
  private ids: { next: number; end: number } = { next: 0, end: 0 };
  private idsRefill: Promise<void> | null = null;
  /** What this node did to group packets (its share of the cluster's totals). */
  private readonly group = { created: zero(), paid: zero(), refunded: zero(), packets: 0 };

  constructor(private readonly o: ClusterEngineOptions) {
    this.local = o.local;
    this.store = o.store;
    this.node = o.node;
    this.kind = o.local.kind;
    this.shardCount = o.local.shardCount;
  }

  // ---- the supply (the LeaseClock fills the buckets; these are the admin's calls) ---------------

  async startSupply(opts: SupplyOptions): Promise<void> {
    await this.store.one({ fn: 'hb_sup_start', key: SUPPLY_KEY, args: [opts.total, opts.ratePerSecond, JSON.stringify(opts.rule)], write: true });
  }

  async stopSupply(): Promise<void> {
    await this.store.one({ fn: 'hb_sup_stop', key: SUPPLY_KEY, args: [], write: true });
  }

  async supplyState(): Promise<SupplyState | null> {
    const f = toFields((await this.store.one({ fn: 'hb_sup_state', key: SUPPLY_KEY, args: [], write: false })) as string[]);
    if (f.rule === undefined) return null;
    return {
      total: Number(f.total),
      ratePerSecond: Number(f.rate),
      released: Number(f.released ?? 0),
      rule: JSON.parse(f.rule) as AmountRule,
      active: f.active === '1',
    };
  }

  /** Cluster mode releases by leasing (LeaseClock): the caller's clock gets nothing here. */
  releaseSupply(): number {
    return 0;
  }

  drawAmounts(rule: AmountRule, out: Uint32Array) {
    return this.local.drawAmounts(rule, out);
  }

  adoptShakePackets(ids: Uint32Array, cents: Uint32Array) {
    return this.local.adoptShakePackets(ids, cents);
  }

  withdrawShakePackets(out: ReleaseOut) {
    return this.local.withdrawShakePackets(out);
  }

  splitShares(packetIds: Uint32Array, totalCents: Uint32Array, shareCounts: Uint32Array, out: Uint32Array) {
    return this.local.splitShares(packetIds, totalCents, shareCounts, out);
  }

  // ---- shakes ------------------------------------------------------------------------------

  shake(users: Uint32Array, out: ShakeOut): Promise<void> | undefined {
    this.local.shake(users, out); // both local engines answer at once
    let hits = 0;
    for (let i = 0; i < users.length; i++) if (out.status[i] === ShakeStatus.Hit) hits++;
    if (hits === 0) return undefined; // the miss path: nothing leaves the node
    return this.confirmHits(users, out);
  }

  /** One hb_sup_hit for the batch's hits: a hit stands only once Redis (and a replica) has it. */
  private async confirmHits(users: Uint32Array, out: ShakeOut): Promise<void> {
    const at: number[] = [];
    const args: Array<string | number> = [this.node];
    for (let i = 0; i < users.length; i++) {
      if (out.status[i] !== ShakeStatus.Hit) continue;
      at.push(i);
      args.push(out.packetIds[i], users[i], out.cents[i]);
    }
    const [r] = await this.store.run([{ fn: 'hb_sup_hit', key: SUPPLY_KEY, args, write: true }]);
    if (r.ok) {
      const paid = r.value as number[];
      at.forEach((i, k) => {
        if (paid[k] === 1) return;
        // not this node's to pay any more (its lease was given back): for this user, a miss
        out.status[i] = ShakeStatus.Miss;
        out.packetIds[i] = 0;
        out.cents[i] = 0;
      });
      return;
    }
    const ids = new Uint32Array(at.length);
    const cents = new Uint32Array(at.length);
    const doubts: Doubt[] = [];
    const now = Date.now();
    at.forEach((i, k) => {
      ids[k] = out.packetIds[i];
      cents[k] = out.cents[i];
      if (r.inDoubt) doubts.push({ kind: 'hit', packetId: out.packetIds[i], user: users[i], cents: out.cents[i], at: now });
      out.status[i] = CommonStatus.Unavailable;
      out.packetIds[i] = 0;
      out.cents[i] = 0;
    });
    // Refused: nothing happened and the packets are still this node's: back into the buckets. In
    // doubt: the settler looks them up and puts back those Redis did not pay.
    if (r.inDoubt) this.o.onDoubts(doubts);
    else await this.local.adoptShakePackets(ids, cents);
  }

  // ---- group packets -----------------------------------------------------------------------

  private async takeIds(n: number): Promise<number[]> {
    const out: number[] = [];
    while (out.length < n) {
      if (this.ids.next < this.ids.end) {
        out.push(this.ids.next++);
        continue;
      }
      // one round trip (a write, with its WAIT) for all the ids still wanted, not one per block
      this.idsRefill ??= this.refillIds(n - out.length).finally(() => {
        this.idsRefill = null;
      });
      await this.idsRefill;
    }
    return out;
  }

  private async refillIds(wanted: number): Promise<void> {
    const block = Math.ceil(wanted / ID_BLOCK) * ID_BLOCK;
    const last = Number(await this.store.one({ fn: 'INCRBY', key: IDS_KEY, args: [block], write: true, plain: true }));
    this.ids = { next: last - block + 1, end: last + 1 };
  }

  async createGroup(batch: CreateBatch, out: CreateOut): Promise<void> {
    const n = batch.senders.length;
    const ok: number[] = [];
    for (let i = 0; i < n; i++) {
      const lo = batch.recipientOffsets[i];
      const hi = batch.recipientOffsets[i + 1];
      out.status[i] = createStatusOf(batch.recipients, lo, hi, batch.shareCounts[i], batch.totalCents[i]);
      out.packetIds[i] = 0;
      if (out.status[i] === CreateStatus.Ok) ok.push(i);
    }
    if (ok.length === 0) return;
    let ids: number[];
    try {
      ids = await this.takeIds(ok.length);
    } catch (err) {
      this.o.log(`no group packet ids from Redis: ${(err as Error).message}`);
      for (const i of ok) out.status[i] = CommonStatus.Unavailable;
      return;
    }
    const packetIds = Uint32Array.from(ids);
    const totals = Uint32Array.from(ok, (i) => batch.totalCents[i]);
    const counts = Uint32Array.from(ok, (i) => batch.shareCounts[i]);
    const shares = new Uint32Array(counts.reduce((a, b) => a + b, 0));
    await this.local.splitShares(packetIds, totals, counts, shares);
    const now = Date.now();
    const calls: Call[] = [];
    let at = 0;
    ok.forEach((i, k) => {
      const recipients = Array.from(batch.recipients.subarray(batch.recipientOffsets[i], batch.recipientOffsets[i + 1]));
      const cover = batch.covers?.[i] ?? null;
      const split = Array.from(shares.subarray(at, at + counts[k]));
      at += counts[k];
      calls.push({
        fn: 'hb_grp_create',
        key: groupBucketKey(groupBucketOf(ids[k])),
        args: [
          ids[k],
          batch.senders[i],
          batch.totalCents[i],
          batch.shareCounts[i],
          this.o.splitMode,
          batch.expiresAt[i],
          now,
          this.node,
          this.o.retainExpiredMs,
          cover?.title ?? '',
          cover?.colour ?? 0,
          cover?.story ?? '',
          recipients.length,
          ...recipients,
          ...split,
        ],
        write: true,
      });
    });
    const results = await this.store.run(calls);
    const doubts: Doubt[] = [];
    ok.forEach((i, k) => {
      const r = results[k];
      if (r.ok && (r.value === 1 || r.value === 2)) {
        out.packetIds[i] = ids[k];
        this.group.packets++;
        this.group.created.count += batch.shareCounts[i];
        this.group.created.cents += batch.totalCents[i];
        return;
      }
      out.status[i] = CommonStatus.Unavailable;
      if (!r.ok && r.inDoubt) {
        out.packetIds[i] = ids[k];
        doubts.push({ kind: 'create', packetId: ids[k], user: batch.senders[i], cents: batch.totalCents[i], at: now });
      } else if (r.ok) this.o.log(`group packet id ${ids[k]} already used by another packet: refused`);
    });
    if (doubts.length > 0) this.o.onDoubts(doubts);
  }

  async open(users: Uint32Array, packetIds: Uint32Array, nowMs: number, out: OpenOut): Promise<void> {
    const byBucket = new Map<number, number[]>();
    for (let i = 0; i < users.length; i++) {
      const b = groupBucketOf(packetIds[i]);
      const list = byBucket.get(b);
      if (list) list.push(i);
      else byBucket.set(b, [i]);
    }
    const buckets = [...byBucket];
    const calls: Call[] = buckets.map(([b, items]) => ({
      fn: 'hb_grp_open',
      key: groupBucketKey(b),
      args: [nowMs, ...items.flatMap((i) => [packetIds[i], users[i]])],
      write: true,
    }));
    const results = await this.store.run(calls);
    const doubts: Doubt[] = [];
    const done: Array<[number, number]> = [];
    buckets.forEach(([, items], k) => {
      const r = results[k];
      items.forEach((i, j) => {
        if (r.ok) {
          const v = r.value as number[];
          out.status[i] = v[2 * j];
          out.cents[i] = v[2 * j + 1];
          if (out.status[i] === OpenStatus.Ok) {
            this.group.paid.count++;
            this.group.paid.cents += out.cents[i];
          }
          done.push([users[i], packetIds[i]]);
        } else {
          out.status[i] = CommonStatus.Unavailable;
          out.cents[i] = 0;
          if (r.inDoubt) doubts.push({ kind: 'share', packetId: packetIds[i], user: users[i], cents: 0, at: nowMs });
        }
      });
    });
    if (doubts.length > 0) this.o.onDoubts(doubts);
    if (done.length > 0) void this.clearInboxes(done);
  }

  /** Answered opens no longer wait in their users' inboxes (best effort: a login skips expired ones anyway). */
  private async clearInboxes(done: Array<[number, number]>): Promise<void> {
    const byBucket = new Map<number, Array<number>>();
    for (const [user, packetId] of done) {
      const b = userBucketOf(user);
      const list = byBucket.get(b) ?? [];
      list.push(user, packetId);
      byBucket.set(b, list);
    }
    await this.store.run([...byBucket].map(([b, args]) => ({ fn: 'hb_usr_done', key: userBucketKey(b), args, write: false })));
  }

  /** The buckets this node sweeps: b with b mod (live nodes) = its place among them (all when alone or unknown). */
  private myBuckets(): number[] {
    const index = this.liveNodes.indexOf(this.node);
    const all = Array.from({ length: GROUP_BUCKETS }, (_, b) => b);
    if (index < 0 || this.liveNodes.length <= 1) return all;
    return all.filter((b) => b % this.liveNodes.length === index);
  }

  async expire(nowMs: number, out: RefundOut, force?: Uint32Array | null): Promise<number> {
    const capacity = out.packetIds.length;
    const forced = new Map<number, number[]>();
    for (const id of force ?? []) {
      const b = groupBucketOf(id);
      forced.set(b, [...(forced.get(b) ?? []), id]);
    }
    // "expire everything" (the admin's, with no ids) sweeps every bucket, not only this node's
    const everything = nowMs >= 8e15;
    let pending = [...new Set([...(everything ? Array.from({ length: GROUP_BUCKETS }, (_, b) => b) : this.myBuckets()), ...forced.keys()])];
    let written = 0;
    const doubts: Doubt[] = [];
    while (pending.length > 0 && written < capacity) {
      // A call expires the ids it names and up to `limit` more that are due, all at once in Redis:
      // together the calls may never ask for more than `out` has room for, or the surplus would be
      // refunded in Redis and told to no journal (a 1M run lost 42 refunds so before this).
      let room = capacity - written;
      const share = Math.max(1, Math.floor(room / pending.length));
      const called: Array<{ b: number; limit: number }> = [];
      const calls: Call[] = [];
      for (const b of pending) {
        if (room === 0) break;
        const ids = forced.get(b) ?? [];
        const named = ids.splice(0, room);
        const limit = Math.min(share, room - named.length);
        room -= named.length + limit;
        called.push({ b, limit });
        calls.push({ fn: 'hb_grp_expire', key: groupBucketKey(b), args: [this.node, nowMs, limit, this.o.retainExpiredMs, ...named], write: true });
      }
      const results = await this.store.run(calls);
      // the buckets not called this round, and those that may hold more, go round again
      const again: number[] = pending.slice(called.length);
      called.forEach(({ b, limit }, k) => {
        const r = results[k];
        if (!r.ok) {
          if (r.inDoubt) doubts.push({ kind: 'refund', packetId: 0, user: b, cents: 0, at: nowMs });
          return;
        }
        const v = r.value as Array<string | number>;
        for (let j = 0; j + 3 < v.length && written < capacity; j += 4) {
          out.packetIds[written] = Number(v[j]);
          out.senders[written] = Number(v[j + 1]);
          out.cents[written] = Number(v[j + 2]);
          out.shares[written] = Number(v[j + 3]);
          this.group.refunded.count += Number(v[j + 3]);
          this.group.refunded.cents += Number(v[j + 2]);
          written++;
        }
        if ((limit > 0 && v.length / 4 >= limit) || (forced.get(b)?.length ?? 0) > 0) again.push(b); // it may hold more
      });
      pending = again;
    }
    if (doubts.length > 0) this.o.onDoubts(doubts);
    return written;
  }

  /** Redis drops an expired packet's keys --retain-expired-ms after its expiry by itself. */
  evict(): number {
    return 0;
  }

  async details(packetId: number): Promise<PacketDetails | null> {
    const reply = (await this.store.one({ fn: 'hb_grp_details', key: groupBucketKey(groupBucketOf(packetId)), args: [packetId], write: false })) as Array<
      string[]
    >;
    if (reply.length === 0) return null;
    const [meta, recipients, openers, cents] = reply;
    const f = toFields(meta);
    let best: number | null = null;
    let bestCents = -1;
    const opened = openers.map((user, order) => {
      const c = Number(cents[order]);
      if (c > bestCents) {
        bestCents = c;
        best = Number(user);
      }
      return { user: Number(user), cents: c, order };
    });
    const expired = f.expired === '1';
    const total = Number(f.total);
    const openedCents = Number(f.openedCents);
    const count = Number(f.count);
    return {
      id: packetId,
      sender: Number(f.sender),
      totalCents: total,
      shareCount: count,
      splitMode: Number(f.mode) as SplitMode,
      recipients: recipients.map(Number),
      expiresAt: Number(f.expiresAt),
      opened,
      remainingCents: expired ? 0 : total - openedCents,
      remainingShares: expired ? 0 : count - opened.length,
      refundedCents: expired ? Number(f.refunded) : 0,
      expired,
      bestLuck: best,
      cover: f.title || f.story || Number(f.colour) ? { title: f.title ?? '', colour: Number(f.colour ?? 0), story: f.story ?? '' } : undefined,
    };
  }

  /** This node's share: shake totals of its own buckets (refunded = given back to the pool), and
   *  the group packets it created, paid out and refunded (remaining = created - paid - refunded, so
   *  one node's may be negative: only the sum over every node is the cluster's). */
  async totals(): Promise<Totals> {
    const local = await this.local.totals();
    const g = this.group;
    const remaining = { count: g.created.count - g.paid.count - g.refunded.count, cents: g.created.cents - g.paid.cents - g.refunded.cents };
    const group: FlowTotals = { created: { ...g.created }, paid: { ...g.paid }, remaining, refunded: { ...g.refunded } };
    return { shake: local.shake, group, groupPackets: g.packets };
  }

  /** A node journal restores nothing: the local engine starts empty and leases again. */
  async snapshotRestore(snapshot: EngineSnapshot): Promise<void> {
    await this.local.snapshotRestore(snapshot);
  }

  /** Start over: what the local buckets hold goes back to the cluster's pool first (it is still
   *  this node's lease in Redis), so that a rebuild after a journal failure loses no packet. */
  async reset(options?: EngineOptions): Promise<void> {
    try {
      await this.store.one({ fn: 'hb_sup_return', key: SUPPLY_KEY, args: [this.node], write: true });
    } catch (err) {
      this.o.log(`could not give this node's leases back (they return when it is seen dead): ${(err as Error).message}`);
    }
    await this.local.reset(options);
  }
}

/** A flat [k, v, k, v, ...] reply as an object. */
export function toFields(flat: Array<string | number>): Record<string, string> {
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) f[String(flat[i])] = String(flat[i + 1]);
  return f;
}
