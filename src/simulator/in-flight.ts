// Outstanding requests of one simulator process, without an object per request: typed arrays
// indexed by request id & MASK hold each request's kind, id, intended send time and connection.
// A connection's generation is bumped when it closes, so its unanswered requests are written off
// once (as lost) and a late answer can never match them.

export const Kind = { None: 0, Shake: 1, Open: 2 } as const;

const BITS = 20;
const MASK = (1 << BITS) - 1;

export class InFlight {
  /** requests sent and not yet answered or written off */
  count = 0;
  private readonly kind = new Uint8Array(MASK + 1);
  private readonly id = new Uint32Array(MASK + 1);
  private readonly at = new Float64Array(MASK + 1);
  private readonly slot = new Uint32Array(MASK + 1);
  private readonly gen = new Uint16Array(MASK + 1);
  private readonly connGen: Uint16Array;
  private readonly perConn: Uint32Array;
  private next = 1;

  constructor(connections: number) {
    this.connGen = new Uint16Array(connections);
    this.perConn = new Uint32Array(connections);
  }

  /**
   * A new request id for connection `slot`, due at `intendedAt` (ms). Returns the id; `onLost` is
   * called when it takes the place of a request still unanswered 2^20 requests later.
   */
  take(kind: number, slot: number, intendedAt: number, onLost: () => void): number {
    const id = this.next;
    this.next = id >= 0xffffffff ? 1 : id + 1;
    const i = id & MASK;
    if (this.kind[i] !== Kind.None && this.live(i)) {
      this.count--;
      this.perConn[this.slot[i]]--;
      onLost();
    }
    this.kind[i] = kind;
    this.id[i] = id;
    this.at[i] = intendedAt;
    this.slot[i] = slot;
    this.gen[i] = this.connGen[slot];
    this.count++;
    this.perConn[slot]++;
    return id;
  }

  /** The answer to `id` came: its intended send time, or -1 when it was not outstanding as `kind`. */
  settle(id: number, kind: number): number {
    const i = id & MASK;
    if (this.kind[i] !== kind || this.id[i] !== id || !this.live(i)) return -1;
    this.release(i);
    return this.at[i];
  }

  /** Forget `id` if it is outstanding (an Error frame answered it, or it could not be written). */
  drop(id: number): void {
    const i = id & MASK;
    if (this.kind[i] !== Kind.None && this.id[i] === id && this.live(i)) this.release(i);
  }

  /** Connection `slot` closed: its outstanding requests will never be answered. Returns how many. */
  writeOff(slot: number): number {
    const lost = this.perConn[slot];
    this.count -= lost;
    this.perConn[slot] = 0;
    this.connGen[slot]++;
    return lost;
  }

  private live(i: number): boolean {
    return this.gen[i] === this.connGen[this.slot[i]];
  }

  private release(i: number): void {
    this.kind[i] = Kind.None;
    this.count--;
    this.perConn[this.slot[i]]--;
  }
}
