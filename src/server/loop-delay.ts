// The longest event-loop delay of this thread in the last second, written into the thread's shared
// counters (slot LOOP_DELAY_MS) for the main thread's per-second report. A stalled thread (a long
// engine call, a GC pause, a thread that did not get a core) answers nobody while it lasts, so this
// is the first figure to read when client latency has a tail.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { LOOP_DELAY_MS } from './counters.ts';

const RESOLUTION_MS = 10;

/** Starts sampling; returns a stop function. */
export function trackLoopDelay(counters: Float64Array): () => void {
  const h = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  h.enable();
  const timer = setInterval(() => {
    // the histogram records whole intervals between samples: the delay is what exceeds the resolution
    const delayNs = Math.max(0, h.max - RESOLUTION_MS * 1e6);
    counters[LOOP_DELAY_MS] = Math.round(delayNs / 1e4) / 100; // ms, two decimals
    h.reset();
  }, 1000);
  timer.unref();
  return () => {
    clearInterval(timer);
    h.disable();
  };
}
