// Opens of a turn: one engine call for all of them. Refusals (not a recipient, empty, expired,
// unknown) are answered at once; a new share waits for the run's commit; a repeat (the same share
// again, nothing moved) waits for a barrier behind that commit, so it is never told before the
// first open of that share is durable. On a cluster node the first open may have been another
// node's, which can die before its journal has it: there a repeat is committed to this node's
// journal like a new share (the same cents; the journal keeps one row), so that what a user was
// told is always in some journal.
import { OpenStatus, type Engine, type OpenOut } from '../../engine/types.ts';
import type { LedgerBatch } from '../../ledger/types.ts';
import { CommonStatus } from '../../protocol/codes.ts';
import { C } from '../counters.ts';
import type { Replier } from '../replier.ts';
import { type AfterBarrier, grow, INITIAL_CAPACITY, isThenable, type Moves, PaidAnswers, RequestQueue, type RunContext } from './lane.ts';

/** One turn's opens: the queue's columns and the packet of each. */
export class OpenQueue extends RequestQueue {
  ids: Uint32Array<ArrayBuffer> = new Uint32Array(INITIAL_CAPACITY);

  push(target: Replier, requestId: number, user: number, packetId: number): void {
    if (this.full) this.ids = grow(this.ids);
    this.ids[this.n] = packetId;
    this.put(target, requestId, user);
  }

  refuse(counters: Float64Array): void {
    counters[C.unavailable] += this.n;
    for (let i = 0; i < this.n; i++) this.targets[i].openResult(this.reqs[i], CommonStatus.Unavailable, this.ids[i], 0);
  }
}

/** Open answers waiting for the ledger: new shares (a commit) or repeats (a barrier). */
class OpenAnswers extends PaidAnswers {
  unavailable(counters: Float64Array): void {
    counters[C.unavailable] += this.ids.length;
    for (let i = 0; i < this.ids.length; i++) this.targets[i].openResult(this.reqs[i], CommonStatus.Unavailable, this.ids[i], 0);
  }
}

function concat(a: Uint32Array, b: Uint32Array): Uint32Array {
  const out = new Uint32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** New shares of one run. */
export class ShareMoves extends OpenAnswers implements Moves {
  toLedger(batch: LedgerBatch, at: number): void {
    const mine = this.ledgerItems(at);
    const had = batch.opens;
    batch.opens = had
      ? {
          count: had.count + mine.count,
          users: concat(had.users, mine.users),
          packetIds: concat(had.packetIds, mine.packetIds),
          cents: concat(had.cents, mine.cents),
          at,
        }
      : mine;
  }

  told(counters: Float64Array): void {
    for (let i = 0; i < this.ids.length; i++) {
      counters[C.opens]++;
      counters[C.openCents] += this.cents[i];
      this.targets[i].openResult(this.reqs[i], OpenStatus.Ok, this.ids[i], this.cents[i]);
    }
  }

  refused(counters: Float64Array): void {
    this.unavailable(counters);
  }
}

/** Repeat opens of one run on a cluster node: journaled, then told as repeats. */
export class RepeatMoves extends ShareMoves {
  override told(counters: Float64Array): void {
    for (let i = 0; i < this.ids.length; i++) {
      counters[C.repeats]++;
      this.targets[i].openResult(this.reqs[i], OpenStatus.Repeat, this.ids[i], this.cents[i]);
    }
  }
}

/** Repeat opens of one run: the share the user already holds, told once it is durable. */
export class Repeats extends OpenAnswers implements AfterBarrier {
  answer(ok: boolean, counters: Float64Array): void {
    if (!ok) {
      this.unavailable(counters);
      return;
    }
    for (let i = 0; i < this.ids.length; i++) {
      counters[C.repeats]++;
      this.targets[i].openResult(this.reqs[i], OpenStatus.Repeat, this.ids[i], this.cents[i]);
    }
  }
}

export class OpenRunner {
  private out: OpenOut = { status: new Uint8Array(INITIAL_CAPACITY), cents: new Uint32Array(INITIAL_CAPACITY) };
  shares: ShareMoves | null = null;
  repeats: Repeats | null = null;
  repeatMoves: RepeatMoves | null = null;

  constructor(
    private readonly engine: Engine,
    private readonly journalRepeats: boolean,
  ) {}

  run(q: OpenQueue, ctx: RunContext): void | Promise<void> {
    this.shares = null;
    this.repeats = null;
    this.repeatMoves = null;
    if (q.n === 0) return;
    if (!ctx.canMove()) return q.refuse(ctx.counters);
    const n = q.n;
    if (this.out.status.length < n) {
      let size = this.out.status.length;
      while (size < n) size *= 2;
      this.out = { status: new Uint8Array(size), cents: new Uint32Array(size) };
    }
    let r: unknown;
    ctx.moving();
    try {
      r = this.engine.open(q.users.subarray(0, n), q.ids.subarray(0, n), ctx.now, this.out);
    } catch (err) {
      ctx.engineFailed('open', err);
      return q.refuse(ctx.counters);
    }
    if (!isThenable(r)) return this.answer(q, ctx.counters);
    return Promise.resolve(r).then(
      () => this.answer(q, ctx.counters),
      (err) => {
        ctx.engineFailed('open', err);
        q.refuse(ctx.counters);
      },
    );
  }

  private answer(q: OpenQueue, counters: Float64Array): void {
    const { status, cents } = this.out;
    let refused = 0;
    for (let i = 0; i < q.n; i++) {
      const s = status[i];
      if (s === OpenStatus.Ok) {
        if (this.shares === null) this.shares = new ShareMoves();
        this.shares.add(q.targets[i], q.reqs[i], q.users[i], q.ids[i], cents[i]);
      } else if (s === OpenStatus.Repeat && this.journalRepeats) {
        if (this.repeatMoves === null) this.repeatMoves = new RepeatMoves();
        this.repeatMoves.add(q.targets[i], q.reqs[i], q.users[i], q.ids[i], cents[i]);
      } else if (s === OpenStatus.Repeat) {
        if (this.repeats === null) this.repeats = new Repeats();
        this.repeats.add(q.targets[i], q.reqs[i], q.users[i], q.ids[i], cents[i]);
      } else {
        if (s === CommonStatus.Unavailable) counters[C.unavailable]++;
        else refused++;
        q.targets[i].openResult(q.reqs[i], s, q.ids[i], 0);
      }
    }
    counters[C.openRefused] += refused;
  }
}
