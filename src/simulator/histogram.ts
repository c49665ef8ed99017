// HDR histogram settings shared by the simulator, the monitor and the report: latencies recorded in
// microseconds, 1 µs .. 60 s, 3 significant digits; percentiles reported in milliseconds.
import * as hdr from 'hdr-histogram-js';

export type Histogram = hdr.Histogram;

export function latencyHistogram(): Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
}

export function recordMicros(h: Histogram, micros: number): void {
  h.recordValue(Math.min(60_000_000, Math.max(1, Math.round(micros))));
}

export interface LatencySummary {
  count: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
}

const ms = (micros: number) => Math.round(micros) / 1000;

export function summarize(h: Histogram): LatencySummary {
  if (h.totalCount === 0) return { count: 0, p50Ms: 0, p90Ms: 0, p99Ms: 0, p999Ms: 0, maxMs: 0 };
  return {
    count: h.totalCount,
    p50Ms: ms(h.getValueAtPercentile(50)),
    p90Ms: ms(h.getValueAtPercentile(90)),
    p99Ms: ms(h.getValueAtPercentile(99)),
    p999Ms: ms(h.getValueAtPercentile(99.9)),
    maxMs: ms(h.maxValue),
  };
}

export function encodeHistogram(h: Histogram): string {
  return hdr.encodeIntoCompressedBase64(h);
}

export function decodeHistogram(encoded: string): Histogram {
  return hdr.decodeFromCompressedBase64(encoded);
}

/** Merge encoded histograms (from several processes) into one. */
export function mergeEncoded(encoded: Iterable<string>): Histogram {
  const total = latencyHistogram();
  for (const e of encoded) if (e) total.add(decodeHistogram(e));
  return total;
}
