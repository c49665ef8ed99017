// The ledger's writer: owns the only SQLite connection, on a thread of its own (its worker thread,
// writer-thread.ts, or the idle main thread of a server run on a worker thread: writer-host.ts), so
// every fsync happens here and never on an event-loop thread. Requests come from any number of
// ports (the owner's and one per client thread). Group commit: everything that arrived while the last
// transaction was being written is applied in ONE transaction, in arrival order, each batch under
// its own savepoint; one COMMIT (one fsync) then settles all of them.
import { accessSync, constants } from 'node:fs';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import type { MessagePort } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import { BatchApplier, MissingDependencyError } from './apply.ts';
import { openDatabase } from './schema.ts';
import { loadSnapshot } from './snapshot.ts';
import { JournalApplier } from './journal.ts';
import { freshHealth, type LedgerBatch, type LedgerHealth, type LedgerKind } from './types.ts';
import { HealthCell, type Control, type Reply, type Request, type WireError, type WriterData } from './wire.ts';

interface QueuedBatch {
  seq: number;
  port: MessagePort;
  id: number;
  batch: LedgerBatch;
  deadline: number;
  reason: string;
}

interface Waiter {
  seq: number;
  port: MessagePort;
  id: number;
  kind: 'barrier' | 'snapshot';
}

/** A batch still missing its dependency when its wait ends is blamed on the disk, not called a divergence,
 *  if a transaction failed this long before the batch arrived (or while it waited). */
const FAILURE_WINDOW_MS = 10_000;

function describe(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}

/** SQLite failing (full, read-only, I/O, busy, corrupt...), as opposed to a batch it refuses
 *  (constraint, type mismatch, value too big), which is the batch's fault. */
function isDatabaseFailure(err: unknown): boolean {
  const code = err instanceof Error ? (err as { code?: unknown }).code : undefined;
  if (typeof code !== 'string' || !code.startsWith('SQLITE_')) return false;
  return !/^SQLITE_(CONSTRAINT|MISMATCH|RANGE|TOOBIG)/.test(code);
}

/** SQLite cannot write the file any more (a filesystem gone read-only, I/O errors): the connection
 *  is released so the disk can be unmounted and repaired, and reopened once it can write again. */
function isDiskGone(err: unknown): boolean {
  const code = err instanceof Error ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' && /^SQLITE_(READONLY|IOERR|CANTOPEN)/.test(code);
}

/** A released database file is reopened at most this often (each try opens, probes and, failing, closes it). */
const REOPEN_INTERVAL_MS = 1000;

/** One SQLite connection and the statements the writer runs on it. */
class Connection {
  readonly applier: { apply(batch: LedgerBatch): void };
  readonly probe: Database.Statement;
  readonly savepoint: { begin: Database.Statement; release: Database.Statement; undo: Database.Statement };

  constructor(
    readonly db: Database.Database,
    kind: LedgerKind,
  ) {
    this.applier = kind === 'journal' ? new JournalApplier(db) : new BatchApplier(db);
    this.probe = db.prepare(`UPDATE meta SET value = value + 1 WHERE key = 'probe'`);
    this.savepoint = { begin: db.prepare('SAVEPOINT batch'), release: db.prepare('RELEASE batch'), undo: db.prepare('ROLLBACK TO batch') };
  }

  close(): void {
    try {
      this.db.close();
    } catch {
      // a connection on a failed disk may not close cleanly; its file handles go either way
    }
  }
}

class Writer {
  /** null while released after a disk failure (see isDiskGone) */
  private conn: Connection | null;
  private lastReopenMs = 0;
  private heapSampledAt = 0;
  /** test switches, applied again to a reopened connection */
  private pageLimit: number | null;
  private queryOnly = false;
  private readonly cell: HealthCell;
  private readonly ports = new Set<MessagePort>();
  private readonly health: LedgerHealth = freshHealth();
  private arrivals = 0;
  private fresh: QueuedBatch[] = [];
  private waiting: QueuedBatch[] = [];
  private waiters: Waiter[] = [];
  private outbox: Array<[MessagePort, Reply]> = [];
  private scheduled = false;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  /** When a transaction last failed for the database's sake (Date.now()), -Infinity if never. */
  private lastFailureMs = -Infinity;

