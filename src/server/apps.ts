// Starts the public apps: one per worker thread (native engine, --threads > 1), or a single one on
// the main thread (TS engine, or one thread). Either way the main thread talks to each over a
// MessagePort, so the rest of the server does not care which.
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { moduleWorker, sibling } from '../process/worker-thread.ts';
import type { Engine } from '../engine/types.ts';
import type { SqliteLedger } from '../ledger/sqlite-ledger.ts';
import { runApp } from './app.ts';
import type { AppConfig, FromApp, ToApp } from './link.ts';
import type { Uws } from './uws.ts';
import type { WorkerData } from './worker.ts';

export class AppHandle {
  alive = true;
  /** Set when the main thread asked it to shut down: its exit is then expected. */
  stopping = false;
  private handlers: Array<(msg: FromApp) => void> = [];

  constructor(
    readonly index: number,
    private readonly port: { postMessage(msg: unknown): void; on(event: 'message', cb: (msg: FromApp) => void): unknown },
    private readonly stopFn: () => Promise<void>,
  ) {
    port.on('message', (msg) => this.emit(msg));
  }

  emit(msg: FromApp): void {
    for (const h of [...this.handlers]) h(msg);
  }

  post(msg: ToApp): void {
    if (this.alive) this.port.postMessage(msg);
  }

  on(handler: (msg: FromApp) => void): void {
    this.handlers.push(handler);
  }

  /** The next message of type `t` (e.g. 'ready', 'closed'), or the app's death. */
  next<T extends FromApp['t']>(t: T | T[], match?: (msg: Extract<FromApp, { t: T }>) => boolean): Promise<Extract<FromApp, { t: T }>> {
    const types = Array.isArray(t) ? t : [t];
    return new Promise((resolve) => {
      const h = (msg: FromApp) => {
        if (types.includes(msg.t as T) && (!match || match(msg as Extract<FromApp, { t: T }>))) {
          this.handlers = this.handlers.filter((x) => x !== h);
          resolve(msg as Extract<FromApp, { t: T }>);
        }
      };
      this.handlers.push(h);
    });
  }

  stop(): Promise<void> {
    this.stopping = true;
    return this.stopFn().finally(() => {
      this.alive = false;
    });
  }
}

export interface StartAppsOptions {
  configs: AppConfig[];
  inProcess: boolean;
  uws: Uws;
  engine: Engine;
  ledger: SqliteLedger;
  log(message: string): void;
  /** A worker thread died (uncaught error): its commits in flight are unknown. */
  onDeath(index: number, reason: string): void;
}

export function startApps(o: StartAppsOptions): AppHandle[] {
  if (o.inProcess) {
    const [config] = o.configs;
    const { port1, port2 } = new MessageChannel();
    void runApp({ uws: o.uws, config, engine: o.engine, ledger: o.ledger, link: port2 as MessagePort, log: o.log });
    return [
      new AppHandle(config.index, port1, async () => {
        port1.close();
        port2.close();
      }),
    ];
  }
  return o.configs.map((config) => {
    const ledgerPort = o.ledger.createPort();
    const data: WorkerData = { config, ledgerPort };
    const worker = moduleWorker(sibling(import.meta.url, 'worker'), {
      workerData: data,
      transferList: [ledgerPort],
      name: `hongbao-app-${config.index}`,
    });
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    const handle = new AppHandle(config.index, worker, async () => {
      // The thread ends itself after closing its sockets; terminate only a thread that hangs.
      const timer = setTimeout(() => void worker.terminate(), 5000);
      await exited;
      clearTimeout(timer);
    });
    worker.on('error', (err) => {
      o.log(`thread ${config.index} crashed: ${err.stack ?? err.message}`);
    });
    worker.on('exit', (code) => {
      if (!handle.alive) return;
      handle.alive = false;
      if (handle.stopping) {
        handle.emit({ t: 'closed' });
        return;
      }
      const reason = `thread ${config.index} exited with code ${code}`;
      handle.emit({ t: 'failed', message: reason }); // wakes whoever waits for its ready, drained or closed
      o.onDeath(config.index, reason);
    });
    return handle;
  });
}
