// The admin group-packet campaign: `count` packets at `ratePerSecond` (fifty steps a second), each from
// a random sender of [userFrom, userTo] to `recipientsPerPacket` other users of that range, drawn
// without repeats, with a total from the amount rule. Not persisted: a restart ends it.
// A cluster create in doubt (docs/cluster.md) is neither made nor refused until the node's settler
// tells which: until then it holds its place in the count, so the campaign neither makes it again
// (more packets than the count) nor gives it up (fewer).
import { Rng } from '../engine/rng.ts';
import { CreateStatus, type AmountRule } from '../engine/types.ts';
import { CommonStatus } from '../protocol/codes.ts';
import { Unavailable, type GroupMoves, type PacketSpec } from './groups.ts';

export interface CampaignOptions {
  count: number;
  ratePerSecond: number;
  recipientsPerPacket: number;
  userFrom: number;
  userTo: number;
  rule: AmountRule;
  expiresInMs: number;
}

export interface CampaignStatus extends CampaignOptions {
  created: number;
  refused: number;
  /** creates in doubt not settled yet */
  inDoubt: number;
  active: boolean;
  startedAt: number;
}

// Small steps keep the opens that follow each step's notifications from arriving in large bursts
// (at 2,000 opens/s: ten steps gave a p50 open latency of ~8 ms, fifty ~2 ms; bench:ledger).
const STEPS_PER_SECOND = 50;
const MAX_PER_STEP = 200;
/** Steps whose creates may wait at once. On a cluster node a create is several round trips with
 *  their WAITs (ids, the create, the journal), seconds each on a starved machine: one step at a time
 *  made 7–35 packets a second of 200 in the seed preset. */
const MAX_STEPS_IN_FLIGHT = 4;

export class Campaign {
  /** the status but `inDoubt`, which is the size of `doubtful` */
  private status: Omit<CampaignStatus, 'inDoubt'> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private credit = 0;
  /** When credit was last added: credit follows elapsed time, so a late or skipped tick does not lower the rate. */
  private creditAt = 0;
  /** steps whose creates are waiting, and the packets they asked for */
  private inFlight = 0;
  private pending = 0;
  /** ids of this campaign's creates in doubt, until the settler tells whether Redis made them */
  private doubtful = new Set<number>();
  private readonly rng: Rng;

  constructor(
    private readonly groups: GroupMoves,
    seed: number,
    private readonly log: (message: string) => void,
  ) {
    this.rng = new Rng(seed >>> 0, 0x7fff_0001);
  }

  current(): CampaignStatus | null {
    return this.status ? { ...this.status, inDoubt: this.doubtful.size } : null;
  }

  /** How this node's creates in doubt settled (this campaign's among them; others are ignored). */
  settled(made: number[], voided: number[]): void {
    const s = this.status;
    if (!s) return;
    for (const id of made) if (this.doubtful.delete(id)) s.created++;
    for (const id of voided) if (this.doubtful.delete(id)) s.refused++;
  }

  start(opts: CampaignOptions): CampaignStatus {
    this.stop();
    this.status = { ...opts, created: 0, refused: 0, active: true, startedAt: Date.now() };
    this.doubtful = new Set();
    this.credit = 0;
    this.creditAt = Date.now();
    this.timer = setInterval(() => void this.step(), 1000 / STEPS_PER_SECOND);
    this.timer.unref();
    return this.current() as CampaignStatus;
  }

  stop(): CampaignStatus | null {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.status) this.status.active = false;
    return this.current();
  }

  private draw(lo: number, hi: number): number {
    return this.rng.uniform(lo, hi);
  }

  private amount(rule: AmountRule): number {
    return rule.kind === 'range' ? this.draw(rule.min, rule.max) : rule.values[this.draw(0, rule.values.length - 1)];
  }

  private packet(s: CampaignOptions, now: number): PacketSpec {
    const sender = this.draw(s.userFrom, s.userTo);
    const chosen = new Set<number>();
    const span = s.userTo - s.userFrom + 1;
    const wanted = Math.min(s.recipientsPerPacket, span > 1 ? span - 1 : span);
    while (chosen.size < wanted) {
      const u = this.draw(s.userFrom, s.userTo);
      if (u !== sender || span === 1) chosen.add(u);
    }
    return {
      sender,
      totalCents: Math.max(this.amount(s.rule), wanted),
      shareCount: wanted,
      recipients: [...chosen],
      expiresAt: now + s.expiresInMs,
      cover: null,
    };
  }

  private async step(): Promise<void> {
    const s = this.status;
    const doubtful = this.doubtful; // this campaign's, also if another is started while this step waits
    if (!s?.active || this.inFlight >= MAX_STEPS_IN_FLIGHT) return;
    if (s.created >= s.count) {
      this.stop();
      this.log(`campaign done: ${s.created} packets created`);
      return;
    }
    const t = Date.now();
    // at most one second's worth waits: a campaign that fell behind does not burst to catch up
    this.credit = Math.min(this.credit + (s.ratePerSecond * (t - this.creditAt)) / 1000, Math.max(1, s.ratePerSecond));
    this.creditAt = t;
    const n = Math.min(Math.floor(this.credit), s.count - s.created - this.pending - doubtful.size, MAX_PER_STEP);
    if (n <= 0) return;
    this.credit -= n;
    this.inFlight++;
    this.pending += n;
    try {
      const now = Date.now();
      const specs = Array.from({ length: n }, () => this.packet(s, now));
      const results = await this.groups.create(specs);
      for (const r of results) {
        if (r.status === CreateStatus.Ok) s.created++;
        else if (r.status === CommonStatus.Unavailable && r.packetId !== 0) doubtful.add(r.packetId);
        else s.refused++;
      }
    } catch (err) {
      if (!(err instanceof Unavailable)) this.log(`campaign step failed: ${(err as Error).message}`);
      this.credit = 0; // while degraded the campaign pauses instead of bursting afterwards
    } finally {
      this.inFlight--;
      this.pending -= n;
    }
  }
}
