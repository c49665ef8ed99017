// The ledger client used by event-loop threads. `openLedger` starts the writer (which owns the
// SQLite connection, on a thread of its own) and returns the owner's client; `createPort` hands out
// a MessagePort that another worker thread turns into a client with `connectLedgerPort`, so every
// thread of the process commits through the one writer. A commit copies the batch's arrays before
// it returns.
import { once } from 'node:events';
import { MessageChannel, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { moduleWorker, sibling } from '../process/worker-thread.ts';
import {
  freshHealth,
  LedgerDivergenceError,
  LedgerUnavailableError,
  type Ledger,
  type LedgerBatch,
  type LedgerHealth,
  type LedgerKind,
  type LedgerSnapshot,
} from './types.ts';
import { copyBatch, createHealthBuffer, HealthCell, type Control, type Ready, type Reply, type Request, type WireError, type WriterData } from './wire.ts';

export interface LedgerOptions {
  /** SQLite busy_timeout, ms. Default 5000. */
  busyTimeoutMs?: number;
  /** How long a batch naming a packet the writer has not seen may wait for the batch (from another
   *  thread) that creates it, before it is refused as a divergence. Default 2000 ms. */
  dependencyWaitMs?: number;
  /** PRAGMA max_page_count: caps the database size; a full disk for tests. Default: no cap. */
  maxPageCount?: number;
  /** The server's engine ledger (default) or a cluster node's journal (src/ledger/journal.ts). */
  kind?: LedgerKind;
}

type Pending = { resolve: (value: Reply & { t: 'ok' }) => void; reject: (err: Error) => void };
type Outgoing =
  | { t: 'batch'; batch: LedgerBatch }
  | { t: 'barrier' }
  | { t: 'snapshot' }
  | { t: 'maxPageCount'; pages: number }
  | { t: 'queryOnly'; on: boolean };

function toError(e: WireError): Error {
  return e.name === 'LedgerDivergenceError' ? new LedgerDivergenceError(e.message) : new LedgerUnavailableError(e.message);
}

/** A ledger client over one MessagePort to the writer thread. */
class PortLedger implements Ledger {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private cell: HealthCell | null;
  private stopped: string | null = null;

  constructor(
    protected readonly port: MessagePort,
    health: SharedArrayBuffer | null,
  ) {
    this.cell = health ? new HealthCell(health) : null;
    port.on('message', (m: Reply) => this.onReply(m));
    port.on('close', () => this.stop('ledger writer is gone'));
    port.unref(); // referenced only while requests are in flight
  }

  private onReply(m: Reply): void {
    if (m.t === 'hello') {
      this.cell = new HealthCell(m.health);
      return;
    }
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if (this.pending.size === 0) this.port.unref();
    if (m.t === 'ok') p.resolve(m);
    else p.reject(toError(m.error));
  }

  /** No more requests; everything in flight is rejected with `reason`. */
  protected stop(reason: string): void {
    if (this.stopped === null) this.stopped = reason;
    for (const p of this.pending.values()) p.reject(new LedgerUnavailableError(reason));
    this.pending.clear();
    this.port.unref();
  }

  protected request(msg: Outgoing, transfer: ArrayBuffer[] = []): Promise<Reply & { t: 'ok' }> {
    if (this.stopped !== null) return Promise.reject(new LedgerUnavailableError(this.stopped));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (this.pending.size === 0) this.port.ref();
      this.pending.set(id, { resolve, reject });
      this.port.postMessage({ ...msg, id } as Request | Control, transfer);
    });
  }

  async commit(batch: LedgerBatch): Promise<void> {
    const { batch: copy, transfer } = copyBatch(batch);
    await this.request({ t: 'batch', batch: copy }, transfer);
  }

  async barrier(): Promise<void> {
    await this.request({ t: 'barrier' });
  }

  async loadSnapshot(): Promise<LedgerSnapshot> {
    const r = await this.request({ t: 'snapshot' });
    if (!r.snapshot) throw new LedgerUnavailableError('ledger writer sent no snapshot');
    return r.snapshot;
  }

  health(): LedgerHealth {
    const h = this.cell ? this.cell.read() : freshHealth();
    return this.stopped === null ? h : { ...h, healthy: false, lastError: this.stopped };
  }

  /** Waits for this client's batches to settle, then closes its port (the writer keeps running). */
  async close(): Promise<void> {
    if (this.stopped !== null) return;
    await this.barrier().catch(() => undefined);
    this.stop('ledger client is closed');
    this.port.close();
  }
}

/** Where a writer runs: its own worker thread, or a thread hosting it (writer-host.ts). */
interface WriterHandle {
  /** Settles once the writer has stopped. */
  readonly exited: Promise<void>;
  /** Rejects if the writer dies before it answered 'ready' or 'failed'. */
  readonly diedEarly: Promise<never>;
  /** Calls `stop` with the reason if the writer dies later. */
  watch(stop: (reason: string) => void): void;
  /** Keeps this thread alive until the writer has stopped (while the ledger closes). */
  hold(): void;
}

