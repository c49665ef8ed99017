// The shake supply's clock: once a second (half-way through it) it releases `ratePerSecond` packets
// (fractional rates carry over) and writes them to the ledger. The engine keeps the supply's state
// and released count, so after a restart the clock simply resumes where the ledger left it.
import type { Engine, ReleaseOut, SupplyOptions, SupplyState } from '../engine/types.ts';
import { C } from './counters.ts';
import { Unavailable } from './groups.ts';
import type { Recovery } from './recovery.ts';

export class SupplyClock {
  private timer: NodeJS.Timeout | null = null;
  private credit = 0;
  private busy = false;
  private out: ReleaseOut = { ids: new Uint32Array(256), cents: new Uint32Array(256) };

  constructor(
    private readonly engine: Engine,
    private readonly recovery: Recovery,
    private readonly counters: Float64Array,
    private readonly log: (message: string) => void,
  ) {}

  start(): void {
    // Half-way through the wall-clock second, so each release (and the hits that follow it within
    // milliseconds) falls clearly inside one per-second stats bucket instead of straddling two.
    const wait = (1500 - (Date.now() % 1000)) % 1000 || 1000;
    this.timer = setTimeout(() => {
      this.start();
      void this.tick();
    }, wait);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Admin: replace the supply (released starts at 0) and record it. */
  async begin(opts: SupplyOptions): Promise<SupplyState | null> {
    if (!this.recovery.canMove()) throw new Unavailable();
    await this.engine.startSupply(opts);
    this.credit = 0;
    await this.commitOrUnavailable({ supplyStart: { total: opts.total, ratePerSecond: opts.ratePerSecond, rule: opts.rule, at: Date.now() } });
    return this.engine.supplyState();
  }

  /** Admin: stop releasing (packets already released stay to be won). */
  async end(): Promise<SupplyState | null> {
    if (!this.recovery.canMove()) throw new Unavailable();
    await this.engine.stopSupply();
    await this.commitOrUnavailable({ supplyStop: { at: Date.now() } });
    return this.engine.supplyState();
  }

  private async commitOrUnavailable(batch: Parameters<Recovery['commit']>[0]): Promise<void> {
    try {
      await this.recovery.commit(batch);
    } catch {
      throw new Unavailable();
    }
  }

  private async tick(): Promise<void> {
    if (this.busy || !this.recovery.canMove()) return;
    this.busy = true;
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
      await this.recovery.commit({ release: { count: got, ids: this.out.ids, cents: this.out.cents, at: Date.now() } });
      this.counters[C.released] += got;
      this.counters[C.releasedCents] += cents;
    } catch (err) {
      // A failed commit already degraded the server (Recovery logs it); anything else is logged here.
      if (!(err instanceof Error && /ledger/i.test(err.name))) this.log(`supply release failed: ${(err as Error).message}`);
    } finally {
      this.busy = false;
    }
  }
}
