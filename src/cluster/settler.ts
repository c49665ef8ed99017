// Moves in doubt (docs/cluster.md, "Failure model"): Redis may or may not have made them (a lost
// reply, a write no replica took in time), and their users were answered Unavailable. Each is put
// in the node's journal as a doubt at once, then looked up in Redis every couple of seconds until
// it can be told apart: `paid` (Redis has it: the money moved without its user being told; the
// journal now accounts for it) or `void` (it did not; a shake packet still leased to this node goes
// back into its buckets). Nothing is retried: a retried move could pay someone who was told no.
import type { Engine } from '../engine/types.ts';
import type { Doubt, Ledger, LedgerBatch } from '../ledger/types.ts';
import { readJournal } from './cluster-check.ts';
import { groupBucketKey, packetMetaKey, packetOpenedKey, parseHit, SUPPLY_HITS_KEY } from './keys.ts';
import type { Call, ClusterStore } from './store.ts';

const SETTLE_EVERY_MS = 2000;

export class Settler {
  private unjournaled: Doubt[] = [];
  private open: Doubt[] = [];
  private timer: NodeJS.Timeout | null = null;
  private busy = false;
  /** settled so far, by outcome */
  readonly counts = { doubts: 0, paid: 0, void: 0 };

  constructor(
    private readonly store: ClusterStore,
    private readonly local: Engine,
    private readonly ledger: Ledger,
    private readonly node: string,
    private readonly log: (message: string) => void,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.settle(), SETTLE_EVERY_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Creates in doubt, once settled: `made` Redis had made (their recipients have not been told),
   *  `voided` it had not. */
  onCreatesSettled: ((made: number[], voided: number[]) => void) | null = null;

  get pending(): number {
    return this.open.length + this.unjournaled.length;
  }

  add(doubts: Doubt[], why = 'answered Unavailable'): void {
    this.counts.doubts += doubts.length;
    this.unjournaled.push(...doubts);
    this.log(`${doubts.length} ${doubts[0].kind}(s) in doubt: ${why}, to be settled against Redis`);
  }

  /** Hits Redis paid for this node that its journal has neither as told nor as a doubt: what an
   *  earlier run of the node left when it was killed between Redis and its journal (its users were
   *  answered nothing). They are settled like doubts, so the journals account for them. Only before
   *  this run pays anything (a hit of its own in flight would look the same); it reads every hit
   *  Redis holds, once. Shares, creates and refunds Redis does not record by node: those stay
   *  untold (docs/cluster.md). */
  async adoptUntold(journalFile: string): Promise<number> {
    const journal = readJournal(journalFile);
    const known = new Set<number>(journal.hits.map(([id]) => id));
    for (const d of journal.doubts) if (d.kind === 'hit') known.add(d.packet_id);
    const untold: Doubt[] = [];
    let cursor = '0';
    do {
      const [next, flat] = await this.store.cluster.hscan(SUPPLY_HITS_KEY, cursor, 'COUNT', 1000);
      cursor = next;
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const id = Number(flat[i]);
        const hit = parseHit(flat[i + 1]);
        if (hit.node === this.node && !known.has(id)) untold.push({ kind: 'hit', packetId: id, user: hit.user, cents: hit.cents, at: hit.at });
      }
    } while (cursor !== '0');
    if (untold.length > 0) this.add(untold, 'paid in Redis for an earlier run of this node, which was killed before its journal had them');
    return untold.length;
  }

