// What travels between ledger clients (any thread) and the writer thread: request and reply
// messages, the copy of a batch made before posting, and the health cell in shared memory that
// every thread reads synchronously.
import type { MessagePort } from 'node:worker_threads';
import type { CoverRecord, LedgerBatch, LedgerHealth, LedgerKind, LedgerSnapshot } from './types.ts';

export type Request = { t: 'batch'; id: number; batch: LedgerBatch } | { t: 'barrier'; id: number } | { t: 'snapshot'; id: number };

/** Only on the owner's port. */
export type Control =
  | { t: 'port'; port: MessagePort }
  | { t: 'maxPageCount'; id: number; pages: number }
  | { t: 'queryOnly'; id: number; on: boolean }
  | { t: 'close' };

export interface WireError {
  name: 'LedgerUnavailableError' | 'LedgerDivergenceError';
  message: string;
}

export type Reply = { t: 'ok'; id: number; snapshot?: LedgerSnapshot } | { t: 'err'; id: number; error: WireError } | { t: 'hello'; health: SharedArrayBuffer };

/** Sent once on the owner's port when the database is open (or could not be). */
export type Ready = { t: 'ready' } | { t: 'failed'; message: string };

export interface WriterData {
  path: string;
  kind: LedgerKind;
  port: MessagePort;
  health: SharedArrayBuffer;
  busyTimeoutMs: number;
  dependencyWaitMs: number;
  maxPageCount: number | null;
}

// ---- copying a batch: callers reuse their typed arrays, so the client copies [0, count) before posting.

function u32(name: string, a: Uint32Array, count: number): Uint32Array {
  if (!(a instanceof Uint32Array)) throw new TypeError(`${name} must be a Uint32Array`);
  if (a.length < count) throw new RangeError(`${name} has ${a.length} items, count is ${count}`);
  return a.slice(0, count);
}

function checkCount(name: string, count: unknown): number {
  if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0)
    throw new RangeError(`${name}.count must be a non-negative integer, got ${String(count)}`);
  return count;
}

function checkAt(name: string, at: unknown): number {
  if (typeof at !== 'number' || !Number.isFinite(at)) throw new RangeError(`${name}.at must be a finite number of ms, got ${String(at)}`);
  return at;
}

function cloneCover(c: CoverRecord | null | undefined): CoverRecord | null {
  return c ? { title: String(c.title), colour: c.colour, story: String(c.story) } : null;
}

/** A private copy of `b` holding only the first `count` items of each array, and the buffers to transfer. */
export function copyBatch(b: LedgerBatch): { batch: LedgerBatch; transfer: ArrayBuffer[] } {
  const out: LedgerBatch = {};
  const transfer: ArrayBuffer[] = [];
  const keep = <T extends Uint32Array>(a: T): T => {
    transfer.push(a.buffer as ArrayBuffer);
    return a;
  };
  if (b.supplyStart) {
    const s = b.supplyStart;
    out.supplyStart = { total: s.total, ratePerSecond: s.ratePerSecond, rule: structuredClone(s.rule), at: checkAt('supplyStart', s.at) };
  }
  if (b.supplyStop) out.supplyStop = { at: checkAt('supplyStop', b.supplyStop.at) };
  if (b.release) {
    const r = b.release;
    const n = checkCount('release', r.count);
    out.release = { count: n, ids: keep(u32('release.ids', r.ids, n)), cents: keep(u32('release.cents', r.cents, n)), at: checkAt('release', r.at) };
  }
  if (b.hits) {
    const h = b.hits;
    const n = checkCount('hits', h.count);
    out.hits = {
      count: n,
      users: keep(u32('hits.users', h.users, n)),
      packetIds: keep(u32('hits.packetIds', h.packetIds, n)),
      cents: keep(u32('hits.cents', h.cents, n)),
      at: checkAt('hits', h.at),
    };
  }
  if (b.creates) {
    out.creates = b.creates.map((c) => ({
      id: c.id,
      sender: c.sender,
      totalCents: c.totalCents,
      shareCount: c.shareCount,
      splitMode: c.splitMode,
      recipients: Array.from(c.recipients),
      expiresAt: c.expiresAt,
      createdAt: c.createdAt,
      cover: cloneCover(c.cover),
    }));
  }
  if (b.opens) {
    const o = b.opens;
    const n = checkCount('opens', o.count);
    out.opens = {
      count: n,
      users: keep(u32('opens.users', o.users, n)),
      packetIds: keep(u32('opens.packetIds', o.packetIds, n)),
      cents: keep(u32('opens.cents', o.cents, n)),
      at: checkAt('opens', o.at),
    };
  }
  if (b.refunds) {
    const r = b.refunds;
    const n = checkCount('refunds', r.count);
    out.refunds = {
      count: n,
      packetIds: keep(u32('refunds.packetIds', r.packetIds, n)),
      senders: keep(u32('refunds.senders', r.senders, n)),
      cents: keep(u32('refunds.cents', r.cents, n)),
      shares: keep(u32('refunds.shares', r.shares, n)),
      at: checkAt('refunds', r.at),
    };
  }
  if (b.doubts) out.doubts = b.doubts.map((d) => ({ kind: d.kind, packetId: d.packetId, user: d.user, cents: d.cents, at: checkAt('doubts', d.at) }));
  if (b.settled) {
    out.settled = b.settled.map((s) => ({
      kind: s.kind,
      packetId: s.packetId,
      user: s.user,
      cents: s.cents,
      outcome: s.outcome,
      at: checkAt('settled', s.at),
    }));
  }
  return { batch: out, transfer };
}