/** The client of the thread that opened the ledger: it also owns the writer. */
export class SqliteLedger extends PortLedger {
  constructor(
    /** The database file. */
    readonly path: string,
    port: MessagePort,
    health: SharedArrayBuffer,
    private readonly writer: WriterHandle,
  ) {
    super(port, health);
    writer.watch((reason) => this.stop(reason));
  }

  /** A port for another worker thread: pass it in `transferList`, then `connectLedgerPort(port)` there. */
  createPort(): MessagePort {
    const { port1, port2 } = new MessageChannel();
    this.port.postMessage({ t: 'port', port: port2 } satisfies Control, [port2]);
    return port1;
  }

  /** Changes PRAGMA max_page_count in the writer (tests: a disk that fills up, then frees space). */
  async setMaxPageCount(pages: number): Promise<void> {
    await this.request({ t: 'maxPageCount', pages });
  }

  /** Turns PRAGMA query_only on or off in the writer: every write then fails with SQLITE_READONLY, as on a
   *  read-only disk (tests: Linux refuses to remount a filesystem read-only under open writers). */
  async setReadOnly(on: boolean): Promise<void> {
    await this.request({ t: 'queryOnly', on });
  }

  /** Commits everything submitted (from any thread), closes the database and stops the writer. */
  override async close(): Promise<void> {
    await this.barrier().catch(() => undefined); // this thread's replies arrive before the writer exits
    this.writer.hold(); // after the barrier, whose reply unrefs the port
    this.port.postMessage({ t: 'close' } satisfies Control);
    await this.writer.exited;
  }
}

/** Where this thread's ledgers have their writer run, once `hostWritersOn` was called. */
let writerHost: MessagePort | null = null;

/** From now on the writers of the ledgers this thread opens run on the thread at the other end of
 *  `port` (which called `hostLedgerWriters`, writer-host.ts), not on worker threads of their own. */
export function hostWritersOn(port: MessagePort): void {
  writerHost = port;
}

function startWriter(data: WriterData, owner: MessagePort): WriterHandle {
  if (writerHost) {
    writerHost.postMessage({ t: 'ledger-writer', data }, [data.port]);
    // The writer closes its ports when it stops (PortLedger hears that, and unrefs the port); the
    // host thread dying ends the whole process.
    return {
      exited: once(owner, 'close').then(() => undefined),
      diedEarly: new Promise<never>(() => undefined),
      watch: () => undefined,
      hold: () => owner.ref(),
    };
  }
  // its own worker thread: the compiled module, or the source through tsx
  const worker = moduleWorker(sibling(import.meta.url, 'writer-thread'), { workerData: data, transferList: [data.port], name: 'hongbao-ledger-writer' });
  const diedEarly = new Promise<never>((_, reject) => {
    worker.once('error', (err) => reject(new LedgerUnavailableError(`ledger writer failed to start: ${err.message}`)));
    worker.once('exit', (code) => reject(new LedgerUnavailableError(`ledger writer exited during start-up (code ${code})`)));
  });
  diedEarly.catch(() => undefined); // observed by openLedger's race; later the ledger watches the worker
  return {
    exited: once(worker, 'exit').then(() => undefined),
    diedEarly,
    watch: (stop) => {
      worker.on('error', (err) => stop(`ledger writer crashed: ${err.message}`));
      worker.on('exit', (code) => stop(`ledger writer exited (code ${code})`));
      worker.unref();
    },
    hold: () => worker.ref(),
  };
}

/** Opens (creating if needed) the ledger database at `path` and starts its writer. */
export async function openLedger(path: string, opts: LedgerOptions = {}): Promise<SqliteLedger> {
  const { port1, port2 } = new MessageChannel();
  const health = createHealthBuffer();
  const data: WriterData = {
    path,
    kind: opts.kind ?? 'engine',
    port: port2,
    health,
    busyTimeoutMs: opts.busyTimeoutMs ?? 5000,
    dependencyWaitMs: opts.dependencyWaitMs ?? 2000,
    maxPageCount: opts.maxPageCount ?? null,
  };
  const writer = startWriter(data, port1);
  let ready: Ready;
  try {
    ready = (await Promise.race([once(port1, 'message'), writer.diedEarly]))[0] as Ready;
  } catch (err) {
    port1.close();
    throw err;
  }
  if (ready.t !== 'ready') {
    port1.close();
    await writer.exited.catch(() => undefined);
    throw new LedgerUnavailableError(`cannot open ledger ${path}: ${ready.message}`);
  }
  return new SqliteLedger(path, port1, health, writer);
}

/** Turns a port from `SqliteLedger.createPort()` into a Ledger client in this thread. */
export function connectLedgerPort(port: MessagePort): Ledger {
  const first = receiveMessageOnPort(port)?.message as Reply | undefined;
  return new PortLedger(port, first?.t === 'hello' ? first.health : null);
}
