// Turn batching: every shake, open, create and details request that arrives in one event-loop turn
// is queued (per kind, in reused typed arrays) and handed to the engine as ONE batch per kind,
// flushed in setImmediate after uWS has dispatched all of the turn's messages. Misses and refusals
// are answered at once; hits, new shares and creates only after `ledger.commit` of the run's moves
// resolves; repeat opens and details after a `ledger.barrier()` issued behind that commit, so
// nothing is told before it is durable. Each kind lives in its own module (shakes, opens, creates,
// details); this one owns the turn, the order of the kinds, the commit and the failure paths.
//
// A run whose engine answers asynchronously (a cluster node's hits, opens and creates wait for
// Redis) holds its own lane: the next turn runs in another lane meanwhile, up to MAX_LANES at once,
// so the misses arriving behind a Redis call are not held back by it. The local engines answer
// synchronously: their runs end within the turn and one lane is all they ever use.
import type { Engine, SplitMode } from '../../engine/types.ts';
import type { Ledger, LedgerBatch } from '../../ledger/types.ts';
import type { Cover } from '../../protocol/codec.ts';
import { C, type ShakeCeiling } from '../counters.ts';
import type { MoveGate } from '../gate.ts';
import type { Replier } from '../replier.ts';
import { type CreateRequest, CreateRunner, type NotifyItem } from './creates.ts';
import { DetailsAnswers, type DetailsRequest } from './details.ts';
import { type AfterBarrier, isThenable, type Moves, type RunContext } from './lane.ts';
import { OpenQueue, OpenRunner } from './opens.ts';
import { ShakeQueue, ShakeRunner } from './shakes.ts';

export type { CreateRequest, NotifyItem };

export interface BatcherDeps {
  engine: Engine;
  ledger: Ledger;
  counters: Float64Array;
  ceiling: ShakeCeiling;
  gate: MoveGate;
  covers: { get(packetId: number): Cover | undefined };
  splitMode: SplitMode;
  packetTtlMs: number;
  /** Commit repeat opens as shares instead of waiting for a barrier (a cluster node's journal). */
  journalRepeats?: boolean;
  /** Committed group packets, to notify their recipients. */
  onCreated(items: NotifyItem[]): void;
  log(message: string): void;
}

/** One turn's requests of every kind: the turn being filled, or the one a lane is running. */
class Turn {
  readonly shakes = new ShakeQueue();
  readonly opens = new OpenQueue();
  creates: CreateRequest[] = [];
  details: DetailsRequest[] = [];

  get empty(): boolean {
    return this.shakes.n === 0 && this.opens.n === 0 && this.creates.length === 0 && this.details.length === 0;
  }

  clear(): void {
    this.shakes.clear();
    this.opens.clear();
    this.creates = [];
    this.details = [];
  }
}

/** What a run leaves behind: moves to commit and tell, answers to give after a barrier. */
interface RunOutcome {
  moves: Moves[];
  afterBarrier: AfterBarrier[];
}

/** Runs at once, at most: each waits on the store (a cluster node's Redis calls); past this, turns
 *  queue as they did with one lane. */
export const MAX_LANES = 8;

const describe = (err: unknown) => (err instanceof Error ? (err.stack ?? err.message) : String(err));

/** One run's own state: the turn it runs, its runners (their outputs and the moves they collect),
 *  the gate's epoch when it began and whether it has asked the engine to move money yet. */
class Lane {
  turn = new Turn();
  readonly shakes: ShakeRunner;
  readonly opens: OpenRunner;
  readonly creates: CreateRunner;
  epoch = 0;
  /** Set just before the run asks the engine to move money: a throw after it must undo that move. */
  moved = false;
  readonly ctx: RunContext & { now: number };
  // The run's continuations are bound once per lane: under tsx (esbuild keepNames) every named
  // closure created on the hot path costs an Object.defineProperty call.
  readonly done: () => void;
  readonly failed: (err: unknown) => void;