// ---- health in shared memory, written by the writer only, read by any thread (a sequence lock).

const NUMBERS = 8; // healthy, commits, batches, lastCommitMs, divergences, waiting, heapMb, heapUsedMb
const TEXT_BYTES = 1024;
const TEXT_LEN = NUMBERS; // index of the lastError length among the numbers

export function createHealthBuffer(): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(8 + 8 * (NUMBERS + 1) + TEXT_BYTES);
  new HealthCell(sab).write({ healthy: true, lastError: null, commits: 0, batches: 0, lastCommitMs: 0, divergences: 0, waiting: 0, heapMb: 0, heapUsedMb: 0 });
  return sab;
}

export class HealthCell {
  private readonly seq: Int32Array;
  private readonly nums: Float64Array;
  private readonly text: Uint8Array;

  constructor(sab: SharedArrayBuffer) {
    this.seq = new Int32Array(sab, 0, 2);
    this.nums = new Float64Array(sab, 8, NUMBERS + 1);
    this.text = new Uint8Array(sab, 8 + 8 * (NUMBERS + 1), TEXT_BYTES);
  }

  write(h: LedgerHealth): void {
    Atomics.add(this.seq, 0, 1); // odd: a write is in progress
    const n = this.nums;
    n[0] = h.healthy ? 1 : 0;
    n[1] = h.commits;
    n[2] = h.batches;
    n[3] = h.lastCommitMs;
    n[4] = h.divergences;
    n[5] = h.waiting;
    n[6] = h.heapMb;
    n[7] = h.heapUsedMb;
    n[TEXT_LEN] = h.lastError === null ? -1 : new TextEncoder().encodeInto(h.lastError, this.text).written;
    Atomics.add(this.seq, 0, 1);
  }

  read(): LedgerHealth {
    // A writer never stays inside write() for long; the bound only guards against one that died there.
    for (let tries = 0; ; tries++) {
      const before = Atomics.load(this.seq, 0);
      if (before % 2 === 1 && tries < 10_000) continue;
      const n = this.nums;
      const len = n[TEXT_LEN];
      const h: LedgerHealth = {
        healthy: n[0] === 1,
        lastError: len < 0 ? null : new TextDecoder().decode(this.text.slice(0, len)),
        commits: n[1],
        batches: n[2],
        lastCommitMs: n[3],
        divergences: n[4],
        waiting: n[5],
        heapMb: n[6],
        heapUsedMb: n[7],
      };
      if (Atomics.load(this.seq, 0) === before || tries >= 10_000) return h;
    }
  }
}
