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
  /** the shake ceiling's second and count in ONE word, so a new second and its first count are one CAS */
  ceiling: 0,
  /** last login sequence number handed out (a later login of the same user replaces an earlier one) */
  loginSeq: 1,
} as const;
export const CTL_SLOTS = 4;

export function newControl(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(CTL_SLOTS * 4));
}

/** The ceiling word: the low 8 bits of the unix second above, the shakes let through in it below. */
const COUNT_BITS = 24;
const COUNT_MASK = (1 << COUNT_BITS) - 1;
/** A ceiling above this (16.7M shakes/s) would not fit the word; flags refuse it. */
export const MAX_CEILING = COUNT_MASK;

/** The shake ceiling over all threads: one compare-and-swap per batch, never per message. The second
 *  and its count change together, so no add from another thread is lost at a second's turn or
 *  counted against the wrong second. */
export class ShakeCeiling {
  constructor(
    private readonly ctl: Int32Array,
    private readonly perSecond: number,
  ) {
    if (perSecond > MAX_CEILING) throw new RangeError(`a shake ceiling above ${MAX_CEILING}/s does not fit the shared word`);
  }

  /** How many of `n` shakes may go to the engine in the second of `nowMs` (the rest are Overloaded). */
  take(n: number, nowMs: number): number {
    if (this.perSecond <= 0) return n;
    const tag = Math.floor(nowMs / 1000) & 0xff;
    for (;;) {
      const word = Atomics.load(this.ctl, Ctl.ceiling);
      const seen = word >>> COUNT_BITS;
      // A thread whose clock is a little behind another's counts against the newer second.
      const behind = ((seen - tag) & 0xff) !== 0 && ((seen - tag) & 0xff) < 128;
      const before = seen === tag || behind ? word & COUNT_MASK : 0;
      const after = Math.min(COUNT_MASK, before + n);
      const next = ((behind ? seen : tag) << COUNT_BITS) | after | 0;
      if (Atomics.compareExchange(this.ctl, Ctl.ceiling, word, next) === word) return Math.max(0, Math.min(n, this.perSecond - before));
    }
  }
}
