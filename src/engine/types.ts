// The one interface both packet engines implement (native Rust addon and pure TypeScript).
// Semantics, the random generator and the splitting algorithms are specified in docs/engine.md;
// both engines must give bit-identical results for the same seed and the same call sequence.
//
// Batch-shaped: typed arrays in, caller-owned typed arrays out, no object per request.
// Every method may return a Promise so that a shared store (e.g. Redis Cluster) can implement it later;
// callers must `await` (or check for a thenable) rather than assume a synchronous answer.
// The status codes and limits mirror native/core/src/types.rs; test/engine.constants.test.ts
// fails on any difference.

export type MaybePromise<T> = T | Promise<T>;

/** Result of one shake. */
export const ShakeStatus = {
  Miss: 0,
  Hit: 1,
} as const;
export type ShakeStatus = (typeof ShakeStatus)[keyof typeof ShakeStatus];

/** Result of one open of a group packet. Values are part of the wire protocol (docs/protocol.md). */
export const OpenStatus = {
  /** A new share was taken: money moved. */
  Ok: 0,
  /** This user had already opened this packet: the same share is returned, no money moves. */
  Repeat: 1,
  NotRecipient: 2,
  /** All shares are taken. */
  Empty: 3,
  /** The packet expired (its remainder was or will be refunded). */
  Expired: 4,
  UnknownPacket: 5,
} as const;
export type OpenStatus = (typeof OpenStatus)[keyof typeof OpenStatus];

/** Result of one create in a batch. */
export const CreateStatus = {
  Ok: 0,
  /** totalCents < shareCount: every share must get at least one cent. */
  TotalBelowShares: 1,
  /** shareCount is 0, above MAX_SHARES, or above the number of recipients. */
  BadShareCount: 2,
  /** totalCents is 0 or above MAX_PACKET_CENTS. */
  BadTotal: 3,
  /** A recipient appears twice, or there are no recipients / more than MAX_RECIPIENTS. */
  BadRecipients: 4,
} as const;
export type CreateStatus = (typeof CreateStatus)[keyof typeof CreateStatus];

export const SplitMode = {
  /** WeChat "double mean": at open time, random in [1, 2 x remaining average], the last takes the rest. */
  DoubleMean: 0,
  /** Line segment: count-1 distinct cut points on [1, total-1]; exchangeable (every position has the same odds). */
  LineSegment: 1,
} as const;
export type SplitMode = (typeof SplitMode)[keyof typeof SplitMode];

export const MAX_PACKET_CENTS = 100_000_000; // 1,000,000 yuan: keeps every share and 2 x average inside u32
export const MAX_SHARES = 1_000;
export const MAX_RECIPIENTS = 1_000;

/** How the amount of each shake packet is drawn. */
export type AmountRule =
  | { kind: 'range'; min: number; max: number } // uniform integer cents in [min, max], 1 <= min <= max <= MAX_PACKET_CENTS
  | { kind: 'list'; values: number[] }; // uniform pick from a non-empty list of positive integer cents

export interface EngineOptions {
  /** Number of shards (buckets and group-packet partitions). Default 64. */
  shards?: number;
  /** 32-bit seed for reproducible runs and tests. Omitted: seeded from the OS's entropy. */
  seed?: number;
  /** Splitting algorithm for new group packets. Default DoubleMean. */
  splitMode?: SplitMode;
}

export interface SupplyOptions {
  /** Total number of packets this supply will ever release. */
  total: number;
  /** Packets per second; informative for the engine, the caller's clock releases them. */
  ratePerSecond: number;
  rule: AmountRule;
}

export interface SupplyState {
  total: number;
  ratePerSecond: number;
  released: number;
  rule: AmountRule;
  active: boolean;
}

/** Caller-owned output of a supply release (the packets created, for the ledger; length >= count), or of a
 *  withdrawal of shake packets (both arrays of one length, the capacity). */
export interface ReleaseOut {
  ids: Uint32Array;
  cents: Uint32Array;
}

