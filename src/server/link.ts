// Messages between the main thread and each app (a worker thread, or the main thread itself when
// there is one app). Both ends are MessagePorts, so the two cases run the same code.
import type { Cover } from '../protocol/codec.ts';
import type { NotifyItem } from './batcher.ts';
import type { SessionLimits } from './session.ts';

export type ToApp =
  | { t: 'notify'; items: NotifyItem[] }
  | { t: 'login'; user: number; seq: number }
  | { t: 'health'; state: 'healthy' | 'degraded' }
  | { t: 'covers'; entries: Array<[number, Cover]> }
  | { t: 'drain'; id: number }
  | { t: 'shutdown' };

export type FromApp =
  | { t: 'ready'; port: number }
  | { t: 'failed'; message: string }
  | { t: 'created'; items: NotifyItem[] }
  | { t: 'login'; user: number; seq: number }
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
  packetTtlMs: number;
  maxShakesPerSecond: number;
  engineKind: 'native' | 'ts';
  engineOptions: { shards: number; seed?: number; splitMode: 0 | 1 };
  counters: Float64Array;
  control: Int32Array;
  covers: Array<[number, Cover]>;
  allowUwsFallback: boolean;
}
