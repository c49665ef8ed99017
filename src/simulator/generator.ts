// The two generators behind `hongbao clients`: the TypeScript Simulator (sockets in this Node
// process) and the native coordinator (sockets in Rust worker processes, native/loadgen). Both
// answer the control port and push the same per-second counters, and hand back the same FinalTally.
import type { QpsState } from './control.ts';
import type { Counters, FinalTally } from './tally.ts';
import { Simulator, type SimulatorOptions } from './simulator.ts';
import { NativeCoordinator } from './native/coordinator.ts';

export type GeneratorKind = 'ts' | 'native';
export const GENERATORS: readonly GeneratorKind[] = ['ts', 'native'];

/** `$HONGBAO_GENERATOR` when set, else native (the ts client stays as the reference implementation). */
export function defaultGenerator(): GeneratorKind {
  const env = process.env.HONGBAO_GENERATOR;
  if (env === undefined || env === '') return 'native';
  if (!GENERATORS.includes(env as GeneratorKind)) throw new Error(`HONGBAO_GENERATOR must be ts or native, got "${env}"`);
  return env as GeneratorKind;
}

export interface GeneratorStats {
  id: string;
  generator: GeneratorKind;
  users: { from: number; to: number; total: number };
  connected: number;
  qps: QpsState;
  /** requests sent and not answered yet */
  inFlight: number;
  /** users with a group packet open still to be answered */
  pendingOpens: number;
  counters: Counters;
  /** native: the worker processes */
  workers?: Array<{ pid: number; users: { from: number; to: number }; connected: number; inFlight: number }>;
}

export interface ClientGenerator {
  /** users logged in now */
  readonly connected: number;
  /** processes besides this one that do the work (native workers; none for ts), for CPU and RSS */
  readonly pids: number[];
  /** Start connecting every user and the shared-clock sender (at the rate given, 0 by default). */
  start(): Promise<void>;
  qps(): QpsState;
  setQps(qps: number, at: number | null): QpsState;
  stats(): GeneratorStats;
  /** Stop sending, wait up to `drainMs` for outstanding answers and opens, close every connection. */
  stop(drainMs: number): Promise<FinalTally>;
}

export interface NativeOptions {
  /** users per worker process (default 19,000; at most 19,800: 20,000 open files per process) */
  usersPerWorker?: number;
  /** workers wake at most once per this many µs (0, the default: for every readiness); see docs/simulator.md */
  tickMicros?: number;
  /** the worker binary (default: target/release/hongbao-loadgen, or $HONGBAO_LOADGEN_BIN) */
  binary?: string;
  /** a worker died or misbehaved: the run is broken (the coordinator has killed its workers) */
  onFailure?: (err: Error) => void;
}

export function createGenerator(kind: GeneratorKind, opts: SimulatorOptions, native: NativeOptions = {}): ClientGenerator {
  return kind === 'native' ? new NativeCoordinator({ ...opts, ...native }) : new Simulator(opts);
}
