// Group packets created over WebSocket in a turn: one engine call for all of them. A refused create
// is answered at once with its status; a created packet waits for the run's commit, then its sender
// is told its id and its recipients are notified.
import { CreateStatus, type CreateOut, type Engine, type SplitMode } from '../../engine/types.ts';
import type { GroupCreateRecord, LedgerBatch } from '../../ledger/types.ts';
import type { Cover } from '../../protocol/codec.ts';
import { CommonStatus } from '../../protocol/codes.ts';
import { C } from '../counters.ts';
import type { Replier } from '../replier.ts';
import { createBatchOf, createRecordOf, type CreateSpec } from './create-batch.ts';
import { isThenable, type Moves, type RunContext } from './lane.ts';

export interface CreateRequest extends CreateSpec {
  target: Replier;
  requestId: number;
}

/** A group packet just committed: what its recipients are told (and its cover, for details). */
export interface NotifyItem {
  id: number;
  sender: number;
  shareCount: number;
  totalCents: number;
  expiresAt: number;
  recipients: number[];
  cover: Cover | null;
}

export function refuseCreates(creates: CreateRequest[], counters: Float64Array): void {
  counters[C.unavailable] += creates.length;
  for (const c of creates) c.target.createResult(c.requestId, CommonStatus.Unavailable, 0);
}

/** Packets one run created, waiting for their commit. */
export class CreateMoves implements Moves {
  readonly targets: Replier[] = [];
  readonly reqs: number[] = [];
  readonly records: GroupCreateRecord[] = [];

  constructor(private readonly onCreated: (items: NotifyItem[]) => void) {}

  get size(): number {
    return this.records.length;
  }

  toLedger(batch: LedgerBatch): void {
    batch.creates = this.records;
  }

  told(counters: Float64Array): void {
    const items: NotifyItem[] = [];
    this.records.forEach((c, i) => {
      counters[C.creates]++;
      counters[C.createCents] += c.totalCents;
      this.targets[i].createResult(this.reqs[i], CreateStatus.Ok, c.id);
      items.push({
        id: c.id,
        sender: c.sender,
        shareCount: c.shareCount,
        totalCents: c.totalCents,
        expiresAt: c.expiresAt,
        recipients: c.recipients,
        cover: c.cover,
      });
    });
    this.onCreated(items);
  }

  refused(counters: Float64Array): void {
    counters[C.unavailable] += this.records.length;
    for (let i = 0; i < this.records.length; i++) this.targets[i].createResult(this.reqs[i], CommonStatus.Unavailable, 0);
  }
}

export class CreateRunner {
  creates: CreateMoves | null = null;

  constructor(
    private readonly engine: Engine,
    private readonly splitMode: SplitMode,
    private readonly packetTtlMs: number,
    private readonly onCreated: (items: NotifyItem[]) => void,
  ) {}

  run(creates: CreateRequest[], ctx: RunContext): void | Promise<void> {
    this.creates = null;
    if (creates.length === 0) return;
    if (!ctx.canMove()) return refuseCreates(creates, ctx.counters);
    const n = creates.length;
    const expiresAt = ctx.now + this.packetTtlMs;
    const batch = createBatchOf(creates, () => expiresAt);
    const out: CreateOut = { status: new Uint8Array(n), packetIds: new Uint32Array(n) };
    let r: unknown;
    ctx.moving();
    try {
      r = this.engine.createGroup(batch, out);
    } catch (err) {
      ctx.engineFailed('createGroup', err);
      return refuseCreates(creates, ctx.counters);
    }
    const answer = () => {
      creates.forEach((c, i) => {
        if (out.status[i] !== CreateStatus.Ok) {
          if (out.status[i] === CommonStatus.Unavailable) ctx.counters[C.unavailable]++;
          c.target.createResult(c.requestId, out.status[i], 0);
          return;
        }
        if (this.creates === null) this.creates = new CreateMoves(this.onCreated);
        const m = this.creates;
        m.targets.push(c.target);
        m.reqs.push(c.requestId);
        m.records.push(createRecordOf(c, out.packetIds[i], this.splitMode, expiresAt, ctx.now));
      });
    };
    if (!isThenable(r)) return answer();
    return Promise.resolve(r).then(answer, (err) => {
      ctx.engineFailed('createGroup', err);
      refuseCreates(creates, ctx.counters);
    });
  }
}
