// What every request kind of a turn batch shares: growable typed-array columns, the answer of a
// promise-or-value engine call, and the shape of the moves a run leaves to commit and tell.
import type { LedgerBatch } from '../../ledger/types.ts';

export const INITIAL_CAPACITY = 1024;

export function grow(a: Uint32Array): Uint32Array<ArrayBuffer> {
  const b = new Uint32Array(a.length * 2);
  b.set(a);
  return b;
}

export function isThenable(x: unknown): x is PromiseLike<unknown> {
  return x !== null && typeof x === 'object' && typeof (x as { then?: unknown }).then === 'function';
}

/** What one run of the batcher knows while it runs the kinds in turn. */
export interface RunContext {
  /** Date.now() when the run began (expiry and ledger times). */
  readonly now: number;
  readonly counters: Float64Array;
  /** Whether the gate still lets money move (re-read before each kind: a commit may fail meanwhile). */
  canMove(): boolean;
  /** Called just before the engine is asked to move money: a throw after it must be undone. */
  moving(): void;
  /** The engine refused a batch (EngineInputError: nothing moved): log it. */
  engineFailed(what: string, err: unknown): void;
}

/** Money a run moved in the engine, told only once the ledger has it (or refused if it never does). */
export interface Moves {
  readonly size: number;
  /** Add this kind's records to the run's ledger batch. */
  toLedger(batch: LedgerBatch, at: number): void;
  /** Committed: tell everyone and count it. */
  told(counters: Float64Array): void;
  /** Not committed: answer Unavailable (the engine is rebuilt from the ledger, undoing the move). */
  refused(counters: Float64Array): void;
}

/** Answers that need no commit of their own, only every earlier commit durable (a barrier). */
export interface AfterBarrier {
  readonly size: number;
  /** `ok` false: the barrier failed, or a commit failed since the run began: answer Unavailable. */
  answer(ok: boolean, counters: Float64Array): void;
}
