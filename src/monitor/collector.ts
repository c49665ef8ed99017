// Aligns the per-second pushes of every process by unix second into one row per second.
//
// Numeric counters are summed over the processes of a side (server, clients); gauges that every
// client reports identically (targetQps) take the maximum; latency percentiles come from the merged
// HDR histograms the clients push (exact), or, for a process that sent none, the maximum of the
// pushed percentiles (an upper bound). A second is taken `lagMs` after it ended: its row is then
// emitted, with zeros for a side that did not push (a gap stays visible as `processes: 0`).
// A push for a second already emitted (a starved process pushes late) is counted in `late`, still
// kept, and the second's row is recomputed by `revisions()`, so the final series loses nothing.
import { encodeHistogram, mergeEncoded, summarize } from '../simulator/histogram.ts';
import type { PushRecord } from './push.ts';

export type Side = Record<string, number> & { processes: number };

export interface SeriesRow {
  second: number;
  client: Side;
  server: Side;
  /** Whole-machine network packets in that second (/proc/net/dev, loopback included). */
  net: { rxPackets: number; txPackets: number; packets: number } | null;
  /** The engine totals of every server (access node) as last pushed by each, summed: a node whose
   *  push for this second is late counts with its previous totals. */
  serverTotals?: unknown;
  /** Per server process (access node), this second: its connections and what it served. */
  nodes?: Record<string, NodeSecond>;
  /** The clients' shake latencies of that second merged into one HDR histogram (compressed base64). */
  clientHistogram?: string;
}

export interface NodeSecond {
  connections: number;
  shakes: number;
  hits: number;
  opens: number;
  loopDelayMs: number;
}

const PERCENTILES = ['p50Ms', 'p90Ms', 'p99Ms', 'p999Ms'] as const;
const MAX_FIELDS = new Set(['targetQps', 'at', 'second']);
const SKIP_FIELDS = new Set(['histogram', 'totals', 'at', 'second', ...PERCENTILES]);

interface Bucket {
  client: Map<string, Record<string, unknown>>;
  server: Map<string, Record<string, unknown>>;
}

export class Collector {
  /** seconds not emitted yet */
  private readonly buckets = new Map<number, Bucket>();
  /** seconds emitted, kept for late pushes */
  private readonly emitted = new Map<number, Bucket>();
  private readonly revised = new Set<number>();
  private readonly net = new Map<number, SeriesRow['net']>();
  /** next second to emit; null until the first rows are taken (until then, any second is welcome) */
  private next: number | null = null;
  late = 0;
  rejected = 0;
  readonly sources = new Set<string>();
  /** each server's latest totals, so that a sum never drops a node whose push is late */
  private readonly totalsByServer = new Map<string, { second: number; totals: unknown }>();

  constructor(readonly lagMs = 2500) {}

  /** Accept one push; false (and counted) when malformed. */
  add(record: unknown): boolean {
    if (!isPush(record)) {
      this.rejected++;
      return false;
    }
    const late = this.next !== null && record.second < this.next;
    const map = late ? this.emitted : this.buckets;
    if (late) {
      this.late++;
      this.revised.add(record.second);
    }
    let bucket = map.get(record.second);
    if (!bucket) {
      bucket = { client: new Map(), server: new Map() };
      map.set(record.second, bucket);
    }
    bucket[record.source].set(record.id, record.counters);
    this.sources.add(`${record.source}:${record.id}`);
    const totals = record.counters.totals;
    if (record.source === 'server' && totals !== undefined) {
      const had = this.totalsByServer.get(record.id);
      if (!had || had.second <= record.second) this.totalsByServer.set(record.id, { second: record.second, totals });
    }
    return true;
  }

  addNet(second: number, sample: NonNullable<SeriesRow['net']>): void {
    this.net.set(second, sample);
    if (this.next !== null && second < this.next) this.revised.add(second);
  }

  /** Rows recomputed for the seconds that received late pushes since the last call, in order. */
  revisions(): SeriesRow[] {
    const seconds = [...this.revised].sort((a, b) => a - b);
    this.revised.clear();
    return seconds.map((s) => this.row(s, this.emitted.get(s)));
  }

  /** Rows for every second that is final at `nowMs`, in order. */
  take(nowMs: number): SeriesRow[] {
    return this.takeUpTo(Math.floor((nowMs - this.lagMs) / 1000) - 1);
  }

