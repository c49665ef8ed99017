// One group packet of the TypeScript engine, and the min-heap of expiry times that finds due packets
// without scanning all of them.
import type { PacketDetails, SplitMode } from './types.ts';

/** Above this many recipients the position of a user is found through a Map instead of a scan. */
const SCAN_LIMIT = 16;

export class GroupPacket {
  /** Cents opened by each recipient (same index as `recipients`); 0 = not opened (shares are >= 1). */
  readonly openedBy: Uint32Array;
  /** Opened shares in opening order. */
  readonly openedUsers: Uint32Array;
  readonly openedCents: Uint32Array;
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

  constructor(
    readonly id: number,
    readonly sender: number,
    readonly totalCents: number,
    readonly shareCount: number,
    readonly splitMode: SplitMode,
    readonly recipients: Uint32Array,
    readonly expiresAt: number,
  ) {
    this.openedBy = new Uint32Array(recipients.length);
    this.openedUsers = new Uint32Array(shareCount);
    this.openedCents = new Uint32Array(shareCount);
    this.remainingCents = totalCents;
    this.remainingShares = shareCount;
    if (recipients.length > SCAN_LIMIT) {
      this.index = new Map();
      for (let i = 0; i < recipients.length; i++) this.index.set(recipients[i], i);
    }
  }

  /** Index of `user` among the recipients, or -1. */
  positionOf(user: number): number {
    if (this.index !== null) return this.index.get(user) ?? -1;
    const r = this.recipients;
    for (let i = 0; i < r.length; i++) if (r[i] === user) return i;
    return -1;
  }

  /** Records a share paid to the recipient at `position`. */
  pay(position: number, cents: number): void {
    const order = this.openedCount++;
    this.openedBy[position] = cents;
    this.openedUsers[order] = this.recipients[position];
    this.openedCents[order] = cents;
    this.remainingCents -= cents;
    this.remainingShares--;
    if (this.bestOrder < 0 || cents > this.openedCents[this.bestOrder]) this.bestOrder = order;
  }

  details(): PacketDetails {
    const opened = [];
    for (let order = 0; order < this.openedCount; order++) {
      opened.push({ user: this.openedUsers[order], cents: this.openedCents[order], order });
    }
    return {
      id: this.id,
      sender: this.sender,
      totalCents: this.totalCents,
      shareCount: this.shareCount,
      splitMode: this.splitMode,
      recipients: Array.from(this.recipients),
      expiresAt: this.expiresAt,
      opened,
      remainingCents: this.remainingCents,
      remainingShares: this.remainingShares,
      refundedCents: this.refundedCents,
      expired: this.expired,
      bestLuck: this.bestOrder < 0 ? null : this.openedUsers[this.bestOrder],
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