  /** Journal new doubts, then look the open ones up; what is known is journaled as settled. */
  async settle(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      if (this.unjournaled.length > 0) {
        const batch = this.unjournaled;
        this.unjournaled = [];
        try {
          await this.ledger.commit({ doubts: batch });
          this.open.push(...batch);
        } catch (err) {
          this.unjournaled.unshift(...batch); // the journal cannot write now: next time
          this.log(`doubts not journaled yet: ${(err as Error).message}`);
          return;
        }
      }
      if (this.open.length > 0) await this.lookUp();
    } finally {
      this.busy = false;
    }
  }

  private async lookUp(): Promise<void> {
    const doubts = this.open;
    const calls = doubts.map((d) => this.lookUpCall(d));
    const results = await this.store.run(calls);
    const still: Doubt[] = [];
    const settled: NonNullable<LedgerBatch['settled']> = [];
    const refunds = { packetIds: [] as number[], senders: [] as number[], cents: [] as number[], shares: [] as number[] };
    const back = { ids: [] as number[], cents: [] as number[] };
    const now = Date.now();
    doubts.forEach((d, i) => {
      const r = results[i];
      if (!r.ok) {
        still.push(d);
        return;
      }
      let outcome: 'paid' | 'void' = 'void';
      let cents = d.cents;
      if (d.kind === 'hit') {
        const hit = typeof r.value === 'string' ? parseHit(r.value) : null;
        outcome = hit !== null && hit.user === d.user && hit.cents === d.cents ? 'paid' : 'void';
        if (outcome === 'void') {
          // still leased to this node? back into its buckets (given back or paid elsewhere: not ours)
          back.ids.push(d.packetId);
          back.cents.push(d.cents);
        }
      } else if (d.kind === 'share') {
        outcome = r.value === null ? 'void' : 'paid';
        cents = r.value === null ? 0 : Number(r.value);
      } else if (d.kind === 'create') {
        outcome = r.value === null ? 'void' : 'paid';
      } else {
        const v = (r.value as Array<string | number>).map(Number);
        for (let j = 0; j + 3 < v.length; j += 4) {
          refunds.packetIds.push(v[j]);
          refunds.senders.push(v[j + 1]);
          refunds.cents.push(v[j + 2]);
          refunds.shares.push(v[j + 3]);
        }
        outcome = v.length > 0 ? 'paid' : 'void';
      }
      this.counts[outcome]++;
      settled.push({ kind: d.kind, packetId: d.packetId, user: d.user, cents, outcome, at: now });
    });
    this.open = still;
    if (settled.length === 0) return;
    if (back.ids.length > 0) await this.stillLeased(back);
    const batch: LedgerBatch = { settled };
    if (refunds.packetIds.length > 0) {
      batch.refunds = {
        count: refunds.packetIds.length,
        packetIds: Uint32Array.from(refunds.packetIds),
        senders: Uint32Array.from(refunds.senders),
        cents: Uint32Array.from(refunds.cents),
        shares: Uint32Array.from(refunds.shares),
        at: now,
      };
    }
    try {
      await this.ledger.commit(batch);
      this.log(`settled ${settled.length} doubt(s): ${settled.filter((s) => s.outcome === 'paid').length} paid in Redis (untold), the rest void`);
      const creates = settled.filter((s) => s.kind === 'create');
      if (creates.length > 0)
        this.onCreatesSettled?.(
          creates.filter((s) => s.outcome === 'paid').map((s) => s.packetId),
          creates.filter((s) => s.outcome === 'void').map((s) => s.packetId),
        );
    } catch (err) {
      this.open.push(...doubts.filter((d) => settled.some((s) => s.kind === d.kind && s.packetId === d.packetId && s.user === d.user)));
      this.log(`settlements not journaled yet: ${(err as Error).message}`);
    }
  }

  /** What tells a doubt's outcome apart. */
  private lookUpCall(d: Doubt): Call {
    if (d.kind === 'hit') return { fn: 'HGET', key: SUPPLY_HITS_KEY, args: [d.packetId], write: false, plain: true };
    if (d.kind === 'share') return { fn: 'HGET', key: packetOpenedKey(d.packetId), args: [d.user], write: false, plain: true };
    if (d.kind === 'create') return { fn: 'HGET', key: packetMetaKey(d.packetId), args: ['sender'], write: false, plain: true };
    // a lost sweep reply: the refunds this node made in that bucket since (d.user is the bucket)
    return { fn: 'hb_grp_refunds', key: groupBucketKey(d.user), args: [this.node, d.at - 60_000], write: false };
  }

  /** Hits that did not happen: the packets still in this node's lease go back into its buckets. */
  private async stillLeased(back: { ids: number[]; cents: number[] }): Promise<void> {
    const calls: Call[] = back.ids.map((id) => ({ fn: 'HGET', key: `{hb:s}:lease:${this.node}`, args: [id], write: false, plain: true }));
    const results = await this.store.run(calls);
    const ids: number[] = [];
    const cents: number[] = [];
    results.forEach((r, i) => {
      if (r.ok && r.value !== null && Number(r.value) === back.cents[i]) {
        ids.push(back.ids[i]);
        cents.push(back.cents[i]);
      }
    });
    if (ids.length > 0) await this.local.adoptShakePackets(Uint32Array.from(ids), Uint32Array.from(cents));
  }
}