  constructor(
    db: Database.Database,
    private readonly data: WriterData,
  ) {
    this.conn = new Connection(db, data.kind);
    this.pageLimit = data.maxPageCount;
    this.cell = new HealthCell(data.health);
    this.cell.write(this.health);
  }

  listen(port: MessagePort, owner: boolean): void {
    this.ports.add(port);
    port.on('message', (m: Request | Control) => this.onMessage(port, m, owner));
    port.on('close', () => this.ports.delete(port));
    if (!owner) port.postMessage({ t: 'hello', health: this.data.health } satisfies Reply);
  }

  private onMessage(port: MessagePort, m: Request | Control, owner: boolean): void {
    if (this.closed) {
      if ('id' in m) this.reply(port, { t: 'err', id: m.id, error: { name: 'LedgerUnavailableError', message: 'ledger is closed' } });
      this.send();
      return;
    }
    switch (m.t) {
      case 'batch':
        this.fresh.push({ seq: this.arrivals++, port, id: m.id, batch: m.batch, deadline: Date.now() + this.data.dependencyWaitMs, reason: '' });
        break;
      case 'barrier':
      case 'snapshot':
        this.waiters.push({ seq: this.arrivals++, port, id: m.id, kind: m.t });
        break;
      case 'port':
        if (owner) this.listen(m.port, false);
        return;
      case 'maxPageCount':
        if (!owner) return;
        try {
          this.pageLimit = m.pages;
          this.conn?.db.pragma(`max_page_count = ${Math.max(1, Math.floor(m.pages))}`);
          this.reply(port, { t: 'ok', id: m.id });
        } catch (err) {
          this.reply(port, { t: 'err', id: m.id, error: { name: 'LedgerUnavailableError', message: describe(err) } });
        }
        this.send();
        return;
      case 'queryOnly':
        if (!owner) return;
        try {
          this.queryOnly = m.on;
          this.conn?.db.pragma(`query_only = ${m.on ? 'ON' : 'OFF'}`);
          this.reply(port, { t: 'ok', id: m.id });
        } catch (err) {
          this.reply(port, { t: 'err', id: m.id, error: { name: 'LedgerUnavailableError', message: describe(err) } });
        }
        this.send();
        return;
      case 'close':
        if (owner) this.close();
        return;
    }
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Replies wait in the outbox until the health cell is updated, so a client that awaited a commit
   *  sees it counted in health(). */
  private reply(port: MessagePort, r: Reply): void {
    this.outbox.push([port, r]);
  }

  private send(): void {
    const out = this.outbox;
    this.outbox = [];
    for (const [port, r] of out) {
      try {
        port.postMessage(r);
      } catch {
        // The client closed its port; nobody is left to tell.
      }
    }
  }

  private fail(b: { port: MessagePort; id: number }, error: WireError): void {
    this.reply(b.port, { t: 'err', id: b.id, error });
  }

  /** The thread's V8 heap into the health record, at most once a second (flushes come by the thousand). */
  private sampleHeap(): void {
    const now = Date.now();
    if (now - this.heapSampledAt < 1000) return;
    this.heapSampledAt = now;
    const heap = getHeapStatistics();
    this.health.heapMb = Math.round(heap.total_heap_size / 10_485.76) / 100;
    this.health.heapUsedMb = Math.round(heap.used_heap_size / 10_485.76) / 100;
  }

  /** Applies and commits everything waiting, then answers barriers and snapshot requests. */
  private flush(): void {
    this.scheduled = false;
    const batches = [...this.waiting, ...this.fresh]; // earlier arrivals first
    this.fresh = [];
    this.waiting = [];
    if (batches.length > 0) this.transaction(batches);
    this.settleWaiters();
    this.health.waiting = this.waiting.length;
    this.sampleHeap();
    this.cell.write(this.health);
    this.send();
    this.armTimer();
  }

  private transaction(batches: QueuedBatch[]): void {
    const started = performance.now();
    const done: QueuedBatch[] = [];
    let todo = batches;
    const conn = this.conn ?? this.reopen();
    if (!conn) {
      const error: WireError = { name: 'LedgerUnavailableError', message: `ledger cannot commit: ${this.health.lastError}` };
      for (const b of todo) this.fail(b, error);
      return;
    }
    const { db, applier, savepoint } = conn;
    try {
      db.exec('BEGIN IMMEDIATE');
      // Batches that name a packet not seen yet are retried after the rest, until nothing moves.
      for (let progress = true; todo.length > 0 && progress; ) {
        progress = false;
        const later: QueuedBatch[] = [];
        for (const b of todo) {
          savepoint.begin.run();
          try {
            applier.apply(b.batch);
            savepoint.release.run();
            done.push(b);
            progress = true;
          } catch (err) {
            if (isDatabaseFailure(err)) throw err; // the database itself failed: the whole transaction goes
            savepoint.undo.run();
            savepoint.release.run();
            if (err instanceof MissingDependencyError) {
              b.reason = err.message;
              later.push(b);
            } else {
              this.health.divergences++;
              this.fail(b, { name: 'LedgerDivergenceError', message: `ledger refused the batch: ${describe(err)}` });
            }
          }
        }
        todo = later;
      }
      db.exec(done.length > 0 ? 'COMMIT' : 'ROLLBACK');
    } catch (err) {
      if (db.inTransaction) {
        try {
          db.exec('ROLLBACK');
        } catch {
          // SQLite may already have rolled back (it does on SQLITE_FULL and I/O errors).
        }
      }
      const cause = describe(err);
      this.health.healthy = false;
      this.health.lastError = cause;
      this.lastFailureMs = Date.now();
      if (isDiskGone(err)) this.release(cause);
      const error: WireError = { name: 'LedgerUnavailableError', message: `ledger commit failed: ${cause}` };
      for (const b of [...done, ...todo]) this.fail(b, error);
      return;
    }
    if (done.length > 0) {
      this.health.commits++;
      this.health.batches += done.length;
      this.health.lastCommitMs = performance.now() - started;
      this.health.healthy = true;
      this.health.lastError = null;
      for (const b of done) this.reply(b.port, { t: 'ok', id: b.id });
    }
    const now = Date.now();
    for (const b of todo) {
      if (this.closed) {
        this.fail(b, { name: 'LedgerUnavailableError', message: `ledger closed while the batch waited: ${b.reason}` });
      } else if (now >= b.deadline && this.lastFailureMs >= b.deadline - this.data.dependencyWaitMs - FAILURE_WINDOW_MS) {
        // What it waits for was most likely in a batch the database refused (a release that could not be
        // written, then hits of its packets from other threads): the disk's fault, not a divergence.
        this.fail(b, {
          name: 'LedgerUnavailableError',
          message: `ledger cannot commit: ${b.reason}, after a failed commit (${this.health.lastError ?? 'since recovered'})`,
        });
      } else if (now >= b.deadline) {
        this.health.divergences++;
        this.fail(b, { name: 'LedgerDivergenceError', message: `ledger refused the batch: ${b.reason} (waited ${this.data.dependencyWaitMs} ms)` });
      } else {
        this.waiting.push(b);
      }
    }
  }

  /** A barrier or snapshot is answered once no batch that arrived before it is still waiting. */
  private settleWaiters(): void {
    const oldestWaiting = this.waiting.length > 0 ? this.waiting[0].seq : Infinity;
    const keep: Waiter[] = [];
    for (const w of this.waiters) {
      if (w.seq > oldestWaiting) {
        keep.push(w);
        continue;
      }
      if (!this.health.healthy) this.probeDisk();
      if (!this.health.healthy) {
        this.fail(w, { name: 'LedgerUnavailableError', message: `ledger cannot commit: ${this.health.lastError}` });
      } else if (w.kind === 'barrier') {
        this.reply(w.port, { t: 'ok', id: w.id });
      } else {
        try {
          // healthy implies connected (the connection is only let go after a failure); answered as a failure if not
          if (this.conn === null) throw new Error('no open database connection');
          this.reply(w.port, { t: 'ok', id: w.id, snapshot: loadSnapshot(this.conn.db) });
        } catch (err) {
          this.fail(w, { name: 'LedgerUnavailableError', message: `ledger snapshot failed: ${describe(err)}` });
        }
      }
    }
    this.waiters = keep;
  }

  /** While unhealthy, a tiny real write tells whether the disk is back. */
  private probeDisk(): void {
    const conn = this.conn ?? this.reopen();
    if (!conn) return;
    const { db } = conn;
    try {
      db.exec('BEGIN IMMEDIATE');
      conn.probe.run();
      db.exec('COMMIT');
      this.health.healthy = true;
      this.health.lastError = null;
    } catch (err) {
      if (db.inTransaction) {
        try {
          db.exec('ROLLBACK');
        } catch {
          // already rolled back
        }
      }
      this.health.lastError = describe(err);
      if (isDiskGone(err)) this.release(this.health.lastError);
    }
  }

  /** Let go of the database file (its disk went read-only or failed), so that it can be unmounted
   *  and repaired while the server keeps answering Unavailable. */
  private release(cause: string): void {
    if (!this.conn) return;
    this.conn.close();
    this.conn = null;
    this.lastReopenMs = Date.now();
    this.health.lastError = `${cause}; database file released until it can be written again`;
  }

  /** A new connection to the database file, once REOPEN_INTERVAL_MS has passed since the last try. */
  private reopen(): Connection | null {
    const now = Date.now();
    if (this.closed || now - this.lastReopenMs < REOPEN_INTERVAL_MS) return null;
    this.lastReopenMs = now;
    let db: Database.Database | null = null;
    try {
      db = openDatabase(this.data.path, { busyTimeoutMs: this.data.busyTimeoutMs, kind: this.data.kind });
      if (this.pageLimit !== null) db.pragma(`max_page_count = ${Math.max(1, Math.floor(this.pageLimit))}`);
      if (this.queryOnly) db.pragma('query_only = ON');
      this.conn = new Connection(db, this.data.kind);
      return this.conn;
    } catch (err) {
      db?.close();
      this.health.lastError = `database file released; reopening failed: ${describe(err)}${whyNotWritable(this.data.path)}`;
      return null;
    }
  }

  private armTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.waiting.length === 0 || this.closed) return;
    const next = this.waiting.reduce((m, b) => Math.min(m, b.deadline), Infinity);
    this.timer = setTimeout(
      () => {
        this.timer = null;
        if (!this.scheduled) this.flush();
      },
      Math.max(1, next - Date.now() + 1),
    );
  }

  private close(): void {
    this.closed = true;
    this.flush();
    this.conn?.close(); // every batch is settled
    this.conn = null;
    for (const port of this.ports) port.close();
  }
}

/** SQLite's "unable to open database file" does not say why: a read-only disk, missing rights, ... */
function whyNotWritable(path: string): string {
  try {
    accessSync(dirname(path), constants.W_OK);
    return '';
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EROFS') return ` (${dirname(path)} is on a read-only filesystem)`;
    if (code === 'EACCES' || code === 'EPERM') return ` (no write permission on ${dirname(path)})`;
    return code ? ` (${dirname(path)}: ${code})` : '';
  }
}

/** Runs the writer on the calling thread; it answers on `data.port` ('ready' or 'failed'). */
export function runWriter(data: WriterData): void {
  let db: Database.Database;
  try {
    db = openDatabase(data.path, { busyTimeoutMs: data.busyTimeoutMs, kind: data.kind });
    if (data.maxPageCount !== null) db.pragma(`max_page_count = ${Math.max(1, Math.floor(data.maxPageCount))}`);
  } catch (err) {
    data.port.postMessage({ t: 'failed', message: `${describe(err)}${whyNotWritable(data.path)}` });
    data.port.close();
    return;
  }
  new Writer(db, data).listen(data.port, true);
  data.port.postMessage({ t: 'ready' });
}
