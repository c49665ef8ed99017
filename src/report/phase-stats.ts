// Per-phase figures from the monitor's time series: achieved client and server QPS as the median over
// the phase's seconds, exact latency percentiles from the merged per-second HDR histograms, rates
// and error counts.
import type { SeriesRow } from '../monitor/collector.ts';
import { mergeEncoded, summarize } from '../simulator/histogram.ts';

export interface PhaseWindow {
  name: string;
  /** first unix second of the phase */
  start: number;
  /** first unix second after it */
  end: number;
  targetQps: number;
}

export interface PhaseStats {
  name: string;
  seconds: number;
  targetQps: number;
  clientQps: number;
  serverQps: number;
  latency: { p50Ms: number; p90Ms: number; p99Ms: number; p999Ms: number; maxMs: number; count: number };
  /** per second over the phase: the fewest shakes the servers served, the largest p99, the fewest and
   *  most shake packets released (the floors of the seed run are judged by these) */
  perSecond: { serverQpsMin: number; serverQpsMax: number; p99MsMax: number; releasedMin: number; releasedMax: number };
  hitsPerSecond: number;
  releasedPerSecond: number;
  createsPerSecond: number;
  opensPerSecond: number;
  errors: { client: number; server: number; overloaded: number; unavailable: number; dropped: number };
  /** turns a cluster node kept waiting because every batch lane was waiting on Redis (summed over nodes) */
  laneWaits: number;
}

export function median(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const n = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
const min = (values: number[]) => (values.length ? Math.min(...values) : 0);
const max = (values: number[]) => (values.length ? Math.max(...values) : 0);
const mean = (values: number[]) => (values.length ? Math.round((values.reduce((a, b) => a + b, 0) / values.length) * 10) / 10 : 0);

export function phaseStats(rows: SeriesRow[], window: PhaseWindow): PhaseStats {
  const inside = rows.filter((r) => r.second >= window.start && r.second < window.end);
  const serverRows = inside.filter((r) => r.server.processes > 0);
  const total = (pick: (r: SeriesRow) => number) => inside.reduce((acc, r) => acc + pick(r), 0);
  const latency = summarize(mergeEncoded(inside.map((r) => r.clientHistogram ?? '')));
  return {
    name: window.name,
    seconds: window.end - window.start,
    targetQps: window.targetQps,
    clientQps: median(inside.map((r) => n(r.client.sent))),
    serverQps: median(serverRows.map((r) => n(r.server.shakes))),
    latency,
    perSecond: {
      serverQpsMin: min(serverRows.map((r) => n(r.server.shakes))),
      serverQpsMax: max(serverRows.map((r) => n(r.server.shakes))),
      p99MsMax: max(inside.map((r) => n(r.client.p99Ms))),
      releasedMin: min(serverRows.map((r) => n(r.server.released))),
      releasedMax: max(serverRows.map((r) => n(r.server.released))),
    },
    hitsPerSecond: mean(serverRows.map((r) => n(r.server.hits))),
    releasedPerSecond: mean(serverRows.map((r) => n(r.server.released))),
    createsPerSecond: mean(serverRows.map((r) => n(r.server.creates))),
    opensPerSecond: mean(serverRows.map((r) => n(r.server.opens))),
    errors: {
      client: total((r) => n(r.client.errors)),
      server: total((r) => n(r.server.errors)),
      overloaded: total((r) => n(r.client.overloaded)),
      unavailable: total((r) => n(r.client.unavailable)),
      dropped: total((r) => n(r.client.dropped)),
    },
    laneWaits: total((r) => n(r.server.laneWaits)),
  };
}
