// The main thread's group-packet moves: creating packets (admin API, campaign) and expiring them
// (sweeps, admin "expire now"), each committed to the ledger before anyone is told.
import { CreateStatus, type Engine, type RefundOut, type SplitMode } from '../engine/types.ts';
import type { GroupCreateRecord } from '../ledger/types.ts';
import type { NotifyItem } from './batch/batcher.ts';
import { createBatchOf, createRecordOf, type CreateSpec } from './batch/create-batch.ts';
import { C } from './counters.ts';
import type { Recovery } from './recovery.ts';

export interface PacketSpec extends CreateSpec {
  expiresAt: number;
}

export class Unavailable extends Error {
  constructor(message = 'the ledger cannot commit now') {
    super(message);
    this.name = 'Unavailable';
  }
}

const EXPIRE_CHUNK = 1024;
/** Latest representable Date: "expire everything" without a non-finite clock. */
export const END_OF_TIME = 8.64e15;

export class GroupMoves {
  private readonly refundOut: RefundOut = {
    packetIds: new Uint32Array(EXPIRE_CHUNK),
    senders: new Uint32Array(EXPIRE_CHUNK),
    cents: new Uint32Array(EXPIRE_CHUNK),
    shares: new Uint32Array(EXPIRE_CHUNK),
  };
  /** Expiry runs one at a time (sweeps and admin requests queue behind each other). */
  private expiring: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly engine: Engine,
    private readonly recovery: Recovery,
    private readonly counters: Float64Array,
    private readonly splitMode: SplitMode,
    /** Committed packets: notify their recipients on every thread. */
    private readonly notify: (items: NotifyItem[]) => void,
  ) {}

  /** Create packets; answers each one's status and id (0 unless Ok). Throws Unavailable when nothing may move. */
  async create(specs: PacketSpec[]): Promise<Array<{ status: number; packetId: number }>> {
    if (!this.recovery.canMove()) throw new Unavailable();
    const n = specs.length;
    const batch = createBatchOf(specs, (i) => specs[i].expiresAt);
    const out = { status: new Uint8Array(n), packetIds: new Uint32Array(n) };
    await this.engine.createGroup(batch, out);
    const now = Date.now();
    const records: GroupCreateRecord[] = [];
    specs.forEach((s, i) => {
      if (out.status[i] !== CreateStatus.Ok) return;
      records.push(createRecordOf(s, out.packetIds[i], this.splitMode, s.expiresAt, now));
    });
    if (records.length > 0) {
      try {
        await this.recovery.commit({ creates: records });
      } catch {
        throw new Unavailable();
      }
      for (const r of records) {
        this.counters[C.creates]++;
        this.counters[C.createCents] += r.totalCents;
      }
      this.notify(records.map((r) => ({ ...r })));
    }
    return specs.map((_, i) => ({ status: out.status[i], packetId: out.packetIds[i] }));
  }

  /** Expire what is due at `nowMs` (and the `force` ids), refunding remainders. Returns what was refunded. */
  expire(nowMs: number, force?: Uint32Array): Promise<{ expired: number; refundedCents: number }> {
    const run = this.expiring.then(() => this.expireNow(nowMs, force));
    this.expiring = run.catch(() => undefined);
    return run;
  }

  /** Forget the expired packets whose expiry is at or before `beforeMs`: their refunds are committed
   *  (a sweep commits before it returns) and the ledger keeps them. Returns how many. */
  async evict(beforeMs: number): Promise<number> {
    const run = this.expiring.then(() => this.engine.evict(beforeMs));
    this.expiring = run.catch(() => undefined);
    const n = await run;
    this.counters[C.evicted] += n;
    return n;
  }

  private async expireNow(nowMs: number, force?: Uint32Array): Promise<{ expired: number; refundedCents: number }> {
    let expired = 0;
    let refundedCents = 0;
    for (;;) {
      if (!this.recovery.canMove()) throw new Unavailable();
      const out = this.refundOut;
      const n = await this.engine.expire(nowMs, out, force);
      if (n > 0) {
        let cents = 0;
        for (let i = 0; i < n; i++) cents += out.cents[i];
        try {
          await this.recovery.commit({
            refunds: { count: n, packetIds: out.packetIds, senders: out.senders, cents: out.cents, shares: out.shares, at: Date.now() },
          });
        } catch {
          throw new Unavailable();
        }
        expired += n;
        refundedCents += cents;
        this.counters[C.refunds] += n;
        this.counters[C.refundCents] += cents;
      }
      if (n < EXPIRE_CHUNK) break;
    }
    return { expired, refundedCents };
  }
}
