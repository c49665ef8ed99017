// The per-thread cumulative counters (a Float64Array over a SharedArrayBuffer, written only by the
// thread that owns it, read by the main thread once a second) and the small shared control block.
// Field names are those of the stats `second` block in docs/admin-api.md.

export const COUNTER_FIELDS = [
  'shakes',
  'hits',
  'hitCents',
  'misses',
  'overloaded',
  'opens',
  'openCents',
  'repeats',
  'openRefused',
  'creates',
  'createCents',
  'refunds',
  'refundCents',
  'evicted',
  'errors',
  'unavailable',
  'released',
  'releasedCents',
  'laneWaits',
] as const;
export type CounterField = (typeof COUNTER_FIELDS)[number];

/** Index of each field; gauges (not summed per second) follow the counters: `connections` (summed
 *  over threads), the thread's longest event-loop delay in its last second (max over threads) and
 *  its V8 heap, in use and committed (src/server/thread-gauges.ts). */
export const C = Object.fromEntries(COUNTER_FIELDS.map((name, i) => [name, i])) as Record<CounterField, number>;
export const CONNECTIONS = COUNTER_FIELDS.length;
export const LOOP_DELAY_MS = COUNTER_FIELDS.length + 1;
export const HEAP_USED_MB = COUNTER_FIELDS.length + 2;
export const HEAP_MB = COUNTER_FIELDS.length + 3;
export const COUNTER_SLOTS = COUNTER_FIELDS.length + 4;

export function newCounters(): Float64Array {
  return new Float64Array(new SharedArrayBuffer(COUNTER_SLOTS * 8));
}

/** Int32 slots of the control block shared by every thread. */
export const Ctl = {
  /** last login sequence number handed out (a later login of the same user replaces an earlier one) */
  loginSeq: 0,
} as const;
/** Byte offset of the shake ceiling's 64-bit word: the unix second in the high half, the shakes let
 *  through in it in the low half, so a new second and its first count are one compare-and-swap. */
const CEILING_BYTE_OFFSET = 8;
const CTL_BYTES = 16;

export function newControl(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(CTL_BYTES), 0, CEILING_BYTE_OFFSET / 4);
}

/** The largest ceiling the count half holds. */
export const MAX_CEILING = 0xffff_ffff;

/** The shake ceiling over all threads: one compare-and-swap per batch, never per message. The second
 *  and its count change together, so no add from another thread is lost at a second's turn or
 *  counted against the wrong second; a thread whose clock is a little behind counts against the
 *  newer second. */
export class ShakeCeiling {
  private readonly word: BigInt64Array;

  constructor(
    ctl: Int32Array,
    private readonly perSecond: number,
  ) {
    if (perSecond > MAX_CEILING) throw new RangeError(`a shake ceiling above ${MAX_CEILING}/s does not fit the shared word`);
    this.word = new BigInt64Array(ctl.buffer, CEILING_BYTE_OFFSET, 1);
  }

  /** How many of `n` shakes may go to the engine in the second of `nowMs` (the rest are Overloaded). */
  take(n: number, nowMs: number): number {
    if (this.perSecond <= 0) return n;
    const mine = BigInt(Math.floor(nowMs / 1000));
    for (;;) {
      const word = Atomics.load(this.word, 0);
      const seen = BigInt.asUintN(64, word) >> 32n;
      const second = seen > mine ? seen : mine;
      const before = seen >= mine ? Number(word & 0xffff_ffffn) : 0;
      const after = Math.min(MAX_CEILING, before + n);
      const next = BigInt.asIntN(64, (second << 32n) | BigInt(after));
      if (Atomics.compareExchange(this.word, 0, word, next) === word) return Math.max(0, Math.min(n, this.perSecond - before));
    }
  }
}
