// Shakes of a turn: one engine call for all of them. Misses (more than 99% of shakes) are answered
// at once from a reused output, with no allocation; hits wait for the run's commit.
import { ShakeStatus, type Engine, type ShakeOut } from '../../engine/types.ts';
import type { LedgerBatch } from '../../ledger/types.ts';
import { CommonStatus } from '../../protocol/codes.ts';
import { C, type ShakeCeiling } from '../counters.ts';
import type { Replier } from '../replier.ts';
import { INITIAL_CAPACITY, isThenable, type Moves, PaidAnswers, RequestQueue, type RunContext } from './lane.ts';

/** One turn's shakes: two alternate, so a run still waiting on an (async) engine keeps its arrays. */
export class ShakeQueue extends RequestQueue {
  push(target: Replier, requestId: number, user: number): void {
    this.put(target, requestId, user);
  }

  refuse(from: number, to: number, status: number, counters: Float64Array): void {
    counters[status === CommonStatus.Overloaded ? C.overloaded : C.unavailable] += to - from;
    for (let i = from; i < to; i++) this.targets[i].shakeResult(this.reqs[i], status, 0, 0);
  }
}

/** Hits of one run, waiting for their commit. */
export class HitMoves extends PaidAnswers implements Moves {
  toLedger(batch: LedgerBatch, at: number): void {
    batch.hits = this.ledgerItems(at);
  }

  told(counters: Float64Array): void {
    for (let i = 0; i < this.ids.length; i++) {
      counters[C.hits]++;
      counters[C.hitCents] += this.cents[i];
      this.targets[i].shakeResult(this.reqs[i], ShakeStatus.Hit, this.ids[i], this.cents[i]);
    }
  }

  refused(counters: Float64Array): void {
    counters[C.unavailable] += this.ids.length;
    for (let i = 0; i < this.ids.length; i++) this.targets[i].shakeResult(this.reqs[i], CommonStatus.Unavailable, 0, 0);
  }
}

/** Runs a turn's shakes through the ceiling and the engine. */
export class ShakeRunner {
  private out: ShakeOut = { status: new Uint8Array(INITIAL_CAPACITY), packetIds: new Uint32Array(INITIAL_CAPACITY), cents: new Uint32Array(INITIAL_CAPACITY) };
  /** The current run's hits (null until the first: a run of misses allocates nothing). */
  hits: HitMoves | null = null;

  constructor(
    private readonly engine: Engine,
    private readonly ceiling: ShakeCeiling,
  ) {}

  /** Synchronous when the engine is (misses leave in this turn); a Promise only on the async path. */
  run(q: ShakeQueue, ctx: RunContext): void | Promise<void> {
    this.hits = null;
    if (q.n === 0) return;
    ctx.counters[C.shakes] += q.n;
    if (!ctx.canMove()) {
      q.refuse(0, q.n, CommonStatus.Unavailable, ctx.counters);
      return;
    }
    const allowed = this.ceiling.take(q.n, ctx.now);
    if (allowed < q.n) q.refuse(allowed, q.n, CommonStatus.Overloaded, ctx.counters);
    if (allowed === 0) return;
    this.ensureOut(allowed);
    let r: unknown;
    ctx.moving();
    try {
      r = this.engine.shake(q.users.subarray(0, allowed), this.out);
    } catch (err) {
      ctx.engineFailed('shake', err);
      q.refuse(0, allowed, CommonStatus.Unavailable, ctx.counters);
      return;
    }
    if (!isThenable(r)) return this.answer(q, allowed, ctx.counters);
    return Promise.resolve(r).then(
      () => this.answer(q, allowed, ctx.counters),
      (err) => {
        ctx.engineFailed('shake', err);
        q.refuse(0, allowed, CommonStatus.Unavailable, ctx.counters);
      },
    );
  }

  /** Misses are answered now; hits wait for the commit. A status other than Miss and Hit (a store
   *  that could not confirm a hit) is answered as it is: nothing moved for that user. */
  private answer(q: ShakeQueue, n: number, counters: Float64Array): void {
    const { status, packetIds, cents } = this.out;
    const { targets, reqs } = q;
    let misses = 0;
    for (let i = 0; i < n; i++) {
      const s = status[i];
      if (s === ShakeStatus.Hit) {
        if (this.hits === null) this.hits = new HitMoves();
        this.hits.add(targets[i], reqs[i], q.users[i], packetIds[i], cents[i]);
      } else if (s === ShakeStatus.Miss) {
        misses++;
        targets[i].shakeResult(reqs[i], ShakeStatus.Miss, 0, 0);
      } else {
        counters[s === CommonStatus.Overloaded ? C.overloaded : C.unavailable]++;
        targets[i].shakeResult(reqs[i], s, 0, 0);
      }
    }
    counters[C.misses] += misses;
  }

  private ensureOut(n: number): void {
    if (this.out.status.length >= n) return;
    let size = this.out.status.length;
    while (size < n) size *= 2;
    this.out = { status: new Uint8Array(size), packetIds: new Uint32Array(size), cents: new Uint32Array(size) };
  }
}
