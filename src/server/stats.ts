// Once a second (on the second) the main thread sums every thread's cumulative counters; the
// difference from the previous second is the `second` block of GET /stats, of the monitor push
// and of the Prometheus counters. Counting lives in the threads; reporting lives here.
import { COUNTER_FIELDS, CONNECTIONS, HEAP_MB, HEAP_USED_MB, LOOP_DELAY_MS, type CounterField } from './counters.ts';

export type CounterBlock = Record<CounterField, number>;

function zero(): CounterBlock {
  return Object.fromEntries(COUNTER_FIELDS.map((f) => [f, 0])) as CounterBlock;
}

export interface SecondReport {
  /** The unix second just completed. */
  at: number;
  second: CounterBlock;
  cumulative: CounterBlock;
  connections: number;
  /** the longest event-loop delay of any server thread in its last second, ms */
  loopDelayMs: number;
  /** V8 heap of each counters block's thread, MiB, committed and in use: the main thread's first, then each app's */
  heapMb: number[];
  heapUsedMb: number[];
}

export class StatsAggregator {
  private readonly sources: Float64Array[] = [];
  private previous = zero();
  private last: SecondReport;
  private timer: NodeJS.Timeout | null = null;
  private readonly listeners: Array<(r: SecondReport) => void> = [];
  readonly startedAt = Date.now();

  constructor() {
    this.last = { at: Math.floor(Date.now() / 1000) - 1, second: zero(), cumulative: zero(), connections: 0, loopDelayMs: 0, heapMb: [], heapUsedMb: [] };
  }

  add(counters: Float64Array): void {
    this.sources.push(counters);
  }

  onSecond(listener: (r: SecondReport) => void): void {
    this.listeners.push(listener);
  }

  start(): void {
    const wait = 1000 - (Date.now() % 1000);
    this.timer = setTimeout(() => {
      this.start();
      this.tick(Math.floor(Date.now() / 1000) - 1);
    }, wait + 5);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  latest(): SecondReport {
    return this.last;
  }

  connections(): number {
    let n = 0;
    for (const s of this.sources) n += s[CONNECTIONS];
    return n;
  }

  loopDelayMs(): number {
    let ms = 0;
    for (const s of this.sources) ms = Math.max(ms, s[LOOP_DELAY_MS]);
    return ms;
  }

  /** Close the second `at` (exported for tests). */
  tick(at: number): SecondReport {
    const cumulative = zero();
    for (const s of this.sources) {
      COUNTER_FIELDS.forEach((f, i) => {
        cumulative[f] += s[i];
      });
    }
    const second = zero();
    for (const f of COUNTER_FIELDS) second[f] = cumulative[f] - this.previous[f];
    this.previous = cumulative;
    this.last = {
      at,
      second,
      cumulative,
      connections: this.connections(),
      loopDelayMs: this.loopDelayMs(),
      heapMb: this.sources.map((s) => s[HEAP_MB]),
      heapUsedMb: this.sources.map((s) => s[HEAP_USED_MB]),
    };
    for (const l of this.listeners) {
      try {
        l(this.last);
      } catch {
        // a reporter's failure must not stop the clock
      }
    }
    return this.last;
  }
}
