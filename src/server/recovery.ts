// The main thread's view of whether money may move, and the way back after a failed commit.
// A failed commit anywhere (or a worker thread dying) makes the server degraded: every thread stops
// moving money and answers Unavailable. Once a ledger barrier succeeds again (the writer probes the
// disk with a real write), every thread drains what it has in flight, the engine is reset and
// restored from the ledger's snapshot, and the threads resume. Logged once per state change.
import type { Engine, EngineOptions } from '../engine/types.ts';
import type { Ledger, LedgerBatch } from '../ledger/types.ts';
import { coverEntries, type CoverEntry } from './covers.ts';

export type ServerState = 'healthy' | 'degraded' | 'rebuilding' | 'closing';

export interface RecoveryDeps {
  ledger: Ledger;
  engine: Engine;
  engineOptions: EngineOptions;
  /** Tell every app; wait for every app to have nothing in flight. */
  broadcastHealth(state: 'healthy' | 'degraded'): void;
  drainApps(): Promise<void>;
  restoredCovers(entries: CoverEntry[]): void;
  log(message: string): void;
  probeMs?: number;
}

export class Recovery {
  state: ServerState = 'healthy';
  rebuilds = 0;
  private inflight = 0;
  private idleWaiters: Array<() => void> = [];
  private probe: NodeJS.Timeout | null = null;
  private probing = false;

  constructor(private readonly deps: RecoveryDeps) {}

  canMove(): boolean {
    return this.state === 'healthy';
  }

  /** Commit a batch of the main thread's own moves; a failure degrades the server and rethrows. */
  async commit(batch: LedgerBatch): Promise<void> {
    this.inflight++;
    try {
      await this.deps.ledger.commit(batch);
    } catch (err) {
      this.failed(err instanceof Error ? err.message : String(err));
      throw err;
    } finally {
      this.inflight--;
      if (this.inflight === 0) for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  /** Something moved engine state that the ledger did not take: stop until rebuilt. */
  failed(reason: string): void {
    if (this.state !== 'healthy') return;
    this.state = 'degraded';
    this.deps.log(`ledger cannot commit (${reason}): no money moves, answering Unavailable until the ledger takes writes again`);
    this.deps.broadcastHealth('degraded');
    this.startProbe();
  }

  close(): void {
    this.state = 'closing';
    this.stopProbe();
  }

  /** Resolves once the main thread's own commits have settled. */
  idle(): Promise<void> {
    if (this.inflight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private startProbe(): void {
    if (this.probe) return;
    this.probe = setInterval(() => void this.tryRecover(), this.deps.probeMs ?? 1000);
    this.probe.unref();
  }

  private stopProbe(): void {
    if (this.probe) clearInterval(this.probe);
    this.probe = null;
  }

  private async tryRecover(): Promise<void> {
    if (this.probing || this.state !== 'degraded') return;
    this.probing = true;
    try {
      await this.deps.ledger.barrier(); // resolves only once the writer's probe write succeeded
    } catch {
      this.probing = false;
      return;
    }
    try {
      if (this.state !== 'degraded') return;
      this.state = 'rebuilding';
      this.deps.log('ledger takes writes again: draining every thread, then rebuilding the engine from the ledger');
      await this.deps.drainApps();
      await this.idle();
      if (this.state !== 'rebuilding') return; // shutdown began meanwhile
      const snapshot = await this.deps.ledger.loadSnapshot();
      await this.deps.engine.reset(this.deps.engineOptions);
      await this.deps.engine.snapshotRestore(snapshot.engine);
      this.deps.restoredCovers(coverEntries(snapshot));
      this.rebuilds++;
      this.stopProbe();
      this.state = 'healthy';
      this.deps.broadcastHealth('healthy');
      this.deps.log(`engine rebuilt from the ledger (rebuild ${this.rebuilds}): money moves again`);
    } catch (err) {
      if (this.state === 'rebuilding') this.state = 'degraded';
      this.deps.log(`rebuild failed, still degraded: ${(err as Error).message}`);
    } finally {
      this.probing = false;
    }
  }
}
