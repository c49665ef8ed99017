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
  /** unix second the shake ceiling's count belongs to */
  ceilingSecond: 0,
  /** shakes let through in that second, over all threads */
  ceilingCount: 1,
  /** last login sequence number handed out (a later login of the same user replaces an earlier one) */
  loginSeq: 2,
} as const;
export const CTL_SLOTS = 4;

export function newControl(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(CTL_SLOTS * 4));
}

/** The shake ceiling over all threads: one atomic add per batch, never per message. */
export class ShakeCeiling {
  constructor(
    private readonly ctl: Int32Array,
    private readonly perSecond: number,
  ) {}

  /** How many of `n` shakes may go to the engine in the second of `nowMs` (the rest are Overloaded). */
  take(n: number, nowMs: number): number {
    if (this.perSecond <= 0) return n;
    const second = Math.floor(nowMs / 1000) | 0;
    const seen = Atomics.load(this.ctl, Ctl.ceilingSecond);
    if (seen !== second && Atomics.compareExchange(this.ctl, Ctl.ceilingSecond, seen, second) === seen) {
      Atomics.store(this.ctl, Ctl.ceilingCount, 0);
    }
    const before = Atomics.add(this.ctl, Ctl.ceilingCount, n);
    return Math.max(0, Math.min(n, this.perSecond - before));
  }
}
