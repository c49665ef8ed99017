// Two gauges of this thread, written once a second into the thread's shared counters for the main
// thread's per-second report: its longest event-loop delay in the last second (LOOP_DELAY_MS) and
// its V8 heap, in use (HEAP_USED_MB) and committed (HEAP_MB). A stalled thread (a long engine call, a GC pause, a thread that
// did not get a core) answers nobody while it lasts, so the delay is the first figure to read when
// client latency has a tail; the heaps tell which thread grows when the RSS does (committed
// includes the young generation's free space, which V8 grows under a high allocation rate).
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import { HEAP_MB, HEAP_USED_MB, LOOP_DELAY_MS } from './counters.ts';

/** How often the loop delay is sampled by default (--loop-sample-ms). Each sample wakes an idle
 *  thread, and a wake-up is dear on these VMs: the histogram alone costs a bare Node 4–6 ms of CPU a
 *  second at 20 ms; an idle server went from 7 to 4 ms/s at 50 (the million preset's ~56 idle-ish
 *  nodes sample coarser, docs/rehearsal.md). A stall is reported up to this much short (it may start
 *  anywhere in an interval), so much coarser would hide the stalls worth seeing. */
export const DEFAULT_LOOP_SAMPLE_MS = 50;
/** The range `--loop-sample-ms` takes (the server's flag and the rehearsal's). */
export const LOOP_SAMPLE_MS_RANGE = { min: 10, max: 1000 } as const;
const mib = (bytes: number) => Math.round(bytes / 10_485.76) / 100; // two decimals

/** The counters arrays this thread's gauges are written into. With one thread the app runs on the
 *  main thread, and the app and the server both report it: one histogram and one timer serve both. */
const targets = new Set<Float64Array>();
let stopSampler: (() => void) | null = null;

/** Writes this thread's gauges into `counters` once a second; returns a stop function. The first
 *  caller of a thread picks the sampling interval. */
export function trackThreadGauges(counters: Float64Array, sampleMs = DEFAULT_LOOP_SAMPLE_MS): () => void {
  targets.add(counters);
  stopSampler ??= startSampler(sampleMs);
  return () => {
    targets.delete(counters);
    if (targets.size > 0 || stopSampler === null) return;
    stopSampler();
    stopSampler = null;
  };
}

function startSampler(sampleMs: number): () => void {
  const h = monitorEventLoopDelay({ resolution: sampleMs });
  h.enable();
  const timer = setInterval(() => {
    // the histogram records whole intervals between samples: the delay is what exceeds the resolution
    const delayNs = Math.max(0, h.max - sampleMs * 1e6);
    const heap = getHeapStatistics();
    for (const counters of targets) {
      counters[LOOP_DELAY_MS] = Math.round(delayNs / 1e4) / 100; // ms, two decimals
      counters[HEAP_USED_MB] = mib(heap.used_heap_size);
      counters[HEAP_MB] = mib(heap.total_heap_size);
    }
    h.reset();
  }, 1000);
  timer.unref();
  return () => {
    clearInterval(timer);
    h.disable();
  };
}