/** Caller-owned output of a shake batch; each array has at least `users.length` items. */
export interface ShakeOut {
  status: Uint8Array; // ShakeStatus
  packetIds: Uint32Array; // 0 on a miss
  cents: Uint32Array; // 0 on a miss
}

/** A batch of group-packet creations in compressed-row form: recipients of item i are
 *  recipients[recipientOffsets[i] .. recipientOffsets[i+1]). recipientOffsets has n+1 entries. */
export interface CreateBatch {
  senders: Uint32Array;
  totalCents: Uint32Array;
  shareCounts: Uint32Array;
  recipientOffsets: Uint32Array;
  recipients: Uint32Array;
  /** Absolute expiry time in ms since the epoch, per item. */
  expiresAt: Float64Array;
  /** Covers per item, for engines that keep packets where every access node reads them (cluster
   *  mode); the in-process engines ignore them (the server keeps covers itself). */
  covers?: ReadonlyArray<{ title: string; colour: number; story: string } | null>;
}

export interface CreateOut {
  status: Uint8Array; // CreateStatus
  /** the packet's id when Ok; when Unavailable, nonzero only for a cluster create in doubt (Redis may
   *  have made it under that id; the node's settler decides); else 0 */
  packetIds: Uint32Array;
}

export interface OpenOut {
  status: Uint8Array; // OpenStatus
  cents: Uint32Array; // the share for Ok and Repeat, else 0
}

/** Caller-owned output of an expiry sweep; arrays sized by the caller, `expire` returns how many were written. */
export interface RefundOut {
  packetIds: Uint32Array;
  senders: Uint32Array;
  cents: Uint32Array; // refunded remainder (may be 0 when the packet was fully opened)
  shares: Uint32Array; // shares left unopened
}

export interface CountCents {
  count: number;
  cents: number;
}

/** created = paid + remaining + refunded, in count and in cents, at every instant. */
export interface FlowTotals {
  created: CountCents;
  paid: CountCents;
  remaining: CountCents;
  refunded: CountCents;
}

export interface Totals {
  /** count = packets; cents = their amounts. refunded: withdrawn by withdrawShakePackets. */
  shake: FlowTotals;
  /** count = shares; cents = amounts. created.count is the sum of share counts of created packets. */
  group: FlowTotals;
  /** Number of group packets created (the share counts are in group.created.count). */
  groupPackets: number;
}

export interface PacketShare {
  user: number;
  cents: number;
  /** 0-based position in opening order. */
  order: number;
}

export interface PacketDetails {
  id: number;
  sender: number;
  totalCents: number;
  shareCount: number;
  splitMode: SplitMode;
  recipients: number[];
  expiresAt: number;
  opened: PacketShare[]; // in opening order
  remainingCents: number;
  remainingShares: number;
  refundedCents: number;
  expired: boolean;
  /** First (in opening order) of the largest shares opened so far; null before any open. */
  bestLuck: number | null;
  /** The cover, from engines that keep it with the packet (cluster mode); absent otherwise. */
  cover?: { title: string; colour: number; story: string };
}

/** Everything needed to rebuild an engine after a restart (built from the ledger). Not a hot path. */
export interface EngineSnapshot {
  nextShakeId: number; // next id a released shake packet gets
  nextGroupId: number; // next id a created group packet gets
  supply: SupplyState | null;
  shake: {
    createdCount: number;
    createdCents: number;
    paidCount: number;
    paidCents: number;
    /** Released and not yet won, in release order. */
    unpaidIds: number[];
    unpaidCents: number[];
  };
  groups: Array<{
    id: number;
    sender: number;
    totalCents: number;
    shareCount: number;
    splitMode: SplitMode;
    recipients: number[];
    expiresAt: number;
    opened: Array<{ user: number; cents: number }>; // in opening order
    expired: boolean;
    refundedCents: number;
  }>;
}

export interface Engine {
  readonly kind: 'native' | 'ts';
  readonly shardCount: number;
  /** True when the engine's state is shared by every worker thread of the process. */
  readonly sharedAcrossThreads: boolean;

