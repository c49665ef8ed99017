// Shake state of the TypeScript engine: one FIFO ring buffer per shard, the round-robin cursor and the
// shake-flow counters (refunded: packets withdrawn, in cluster mode given back to the pool). The miss
// path reads one typed-array slot.
import type { ShakeOut } from './types.ts';

const INITIAL_CAPACITY = 16;

export class ShakeBuckets {
  readonly shards: number;
  /** Shard the next released packet goes to. */
  cursor = 0;
  createdCount = 0;
  createdCents = 0;
  paidCount = 0;
  paidCents = 0;
  remainingCount = 0;
  remainingCents = 0;
  refundedCount = 0;
  refundedCents = 0;

  private readonly sizes: Uint32Array;
  private readonly heads: Uint32Array;
  private readonly ids: Uint32Array[] = [];
  private readonly cents: Uint32Array[] = [];

  constructor(shards: number) {
    this.shards = shards;
    this.sizes = new Uint32Array(shards);
    this.heads = new Uint32Array(shards);
    for (let s = 0; s < shards; s++) {
      this.ids.push(new Uint32Array(INITIAL_CAPACITY));
      this.cents.push(new Uint32Array(INITIAL_CAPACITY));
    }
  }

  /** Appends a packet to the bucket of shard `cursor` and advances the cursor. Counts nothing. */
  place(id: number, cents: number): void {
    const s = this.cursor;
    let ids = this.ids[s];
    let amounts = this.cents[s];
    const size = this.sizes[s];
    if (size === ids.length) {
      this.grow(s);
      ids = this.ids[s];
      amounts = this.cents[s];
    }
    const slot = (this.heads[s] + size) & (ids.length - 1);
    ids[slot] = id;
    amounts[slot] = cents;
    this.sizes[s] = size + 1;
    this.cursor = s + 1 === this.shards ? 0 : s + 1;
  }

  /** A newly released (or adopted) packet: placed and counted as created. */
  release(id: number, cents: number): void {
    this.place(id, cents);
    this.createdCount++;
    this.createdCents += cents;
    this.remainingCount++;
    this.remainingCents += cents;
  }

  shake(users: ArrayLike<number>, n: number, out: ShakeOut): void {
    const { status, packetIds, cents } = out;
    const sizes = this.sizes;
    const shards = this.shards;
    for (let i = 0; i < n; i++) {
      const s = users[i] % shards;
      const size = sizes[s];
      if (size === 0) {
        status[i] = 0;
        packetIds[i] = 0;
        cents[i] = 0;
        continue;
      }
      const ring = this.ids[s];
      const head = this.heads[s];
      const amount = this.cents[s][head];
      status[i] = 1;
      packetIds[i] = ring[head];
      cents[i] = amount;
      this.heads[s] = (head + 1) & (ring.length - 1);
      sizes[s] = size - 1;
      this.paidCount++;
      this.paidCents += amount;
      this.remainingCount--;
      this.remainingCents -= amount;
    }
  }

  /** Moves up to `ids.length` unwon packets into `ids`/`cents` (shard 0 first, each bucket oldest
   *  first), counted as refunded; returns how many. */
  withdraw(ids: Uint32Array, cents: Uint32Array): number {
    const cap = ids.length;
    let n = 0;
    for (let s = 0; s < this.shards && n < cap; s++) {
      const ring = this.ids[s];
      const amounts = this.cents[s];
      const mask = ring.length - 1;
      const take = Math.min(this.sizes[s], cap - n);
      let head = this.heads[s];
      for (let k = 0; k < take; k++) {
        ids[n] = ring[head];
        cents[n] = amounts[head];
        this.refundedCount++;
        this.refundedCents += amounts[head];
        this.remainingCount--;
        this.remainingCents -= amounts[head];
        head = (head + 1) & mask;
        n++;
      }
      this.heads[s] = head;
      this.sizes[s] -= take;
    }
    return n;
  }

  private grow(s: number): void {
    const oldIds = this.ids[s];
    const oldCents = this.cents[s];
    const capacity = oldIds.length;
    const ids = new Uint32Array(capacity * 2);
    const cents = new Uint32Array(capacity * 2);
    const head = this.heads[s];
    for (let i = 0; i < capacity; i++) {
      const from = (head + i) & (capacity - 1);
      ids[i] = oldIds[from];
      cents[i] = oldCents[from];
    }
    this.ids[s] = ids;
    this.cents[s] = cents;
    this.heads[s] = 0;
  }
}
