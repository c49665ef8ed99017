// The durable ledger's interface. Every money-moving result is committed here before anyone is
// told about it. Implementation: SQLite (WAL, synchronous=FULL) owned by one writer thread;
// batches from every event-loop turn of every worker are group-committed (one transaction for all
// batches waiting), so no fsync ever runs on an event-loop thread.
import type { EngineSnapshot, AmountRule, SplitMode } from '../engine/types.ts';

export interface CoverRecord {
  title: string;
  colour: number;
  story: string;
}

export interface GroupCreateRecord {
  id: number;
  sender: number;
  totalCents: number;
  shareCount: number;
  splitMode: SplitMode;
  recipients: number[];
  expiresAt: number;
  createdAt: number;
  cover: CoverRecord | null;
}

/** The money moves of one batch. Typed arrays are copied or transferred by the client; `count` bounds each. */
export interface LedgerBatch {
  supplyStart?: { total: number; ratePerSecond: number; rule: AmountRule; at: number };
  supplyStop?: { at: number };
  release?: { count: number; ids: Uint32Array; cents: Uint32Array; at: number };
  hits?: { count: number; users: Uint32Array; packetIds: Uint32Array; cents: Uint32Array; at: number };
  creates?: GroupCreateRecord[];
  opens?: { count: number; users: Uint32Array; packetIds: Uint32Array; cents: Uint32Array; at: number };
  refunds?: { count: number; packetIds: Uint32Array; senders: Uint32Array; cents: Uint32Array; shares: Uint32Array; at: number };
}

export interface LedgerSnapshot {
  engine: EngineSnapshot;
  covers: Map<number, CoverRecord>;
}

export interface LedgerHealth {
  healthy: boolean;
  /** Why the last commit failed (e.g. SQLITE_FULL), while unhealthy. */
  lastError: string | null;
  commits: number;
  batches: number;
  lastCommitMs: number;
}

export interface Ledger {
  /** Resolves once the batch is durably committed; rejects (LedgerUnavailableError) if it could not be. */
  commit(batch: LedgerBatch): Promise<void>;
  /** Resolves once everything submitted before this call is committed (used by repeat opens). */
  barrier(): Promise<void>;
  loadSnapshot(): Promise<LedgerSnapshot>;
  health(): LedgerHealth;
  close(): Promise<void>;
}

export class LedgerUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LedgerUnavailableError';
  }
}