  startSupply(opts: SupplyOptions): MaybePromise<void>;
  stopSupply(): MaybePromise<void>;
  supplyState(): MaybePromise<SupplyState | null>;
  /** Create up to `count` packets (capped by what the supply has left), spread round-robin over the shards.
   *  Returns how many were created; their ids and cents are written to `out`. */
  releaseSupply(count: number, out: ReleaseOut): MaybePromise<number>;

  shake(users: Uint32Array, out: ShakeOut): MaybePromise<void>;

  createGroup(batch: CreateBatch, out: CreateOut): MaybePromise<void>;
  open(users: Uint32Array, packetIds: Uint32Array, nowMs: number, out: OpenOut): MaybePromise<void>;
  /** Expire every packet with expiresAt <= nowMs, plus every id in `force` (if given), that is not yet expired.
   *  Each becomes one refund record in `out` (in ascending packet id order). Returns the number written;
   *  if `out` is too small, the rest stays unexpired for the next call. */
  expire(nowMs: number, out: RefundOut, force?: Uint32Array): MaybePromise<number>;

  /** Forget every expired packet whose expiresAt <= beforeMs (its money is settled; the ledger has it).
   *  Afterwards an open of it answers Expired and its details are null. Returns how many were dropped. */
  evict(beforeMs: number): MaybePromise<number>;

  details(packetId: number): MaybePromise<PacketDetails | null>;
  totals(): MaybePromise<Totals>;

  // Cluster mode (docs/engine.md, "Calls for cluster mode"): the shake packets of a node are leased
  // from a pool shared by the cluster, and group packets are split whole at create time.

  /** Fills every item of `out` with an amount drawn from `rule` on stream 0, in order, exactly as
   *  `releaseSupply` draws its packets' cents (and advancing stream 0 the same way). Creates nothing,
   *  changes no counter, needs no supply. An invalid rule is an EngineInputError (as in startSupply). */
  drawAmounts(rule: AmountRule, out: Uint32Array): MaybePromise<void>;
  /** Appends packets made elsewhere (leased from the cluster) to the shake buckets, round-robin from the
   *  cursor as `releaseSupply` places them, counted as created. Draws nothing; `nextShakeId` and the
   *  supply are untouched; works with or without a supply. The arrays have one length, ids are >= 1 and
   *  every amount is in 1..=MAX_PACKET_CENTS, else EngineInputError and nothing is adopted.
   *  Ids are NOT checked for uniqueness: the caller guarantees that no id is adopted or released twice. */
  adoptShakePackets(ids: Uint32Array, cents: Uint32Array): MaybePromise<void>;
  /** Takes unwon shake packets out of the buckets (shard 0 first, each bucket oldest first) into
   *  `out`, up to its length (out.ids and out.cents must have one length); returns how many. They move
   *  from shake.remaining to shake.refunded (in cluster mode: given back to the pool). Call again until
   *  it returns less than the capacity to empty every bucket. */
  withdrawShakePackets(out: ReleaseOut): MaybePromise<number>;
  /** Writes the whole split of each packet, in opening order, consecutively into `out` (packet 0's
   *  shareCounts[0] shares, then packet 1's...; `out` needs at least their sum). Packet i is split with
   *  the stream of shard `packetIds[i] mod shards` in the engine's split mode, so its shares are those
   *  createGroup + open would pay a packet of that shard from the same stream state. Creates no packet,
   *  changes no counter. The columns have one length and each item passes createGroup's checks
   *  (shares 1..=MAX_SHARES, cents 1..=MAX_PACKET_CENTS, cents >= shares), else EngineInputError for the
   *  whole batch and nothing is drawn. */
  splitShares(packetIds: Uint32Array, totalCents: Uint32Array, shareCounts: Uint32Array, out: Uint32Array): MaybePromise<void>;

  snapshotRestore(snapshot: EngineSnapshot): MaybePromise<void>;
  /** Drop all state (tests, and the native engine's process-wide state between files). */
  reset(options?: EngineOptions): MaybePromise<void>;
}

/** A typed error for misuse of the engine API: wrong lengths, bad numbers. Nothing moved when it is thrown. */
export class EngineInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EngineInputError';
  }
}