  constructor(
    private readonly deps: BatcherDeps,
    batcher: Batcher,
  ) {
    this.shakes = new ShakeRunner(deps.engine, deps.ceiling);
    this.opens = new OpenRunner(deps.engine, deps.journalRepeats ?? false);
    this.creates = new CreateRunner(deps.engine, deps.splitMode, deps.packetTtlMs, deps.onCreated);
    this.ctx = {
      now: 0,
      counters: deps.counters,
      canMove: () => deps.gate.canMove(),
      moving: () => {
        this.moved = true;
      },
      // Both engines validate a whole batch before changing anything, so nothing moved.
      engineFailed: (what, err) => deps.log(`engine.${what} refused a batch: ${(err as Error).message}`),
    };
    this.done = () => batcher.laneDone(this);
    this.failed = (err) => batcher.laneFailed(this, err);
  }

  /** The moves and barrier answers the run collected so far, taken out of the runners. */
  outcome(): RunOutcome {
    const moves: Moves[] = [];
    const afterBarrier: AfterBarrier[] = [];
    const { shakes: s, opens: o, creates: c, turn } = this;
    if (s.hits) moves.push(s.hits);
    if (o.shares) moves.push(o.shares);
    if (o.repeatMoves) moves.push(o.repeatMoves);
    if (c.creates) moves.push(c.creates);
    if (o.repeats) afterBarrier.push(o.repeats);
    if (turn.details.length > 0) afterBarrier.push(new DetailsAnswers(turn.details, this.deps.engine, this.deps.covers, this.ctx.engineFailed));
    s.hits = null;
    o.shares = null;
    o.repeats = null;
    o.repeatMoves = null;
    c.creates = null;
    return { moves, afterBarrier };
  }
}

export class Batcher {
  private current = new Turn();
  /** lanes not running, ready for the next turn (more are made up to MAX_LANES) */
  private readonly free: Lane[] = [];
  /** lanes made so far; those not in `free` are running */
  private lanes = 0;
  /** the turn being filled found every lane busy (and was counted in `laneWaits`) */
  private turnWaits = false;
  private scheduled = false;
  private inflight = 0;
  private idleWaiters: Array<() => void> = [];
  private readonly flushBound = () => this.flush();

  constructor(private readonly deps: BatcherDeps) {}

  shake(target: Replier, requestId: number, user: number): void {
    this.current.shakes.push(target, requestId, user);
    this.schedule();
  }

  open(target: Replier, requestId: number, user: number, packetId: number): void {
    this.current.opens.push(target, requestId, user, packetId);
    this.schedule();
  }

  create(request: CreateRequest): void {
    this.current.creates.push(request);
    this.schedule();
  }

  details(target: Replier, requestId: number, packetId: number): void {
    this.current.details.push({ target, requestId, packetId });
    this.schedule();
  }

