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

/** The money moves of one batch. Typed arrays are copied by the client before `commit` returns (the
 *  caller may reuse them at once); `count` bounds each. The writer applies the parts in this order:
 *  supplyStart, supplyStop, release, hits, creates, opens, refunds. */
export interface LedgerBatch {
  supplyStart?: { total: number; ratePerSecond: number; rule: AmountRule; at: number };
  supplyStop?: { at: number };
  release?: { count: number; ids: Uint32Array; cents: Uint32Array; at: number };
  hits?: { count: number; users: Uint32Array; packetIds: Uint32Array; cents: Uint32Array; at: number };
  creates?: GroupCreateRecord[];
  opens?: { count: number; users: Uint32Array; packetIds: Uint32Array; cents: Uint32Array; at: number };
  refunds?: { count: number; packetIds: Uint32Array; senders: Uint32Array; cents: Uint32Array; shares: Uint32Array; at: number };
  /** Cluster node journals only: moves Redis may or may not have made (their users were answered
   *  Unavailable), kept until settled. */
  doubts?: Doubt[];
  /** Cluster node journals only: how earlier doubts ended (`paid`: Redis has it, untold; `void`: not). */
  settled?: Array<{ kind: Doubt['kind']; packetId: number; user: number; cents: number; outcome: 'paid' | 'void'; at: number }>;
}

/** A money move whose outcome a cluster node could not learn (the reply was lost, or no replica took it). */
export interface Doubt {
  kind: 'hit' | 'share' | 'create' | 'refund';
  packetId: number;
  /** the winner or opener; the sender for creates and refunds */
  user: number;
  cents: number;
  at: number;
}

/** What a ledger file records: the single server's engine state, or a cluster node's journal. */
export type LedgerKind = 'engine' | 'journal';

export interface LedgerSnapshot {
  engine: EngineSnapshot;
  covers: Map<number, CoverRecord>;
}

export interface LedgerHealth {
  healthy: boolean;
  /** Why the last commit failed (e.g. SQLITE_FULL), while unhealthy. */
  lastError: string | null;
  /** Transactions committed (each holds one or more batches: group commit). */
  commits: number;
  /** Batches committed. */
  batches: number;
  /** How long the last committed transaction took in the writer (apply + fsync), ms. */
  lastCommitMs: number;
  /** Batches refused because they disagree with the ledger (LedgerDivergenceError): always a bug. */
  divergences: number;
  /** The writer thread's V8 heap, committed and in use, MiB (for the server's memory reports). */
  heapMb: number;
  heapUsedMb: number;
  /** Batches waiting for a packet another thread has not yet handed to the writer. */
  waiting: number;
}

/** A ledger's health before its first commit (the writer's start, or nothing read yet). */
export function freshHealth(): LedgerHealth {
  return { healthy: true, lastError: null, commits: 0, batches: 0, lastCommitMs: 0, divergences: 0, waiting: 0, heapMb: 0, heapUsedMb: 0 };
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

/** The ledger could not commit (disk full, read-only, I/O error, writer stopped): nothing of the batch
 *  was written. Retrying later may succeed. */
export class LedgerUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LedgerUnavailableError';
  }
}

/** The batch contradicts the ledger (a packet won or opened twice, a share that breaks its packet's
 *  total, a payment to a non-recipient, a packet the ledger never saw): engine and ledger diverged.
 *  Nothing of the batch was written; other batches of the same group commit are unaffected. */
export class LedgerDivergenceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LedgerDivergenceError';
  }
}
