// Per-second reports of the worker processes merged into one record a second: counters added,
// hits concatenated, latency histograms added exactly (HDR, same settings everywhere). A second is
// handed on once every worker reported it, or LATE_MS after it ended (a stalled worker): what such a
// worker reports later goes into the next second handed on, so nothing is counted twice or lost.
import { decodeHistogram, latencyHistogram, type Histogram } from '../histogram.ts';
import { WORKER_COUNTERS, type SecondReport, type WorkerCounters } from './protocol.ts';

export const LATE_MS = 2500;

export interface MergedSecond {
  second: number;
  qps: number;
  counters: WorkerCounters;
  hits: Array<[number, number, number]>;
  /** null when no shake was answered */
  histogram: Histogram | null;
  /** workers that reported it */
  reports: number;
}

export function zeroWorkerCounters(): WorkerCounters {
  return Object.fromEntries(WORKER_COUNTERS.map((c) => [c, 0])) as WorkerCounters;
}

export function addWorkerCounters(into: WorkerCounters, add: WorkerCounters): void {
  for (const c of WORKER_COUNTERS) into[c] += add[c] ?? 0;
}

export class SecondMerger {
  private readonly pending = new Map<number, MergedSecond & { from: Set<number> }>();
  private handedOn = -1;

  constructor(
    private readonly workers: number,
    private readonly handOn: (s: MergedSecond) => void,
  ) {}

  add(worker: number, r: SecondReport, now = Date.now()): void {
    const second = Math.max(r.second, this.handedOn + 1);
    let m = this.pending.get(second);
    if (!m) {
      m = { second, qps: r.qps, counters: zeroWorkerCounters(), hits: [], histogram: null, reports: 0, from: new Set() };
      this.pending.set(second, m);
    }
    m.from.add(worker);
    m.reports++;
    if (second === r.second) m.qps = r.qps;
    addWorkerCounters(m.counters, r.counters);
    for (const h of r.hits) m.hits.push(h);
    if (r.histogram) {
      m.histogram ??= latencyHistogram();
      m.histogram.add(decodeHistogram(r.histogram));
    }
    this.flushDue(now);
  }

  /** Hand on, in order, the seconds every worker reported or that are overdue. */
  flushDue(now = Date.now()): void {
    for (const m of this.inOrder()) {
      if (m.from.size < this.workers && now < (m.second + 1) * 1000 + LATE_MS) break;
      this.emit(m);
    }
  }

  /** Hand on everything still held (the end of the run). */
  flushAll(): void {
    for (const m of this.inOrder()) this.emit(m);
  }

  private inOrder() {
    return [...this.pending.values()].sort((a, b) => a.second - b.second);
  }

  private emit(m: MergedSecond & { from: Set<number> }): void {
    this.pending.delete(m.second);
    this.handedOn = Math.max(this.handedOn, m.second);
    const { from: _from, ...merged } = m;
    this.handOn(merged);
  }
}
