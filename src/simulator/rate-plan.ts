// The target rate of a generator: the rate now and the changes planned for later seconds. Written
// once for both generators (the Rust worker keeps the same rule in `Rates`, native/loadgen/src/worker/sender.rs):
// a change applies from a whole second on, and replaces the changes planned for that second or later.
import type { QpsState, RateChange } from './control.ts';

export class RatePlan {
  private current: number;
  private pending: RateChange[] = [];

  constructor(qps: number) {
    this.current = qps;
  }

  state(): QpsState {
    return { qps: this.current, pending: [...this.pending], scheduled: null };
  }

  /** The changes still to come (for a worker started now). */
  planned(): RateChange[] {
    return [...this.pending];
  }

  /** From unix second `at` on, or from `next` (the first second not begun) when `at` is null or
   *  earlier. Returns the change as planned. */
  change(qps: number, at: number | null, next: number): RateChange {
    const change = { qps, at: at === null ? next : Math.max(at, next) };
    this.pending = this.pending.filter((c) => c.at < change.at).concat(change);
    return change;
  }

  /** The rate of unix second `second` (seconds are asked in order): applies the changes due by then. */
  qpsFor(second: number): number {
    let due = 0;
    while (due < this.pending.length && second >= this.pending[due].at) this.current = this.pending[due++].qps;
    if (due > 0) this.pending = this.pending.slice(due);
    return this.current;
  }
}
