// Messages between the main thread and each app (a worker thread, or the main thread itself when
// there is one app). Both ends are MessagePorts, so the two cases run the same code.
import type { NotifyItem } from './batch/batcher.ts';
import type { CoverEntry } from './covers.ts';
import type { SessionLimits } from './session.ts';

export type ToApp =
  | { t: 'notify'; items: NotifyItem[] }
  | { t: 'login'; user: number; seq: number }
  | { t: 'health'; state: 'healthy' | 'degraded' }
  | { t: 'covers'; entries: CoverEntry[] }
  /** The engine evicted the packets expiring at or before beforeMs: drop their covers. */
  | { t: 'evict'; beforeMs: number }
  /** A cluster node: `user` logged in on another node at `at` (ms); an older session here closes. */
  | { t: 'kick'; user: number; at: number }
  | { t: 'drain'; id: number }
  | { t: 'shutdown' };

export type FromApp =
  | { t: 'ready'; port: number }
  | { t: 'failed'; message: string }
  | { t: 'created'; items: NotifyItem[] }
  /** `at`: the session's login time (ms), what a kick from another node is compared with */
  | { t: 'login'; user: number; seq: number; at: number }
  | { t: 'commit-failed'; message: string }
  | { t: 'drained'; id: number }
  | { t: 'closed' };

/** Everything an app needs, all structured-clonable (it is the worker's workerData). */
export interface AppConfig {
  index: number;
  host: string;
  port: number;
  secret: string;
  limits: SessionLimits;
  maxPayload: number;
  idleTimeout: number;
  loginTimeoutMs: number;
  /** --loop-sample-ms */
  loopSampleMs: number;
  packetTtlMs: number;
  maxShakesPerSecond: number;
  engineKind: 'native' | 'ts';
  engineOptions: { shards: number; seed?: number; splitMode: 0 | 1 };
  counters: Float64Array;
  control: Int32Array;
  covers: CoverEntry[];
  allowUwsFallback: boolean;
  /** A cluster node: repeat opens are journaled too (see OpenRunner). */
  journalRepeats: boolean;
}