  /** Resolves once nothing is queued, in an engine call, or waiting for the ledger. */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    if (!this.scheduled && !this.current.empty) this.flush();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Runs in progress now (a test's window into the lanes). */
  get runs(): number {
    return this.lanes - this.free.length;
  }

  private isIdle(): boolean {
    return this.inflight === 0 && this.runs === 0 && this.current.empty;
  }

  private settle(): void {
    if (!this.isIdle() || this.idleWaiters.length === 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.flushBound);
  }

  private flush(): void {
    this.scheduled = false;
    if (this.current.empty) return;
    const lane = this.free.pop() ?? (this.lanes < MAX_LANES ? this.newLane() : undefined);
    if (lane === undefined) {
      // every lane waits on the engine: the next one done flushes; counted once per turn kept waiting
      if (!this.turnWaits) this.deps.counters[C.laneWaits]++;
      this.turnWaits = true;
      return;
    }
    this.turnWaits = false;
    const turn = this.current;
    this.current = lane.turn;
    lane.turn = turn;
    lane.epoch = this.deps.gate.epoch;
    lane.moved = false;
    lane.ctx.now = Date.now();
    let result: void | Promise<void>;
    try {
      result = this.runShakes(lane);
    } catch (err) {
      this.laneFailed(lane, err);
      return;
    }
    if (isThenable(result)) result.then(lane.done, lane.failed);
    else this.laneDone(lane);
  }

  private newLane(): Lane {
    this.lanes++;
    return new Lane(this.deps, this);
  }

  // Synchronous when the engine is (both local engines are): misses leave in this turn; closures
  // only on the asynchronous path.
  private runShakes(lane: Lane): void | Promise<void> {
    const r = lane.shakes.run(lane.turn.shakes, lane.ctx);
    return r ? r.then(() => this.runOpens(lane)) : this.runOpens(lane);
  }

  private runOpens(lane: Lane): void | Promise<void> {
    const r = lane.opens.run(lane.turn.opens, lane.ctx);
    return r ? r.then(() => this.runCreates(lane)) : this.runCreates(lane);
  }

  private runCreates(lane: Lane): void | Promise<void> {
    const r = lane.creates.run(lane.turn.creates, lane.ctx);
    return r ? r.then(() => this.finishRun(lane)) : this.finishRun(lane);
  }

  /** (Called by the lane.) Its run is done: clear its turn, free it, let waiters and the next turn in. */
  laneDone(lane: Lane): void {
    lane.turn.clear();
    this.free.push(lane);
    if (!this.current.empty) this.schedule();
    this.settle();
  }

  private finishRun(lane: Lane): void {
    const out = lane.outcome();
    // from here the moves are in the commit's hands: a later throw of this run has nothing to undo
    lane.moved = false;
    this.commit(out, lane.epoch);
  }

  /** (Called by the lane.) Its run threw (a bug, or a part that broke its contract). If the engine
   *  had been asked to move money, that move is neither committed nor told: the gate closes as for
   *  a failed commit, so the main thread rebuilds the engine from the ledger, and what the run owed
   *  is answered Unavailable. */
  laneFailed(lane: Lane, err: unknown): void {
    this.deps.log(`batch failed: ${describe(err)}`);
    const { moves, afterBarrier } = lane.outcome();
    if (lane.moved) {
      lane.moved = false;
      this.deps.gate.commitFailed(err);
      for (const m of moves) m.refused(this.deps.counters);
    }
    for (const a of afterBarrier) a.answer(false, this.deps.counters);
    this.laneDone(lane);
  }

  /** Commit what moved, then tell; repeats and details wait for a barrier behind that commit. */
  private commit({ moves, afterBarrier }: RunOutcome, epoch: number): void {
    const { ledger, counters } = this.deps;
    if (moves.length > 0) {
      const batch: LedgerBatch = {};
      const at = Date.now();
      for (const m of moves) m.toLedger(batch, at);
      this.track(attempt(() => ledger.commit(batch)))
        .then(
          () => {
            for (const m of moves) m.told(counters);
          },
          (err: unknown) => {
            // The engine already moved this batch's state: stop moving money until it is rebuilt from the ledger.
            this.deps.gate.commitFailed(err);
            for (const m of moves) m.refused(counters);
          },
        )
        .catch(this.answerFailedBound);
    }
    if (afterBarrier.length === 0) return;
    // Issued after the commit above: resolves once it, and everything before it, is durable.
    this.track(attempt(() => ledger.barrier()))
      .then(
        () => {
          // Not if a commit failed meanwhile, nor before the engine was rebuilt (it may hold undone moves).
          const ok = this.deps.gate.epoch === epoch && this.deps.gate.canMove();
          for (const a of afterBarrier) a.answer(ok, counters);
        },
        () => {
          for (const a of afterBarrier) a.answer(false, counters);
        },
      )
      .catch(this.answerFailedBound);
  }

  /** A reply threw after the ledger had answered: what is committed stays committed; say so. */
  private readonly answerFailedBound = (err: unknown) => this.deps.log(`answering a batch failed: ${describe(err)}`);

  private track<T>(promise: Promise<T>): Promise<T> {
    this.inflight++;
    const release = () => {
      this.inflight--;
      this.settle();
    };
    promise.then(release, release);
    return promise;
  }
}

/** A call that may throw at once or reject: either way a rejected promise (a ledger that throws
 *  instead of rejecting has failed like one that rejects). */
function attempt(call: () => Promise<void>): Promise<void> {
  try {
    return call();
  } catch (err) {
    return Promise.reject(err);
  }
}
