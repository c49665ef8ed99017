// Mutable state of the TypeScript engine, grouped so that `reset` and `snapshotRestore` swap it whole.
import type { ResolvedOptions } from './check.ts';
import { makeStreams, type Rng } from './rng.ts';
import { ExpiryHeap, type GroupPacket } from './ts-group.ts';
import { ShakeBuckets } from './ts-shake.ts';
import type { SupplyState } from './types.ts';

/** Supply state plus the list rule's values as a typed array for the release loop. */
export interface Supply extends SupplyState {
  values: Uint32Array | null;
}

/** Group-flow counters (count = shares). */
export class GroupCounters {
  packets = 0;
  createdCount = 0;
  createdCents = 0;
  paidCount = 0;
  paidCents = 0;
  remainingCount = 0;
  remainingCents = 0;
  refundedCount = 0;
  refundedCents = 0;
}

/** Everything `reset` drops. */
export class EngineState {
  readonly streams: Rng[];
  readonly buckets: ShakeBuckets;
  readonly groups = new Map<number, GroupPacket>();
  /** Packets not yet expired, by expiry (entries of packets expired by force stay until popped). */
  readonly heap = new ExpiryHeap();
  /** Expired packets still held, by expiry: what `evict` may drop. */
  readonly held = new ExpiryHeap();
  /** Per shard, one more than the largest id evicted there: an unknown id below it was evicted. */
  readonly evictedBelow: Uint32Array;
  readonly group = new GroupCounters();
  supply: Supply | null = null;
  nextShakeId = 1;
  nextGroupId = 1;

  constructor(readonly options: ResolvedOptions) {
    this.streams = makeStreams(options.seed, options.shards + 1);
    this.buckets = new ShakeBuckets(options.shards);
    this.evictedBelow = new Uint32Array(options.shards);
  }

  /** Split stream of the shard a group packet lives in. */
  streamOf(packetId: number): Rng {
    return this.streams[1 + (packetId % this.options.shards)];
  }
}