  /** Rows for every second up to and including `last` (all buffered ones when omitted). */
  takeUpTo(last?: number): SeriesRow[] {
    if (this.next === null) {
      if (this.buckets.size === 0) return [];
      this.next = Math.min(...this.buckets.keys());
    }
    const end = last ?? Math.max(this.next - 1, ...this.buckets.keys());
    const rows: SeriesRow[] = [];
    for (; this.next <= end; this.next++) {
      if (!this.buckets.has(this.next) && this.buckets.size > 0 && Math.min(...this.buckets.keys()) - this.next > 3600) {
        this.next = Math.min(...this.buckets.keys()); // an hour of silence: no hour of empty rows
      }
      const bucket = this.buckets.get(this.next);
      this.buckets.delete(this.next);
      if (bucket) this.emitted.set(this.next, bucket);
      rows.push(this.row(this.next, bucket));
    }
    return rows;
  }

  private row(second: number, bucket: Bucket | undefined): SeriesRow {
    const row: SeriesRow = {
      second,
      client: combine(bucket?.client),
      server: combine(bucket?.server),
      net: this.net.get(second) ?? null,
    };
    const servers = bucket?.server;
    if (servers && servers.size > 0) {
      // this second's totals of each server, or the latest it pushed (a late push), summed
      const parts: unknown[] = [];
      for (const [id, latest] of this.totalsByServer) parts.push(servers.get(id)?.totals ?? latest.totals);
      const totals = parts.length === 1 ? parts[0] : sumTotals(parts);
      if (totals !== undefined) row.serverTotals = totals;
      if (servers.size > 1 || this.totalsByServer.size > 1) {
        row.nodes = {};
        for (const [id, c] of servers) {
          const n = (k: string) => (typeof c[k] === 'number' ? (c[k] as number) : 0);
          row.nodes[id] = { connections: n('connections'), shakes: n('shakes'), hits: n('hits'), opens: n('opens'), loopDelayMs: n('loopDelayMs') };
        }
      }
    }
    const histograms = [...(bucket?.client.values() ?? [])].map((c) => c.histogram).filter((h): h is string => typeof h === 'string' && h !== '');
    if (histograms.length > 0) row.clientHistogram = encodeHistogram(mergeEncoded(histograms));
    return row;
  }
}

/** A well-formed push record (docs/admin-api.md, "Monitor push"). */
export function isPush(r: unknown): r is PushRecord {
  if (typeof r !== 'object' || r === null) return false;
  const p = r as Record<string, unknown>;
  return (
    (p.source === 'server' || p.source === 'client') &&
    typeof p.id === 'string' &&
    Number.isSafeInteger(p.second) &&
    (p.second as number) > 0 &&
    typeof p.counters === 'object' &&
    p.counters !== null
  );
}

/** Sum one side's processes into one record (see the module comment for the rules). */
export function combine(processes: Map<string, Record<string, unknown>> | undefined): Side {
  const out = { processes: 0 } as Side;
  if (!processes) return out;
  const histograms: string[] = [];
  const pushedPercentiles: Record<string, number> = {};
  let withoutHistogram = 0;
  for (const counters of processes.values()) {
    out.processes++;
    for (const [key, value] of Object.entries(counters)) {
      if (typeof value !== 'number' || !Number.isFinite(value) || SKIP_FIELDS.has(key)) continue;
      out[key] = MAX_FIELDS.has(key) ? Math.max(out[key] ?? 0, value) : (out[key] ?? 0) + value;
    }
    if (typeof counters.histogram === 'string' && counters.histogram !== '') histograms.push(counters.histogram);
    else if (PERCENTILES.some((p) => typeof counters[p] === 'number' && (counters[p] as number) > 0)) {
      withoutHistogram++;
      for (const p of PERCENTILES) {
        const v = counters[p];
        if (typeof v === 'number') pushedPercentiles[p] = Math.max(pushedPercentiles[p] ?? 0, v);
      }
    }
  }
  if (histograms.length === 0 && withoutHistogram === 0) return out;
  const merged = summarize(mergeEncoded(histograms));
  for (const p of PERCENTILES) {
    const fromHistograms = merged.count > 0 ? merged[p] : 0;
    out[p] = withoutHistogram > 0 ? Math.max(fromHistograms, pushedPercentiles[p] ?? 0) : fromHistograms;
  }
  if (merged.count > 0) out.latencyCount = merged.count;
  return out;
}

/** Sum engine totals (nested objects of numbers) field by field. */
export function sumTotals(parts: unknown[]): unknown {
  const add = (a: unknown, b: unknown): unknown => {
    if (typeof a === 'number' && typeof b === 'number') return a + b;
    if (a && b && typeof a === 'object' && typeof b === 'object') {
      const out: Record<string, unknown> = {};
      for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
        const x = (a as Record<string, unknown>)[k];
        const y = (b as Record<string, unknown>)[k];
        out[k] = x === undefined ? y : y === undefined ? x : add(x, y);
      }
      return out;
    }
    return a ?? b;
  };
  return parts.reduce((acc, p) => (acc === undefined ? p : add(acc, p)), undefined);
}
