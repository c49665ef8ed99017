// One group packet of the TypeScript engine, and the min-heap of expiry times that finds due packets
// without scanning all of them.
import type { PacketDetails, SplitMode } from './types.ts';

/** Above this many recipients the position of a user is found through a Map instead of a scan. */
const SCAN_LIMIT = 16;

export class GroupPacket {
  /** One array per packet (fewer objects for the collector), in four parts:
   *  [0, R) recipients as given; [R, 2R) cents opened by each recipient, 0 = not yet (shares are >= 1);
   *  [2R, 2R+S) users in opening order; [2R+S, 2R+2S) their cents. */
  private readonly data: Uint32Array;
  readonly recipientCount: number;
  openedCount = 0;
  remainingCents: number;
  remainingShares: number;
  /** Line segment: the share paid at each opening position. */
  plan: Uint32Array | null = null;
  expired = false;
  refundedCents = 0;
  /** Opening position of the first of the largest shares; -1 before any open. */
  bestOrder = -1;
  private readonly index: Map<number, number> | null = null;

  /** Copies recipients[lo, hi) into the packet. */
  constructor(
    readonly id: number,
    readonly sender: number,
    readonly totalCents: number,
    readonly shareCount: number,
    readonly splitMode: SplitMode,
    recipients: ArrayLike<number>,
    lo: number,
    hi: number,
    readonly expiresAt: number,
  ) {
    const r = hi - lo;
    this.recipientCount = r;
    this.data = new Uint32Array(2 * r + 2 * shareCount);
    for (let i = 0; i < r; i++) this.data[i] = recipients[lo + i];
    this.remainingCents = totalCents;
    this.remainingShares = shareCount;
    if (r > SCAN_LIMIT) {
      this.index = new Map();
      for (let i = 0; i < r; i++) this.index.set(this.data[i], i);
    }
  }

  /** Index of `user` among the recipients, or -1. */
  positionOf(user: number): number {
    if (this.index !== null) return this.index.get(user) ?? -1;
    const d = this.data;
    for (let i = 0; i < this.recipientCount; i++) if (d[i] === user) return i;
    return -1;
  }

  /** Cents already opened by the recipient at `position`, 0 if none. */
  openedBy(position: number): number {
    return this.data[this.recipientCount + position];
  }

  private userAt(order: number): number {
    return this.data[2 * this.recipientCount + order];
  }

  private centsAt(order: number): number {
    return this.data[2 * this.recipientCount + this.shareCount + order];
  }

  /** Records a share paid to the recipient at `position`. */
  pay(position: number, cents: number): void {
    const d = this.data;
    const r = this.recipientCount;
    const order = this.openedCount++;
    d[r + position] = cents;
    d[2 * r + order] = d[position];
    d[2 * r + this.shareCount + order] = cents;
    this.remainingCents -= cents;
    this.remainingShares--;
    if (this.bestOrder < 0 || cents > this.centsAt(this.bestOrder)) this.bestOrder = order;
  }

  details(): PacketDetails {
    const opened = [];
    for (let order = 0; order < this.openedCount; order++) {
      opened.push({ user: this.userAt(order), cents: this.centsAt(order), order });
    }
    return {
      id: this.id,
      sender: this.sender,
      totalCents: this.totalCents,
      shareCount: this.shareCount,
      splitMode: this.splitMode,
      recipients: Array.from(this.data.subarray(0, this.recipientCount)),
      expiresAt: this.expiresAt,
      opened,
      remainingCents: this.remainingCents,
      remainingShares: this.remainingShares,
      refundedCents: this.refundedCents,
      expired: this.expired,
      bestLuck: this.bestOrder < 0 ? null : this.userAt(this.bestOrder),
    };
  }
}

/** Binary min-heap of (expiresAt, id). Entries of packets expired by force stay until popped. */
export class ExpiryHeap {
  private readonly at: number[] = [];
  private readonly ids: number[] = [];

  get size(): number {
    return this.ids.length;
  }

  /** Earliest expiry time, or +Infinity when empty. */
  peekAt(): number {
    return this.ids.length === 0 ? Infinity : this.at[0];
  }

  push(at: number, id: number): void {
    let i = this.ids.length;
    this.at.push(at);
    this.ids.push(id);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  /** Removes the earliest entry and returns its id. */
  pop(): number {
    const top = this.ids[0];
    const lastAt = this.at.pop() as number;
    const lastId = this.ids.pop() as number;
    const n = this.ids.length;
    if (n > 0) {
      this.at[0] = lastAt;
      this.ids[0] = lastId;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < n && this.less(l, m)) m = l;
        if (r < n && this.less(r, m)) m = r;
        if (m === i) break;
        this.swap(i, m);
        i = m;
      }
    }
    return top;
  }

  private less(a: number, b: number): boolean {
    return this.at[a] < this.at[b] || (this.at[a] === this.at[b] && this.ids[a] < this.ids[b]);
  }

  private swap(a: number, b: number): void {
    const at = this.at[a];
    this.at[a] = this.at[b];
    this.at[b] = at;
    const id = this.ids[a];
    this.ids[a] = this.ids[b];
    this.ids[b] = id;
  }
}
