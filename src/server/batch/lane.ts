// What every request kind of a turn batch shares: growable typed-array columns (a turn's queue of
// one kind), the answer of a promise-or-value engine call, the shape of the moves a run leaves to
// commit and tell, and the paid answers (hits, shares) those moves hold.
import type { LedgerBatch } from '../../ledger/types.ts';
import type { Replier } from '../replier.ts';

export const INITIAL_CAPACITY = 1024;

export function grow(a: Uint32Array): Uint32Array<ArrayBuffer> {
  const b = new Uint32Array(a.length * 2);
  b.set(a);
  return b;
}

/** A turn's requests of one kind: who asked, the request id and the user of each, in typed
 *  columns reused from turn to turn (a kind with more columns grows them in its push). */
export class RequestQueue {
  users: Uint32Array<ArrayBuffer> = new Uint32Array(INITIAL_CAPACITY);
  reqs: Uint32Array<ArrayBuffer> = new Uint32Array(INITIAL_CAPACITY);
  targets: Replier[] = [];
  n = 0;

  /** Append one request (the caller grew its own columns first when `full`). */
  protected put(target: Replier, requestId: number, user: number): void {
    if (this.n === this.users.length) {
      this.users = grow(this.users);
      this.reqs = grow(this.reqs);
    }
    this.users[this.n] = user;
    this.reqs[this.n] = requestId;
    this.targets[this.n] = target;
    this.n++;
  }

  /** The columns are at capacity: the next push grows them. */
  protected get full(): boolean {
    return this.n === this.users.length;
  }

  clear(): void {
    // Drop the references so closed sessions and finished HTTP requests can be collected.
    this.targets.fill(null as unknown as Replier, 0, this.n);
    this.n = 0;
  }
}

/** Answers that pay (hits, shares), kept until the ledger has them: who asked, the request, the
 *  user, the packet and the cents of each. */
export class PaidAnswers {
  readonly targets: Replier[] = [];
  readonly reqs: number[] = [];
  readonly users: number[] = [];
  readonly ids: number[] = [];
  readonly cents: number[] = [];

  get size(): number {
    return this.ids.length;
  }

  add(target: Replier, requestId: number, user: number, packetId: number, cents: number): void {
    this.targets.push(target);
    this.reqs.push(requestId);
    this.users.push(user);
    this.ids.push(packetId);
    this.cents.push(cents);
  }

  /** The ledger's record of these moves (LedgerBatch hits or opens). */
  protected ledgerItems(at: number): { count: number; users: Uint32Array; packetIds: Uint32Array; cents: Uint32Array; at: number } {
    return { count: this.ids.length, users: Uint32Array.from(this.users), packetIds: Uint32Array.from(this.ids), cents: Uint32Array.from(this.cents), at };
  }
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
