// The coordinator <-> worker line protocol (docs/simulator.md, "Coordinator and workers"): newline-
// delimited JSON; the first stdin line is the worker's config, then commands; events on stdout.
// The Rust side of it is native/loadgen/src/stdio.rs: keep the two in step.
import type { RateChange } from '../control.ts';

export interface WorkerConfig {
  id: string;
  /** an IPv4 address (the coordinator resolves names) */
  host: string;
  port: number;
  path: string;
  timeoutMs: number;
  from: number;
  to: number;
  total: number;
  /** passed on stdin, never as an argument (ps shows arguments) */
  secret: string;
  tokenTtlSeconds: number;
  connectConcurrency: number;
  usersPerSourceAddress: number;
  qps: number;
  pending: RateChange[];
  /** 0: wake for every readiness; T: at most one wakeup per T µs (answers read in batches, up to T µs late) */
  tickMicros: number;
}

export type WorkerCommand =
  | { cmd: 'qps'; qps: number; at: number }
  | { cmd: 'connect'; users: number[] }
  | { cmd: 'open'; user: number; packet: number }
  | { cmd: 'stop' }
  | { cmd: 'close' };

/** What a worker counts itself; the coordinator counts the rest from the events. */
export const WORKER_COUNTERS = [
  'sent',
  'hits',
  'hitCents',
  'misses',
  'overloaded',
  'unavailable',
  'errors',
  'dropped',
  'opensSent',
  'unmatched',
  'lost',
] as const;
export type WorkerCounterName = (typeof WORKER_COUNTERS)[number];
export type WorkerCounters = Record<WorkerCounterName, number>;

export interface SecondReport {
  second: number;
  /** the target rate of that second */
  qps: number;
  connected: number;
  inFlight: number;
  /** counted in that second */
  counters: WorkerCounters;
  /** [packetId, user, cents] of the hits answered in that second */
  hits: Array<[number, number, number]>;
  /** that second's shake latencies (µs), HDR V2 compressed base64; '' when none */
  histogram: string;
}

export type WorkerEvent =
  | { e: 'hello'; pid: number; from: number; to: number }
  | { e: 'ready'; users: number[] }
  | { e: 'closed'; user: number; code: number; reason: string; wasReady: boolean }
  | { e: 'notify'; user: number; packet: number; sender: number; shares: number; cents: number }
  /** micros: the open's latency, -1 when no open was outstanding on that connection */
  | { e: 'open'; user: number; status: number; packet: number; cents: number; micros: number }
  | { e: 'openUnsent'; user: number; packet: number }
  | ({ e: 'second' } & SecondReport)
  | { e: 'inflight'; n: number }
  /** the counts since the last second, then the worker's totals to check the sum against */
  | ({ e: 'final'; total: WorkerCounters; totalHistogram: string } & SecondReport);
