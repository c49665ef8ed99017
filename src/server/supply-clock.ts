// The shake supply's clock: once in every wall-clock second (half-way through it) it releases
// `ratePerSecond` packets (fractional rates carry over) and writes them to the ledger. The engine
// keeps the supply's state and released count, so after a restart the clock simply resumes where
// the ledger left it.
//
// Each release is keyed by the wall-clock second it lands in (the stats bucket), never re-armed
// from "now % 1000": a timer that fires a little early or late still pays its own second once, and
// the next timer aims at the next second's release point. A second the event loop slept through
// entirely is not paid twice later (the supply then ends that much later, and the log says so); a
// release still committing when the next second's is due is queued behind it, not dropped.
import type { Engine, ReleaseOut, SupplyOptions, SupplyState } from '../engine/types.ts';
import { C } from './counters.ts';
import { Unavailable } from './groups.ts';
import type { Recovery } from './recovery.ts';

/** Where the clock reads the time and sets its timers (tests give a controlled one). */
export interface TimeSource {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(timer: unknown): void;
}

export const SYSTEM_TIME: TimeSource = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout),
};

/** Where in its second a release happens: each release (and the hits that follow it within
 *  milliseconds) falls clearly inside one per-second stats bucket instead of straddling two. */
const RELEASE_AT_MS = 500;

/** What the admin API and the server's clocks need of a supply: this clock, or a cluster node's
 *  lease clock (src/cluster/lease-clock.ts). */
export interface SupplyControl {
  start(): void;
  stop(): void;
  begin(opts: SupplyOptions): Promise<SupplyState | null>;
  end(): Promise<SupplyState | null>;
}

export class SupplyClock implements SupplyControl {
  private timer: unknown = null;
  private credit = 0;
  private busy = false;
  /** Releases due but not yet run (one per second; more only while a commit is slow). */
  private owed = 0;
  /** The last second released in (unix seconds). */
  private paidSecond = 0;
  private out: ReleaseOut = { ids: new Uint32Array(256), cents: new Uint32Array(256) };

  constructor(
    private readonly engine: Engine,
    private readonly recovery: Recovery,
    private readonly counters: Float64Array,
    private readonly log: (message: string) => void,
    private readonly time: TimeSource = SYSTEM_TIME,
  ) {}

  start(): void {
    if (this.timer !== null) return;
    const now = this.time.now();
    // A second already past its release point is not paid: the first release is in the next one.
    this.paidSecond = Math.floor(now / 1000) - (now % 1000 < RELEASE_AT_MS ? 1 : 0);
    this.arm(now);
  }

  stop(): void {
    if (this.timer !== null) this.time.clearTimeout(this.timer);
    this.timer = null;
  }

  /** Aims at the release point of the second after `paidSecond`. */
  private arm(now: number): void {
    const due = (this.paidSecond + 1) * 1000 + RELEASE_AT_MS;
    this.timer = this.time.setTimeout(() => this.fire(), Math.max(1, due - now));
  }

  private fire(): void {
    this.timer = null;
    const now = this.time.now();
    const second = Math.floor(now / 1000);
    if (second > this.paidSecond) {
      const skipped = second - this.paidSecond - 1;
      if (skipped > 0) this.log(`supply clock: ${skipped} second(s) passed without a release (event loop blocked); they are not paid later`);
      this.paidSecond = second;
      this.owed++;
      void this.drain();
    }
    this.arm(now);
  }

  /** Admin: replace the supply (released starts at 0) and record it. */
  async begin(opts: SupplyOptions): Promise<SupplyState | null> {
    if (!this.recovery.canMove()) throw new Unavailable();
    await this.engine.startSupply(opts);
    this.credit = 0;
    await this.commitOrUnavailable({ supplyStart: { total: opts.total, ratePerSecond: opts.ratePerSecond, rule: opts.rule, at: this.time.now() } });
    return this.engine.supplyState();
  }

  /** Admin: stop releasing (packets already released stay to be won). */
  async end(): Promise<SupplyState | null> {
    if (!this.recovery.canMove()) throw new Unavailable();
    await this.engine.stopSupply();
    await this.commitOrUnavailable({ supplyStop: { at: this.time.now() } });
    return this.engine.supplyState();
  }

  private async commitOrUnavailable(batch: Parameters<Recovery['commit']>[0]): Promise<void> {
    try {
      await this.recovery.commit(batch);
    } catch {
      throw new Unavailable();
    }
  }

  private async drain(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      while (this.owed > 0) {
        this.owed--;
        await this.release();
      }
    } finally {
      this.busy = false;
    }
  }

  private async release(): Promise<void> {
    if (!this.recovery.canMove()) return;
    try {
      const st = await this.engine.supplyState();
      if (!st?.active || st.released >= st.total) {
        this.credit = 0;
        return;
      }
      this.credit += st.ratePerSecond;
      const n = Math.min(Math.floor(this.credit), st.total - st.released);
      if (n <= 0) return;
      this.credit -= n;
      if (this.out.ids.length < n) this.out = { ids: new Uint32Array(n), cents: new Uint32Array(n) };
      const got = await this.engine.releaseSupply(n, this.out);
      if (got === 0) return;
      let cents = 0;
      for (let i = 0; i < got; i++) cents += this.out.cents[i];
      await this.recovery.commit({ release: { count: got, ids: this.out.ids, cents: this.out.cents, at: this.time.now() } });
      this.counters[C.released] += got;
      this.counters[C.releasedCents] += cents;
    } catch (err) {
      // A failed commit already degraded the server (Recovery logs it); anything else is logged here.
      if (!(err instanceof Error && /ledger/i.test(err.name))) this.log(`supply release failed: ${(err as Error).message}`);
    }
  }
}
