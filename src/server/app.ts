// One worker's uWS app: the WebSocket route, the public HTTP API, the turn batcher and the
// sessions of this thread, driven by messages from the main thread over `link`.
import type { MessagePort } from 'node:worker_threads';
import type { Engine } from '../engine/types.ts';
import type { Ledger } from '../ledger/types.ts';
import { CloseCode } from '../protocol/codes.ts';
import { Batcher, type NotifyItem } from './batch/batcher.ts';
import { CONNECTIONS, Ctl, ShakeCeiling } from './counters.ts';
import { CoverBook } from './covers.ts';
import { trackThreadGauges } from './thread-gauges.ts';
import { MoveGate } from './gate.ts';
import { mountHttpApi } from './http-api.ts';
import type { AppConfig, FromApp, ToApp } from './link.ts';
import { SessionRegistry } from './registry.ts';
import type { Uws } from './uws.ts';
import { wsBehavior } from './ws-api.ts';
import { loadWebPage, type StaticFiles } from '../web/static.ts';

/** How long a shutdown waits for clients to answer its close frames. A client starved of CPU may
 *  take over a second; closing its socket while frames it sent are unread makes the kernel send a
 *  reset, which throws away the close frame before the client read it (1006, not 1001: seen with 1 s
 *  in a loaded test run). A fleet that answers ends the wait at once. */
const CLOSE_GRACE_MS = 3000;

export interface AppDeps {
  uws: Uws;
  config: AppConfig;
  engine: Engine;
  ledger: Ledger;
  link: MessagePort;
  log(message: string): void;
}

/** Runs the app; resolves once it has shut down and closed every socket. */
export function runApp(deps: AppDeps): Promise<void> {
  const { uws, config, engine, ledger, link, log } = deps;
  const post = (msg: FromApp) => link.postMessage(msg);
  const covers = new CoverBook(config.covers);
  const counters = config.counters;
  let accepting = true;
  let listenSocket: unknown = null;
  let finished!: () => void;
  const closed = new Promise<void>((resolve) => (finished = resolve));

  const gate = new MoveGate((err) => post({ t: 'commit-failed', message: err instanceof Error ? err.message : String(err) }));
  const registry = new SessionRegistry(counters, config.loginTimeoutMs);
  const notifyLocal = (items: NotifyItem[]) => {
    for (const item of items) if (item.cover) covers.set(item.id, item.cover, item.expiresAt);
    registry.notify(items);
  };
  const batcher = new Batcher({
    engine,
    ledger,
    counters,
    ceiling: new ShakeCeiling(config.control, config.maxShakesPerSecond),
    gate,
    covers,
    splitMode: config.engineOptions.splitMode,
    packetTtlMs: config.packetTtlMs,
    journalRepeats: config.journalRepeats,
    onCreated: (items) => {
      notifyLocal(items);
      post({ t: 'created', items });
    },
    log,
  });

  const app = uws.App();
  app.ws(
    '/ws',
    wsBehavior({
      uws,
      secret: config.secret,
      limits: config.limits,
      maxPayload: config.maxPayload,
      idleTimeout: config.idleTimeout,
      counters,
      batcher,
      registry,
      nextLoginSeq: () => Atomics.add(config.control, Ctl.loginSeq, 1) + 1,
      announceLogin: (user, seq, at) => post({ t: 'login', user, seq, at }),
      accepting: () => accepting,
    }),
  );
  // The shake page (src/web/shake) at `/`; it speaks the same /ws protocol as every other client.
  let web: StaticFiles | null = null;
  loadWebPage('shake').then(
    (files) => (web = files),
    (err) => log(`shake page not served: ${(err as Error).message}`),
  );
  mountHttpApi(app, { secret: config.secret, batcher, gate, ledger, counters, engineKind: engine.kind, web: () => web });

  async function shutdown(): Promise<void> {
    accepting = false;
    if (listenSocket) uws.us_listen_socket_close(listenSocket as never);
    listenSocket = null;
    await batcher.idle(); // what arrived before the signal is answered normally
    gate.close(); // from here on nothing moves: requests are answered Unavailable
    await batcher.idle();
    registry.closeAll(CloseCode.GoingAway, 'server shutting down');
    registry.stop();
    // Let the close frames leave, then close every socket left (idle HTTP keep-alives too) so the
    // thread's loop has no uWS handle open when it ends.
    for (let waited = 0; counters[CONNECTIONS] > 0 && waited < CLOSE_GRACE_MS; waited += 20) {
      await new Promise((r) => setTimeout(r, 20));
    }
    (app as unknown as { close(): void }).close(); // in uWS.js, missing from its typings
    stopGauges();
    post({ t: 'closed' });
    finished();
  }

  link.on('message', (msg: ToApp) => {
    switch (msg.t) {
      case 'notify':
        notifyLocal(msg.items);
        break;
      case 'login':
        registry.replace(msg.user, msg.seq);
        break;
      case 'health':
        gate.set(msg.state);
        break;
      case 'covers':
        covers.replace(msg.entries);
        break;
      case 'evict':
        covers.evict(msg.beforeMs);
        break;
      case 'kick':
        registry.kick(msg.user, msg.at);
        break;
      case 'drain':
        batcher.idle().then(() => post({ t: 'drained', id: msg.id }));
        break;
      case 'shutdown':
        shutdown().catch((err) => {
          log(`shutdown failed: ${(err as Error).message}`);
          post({ t: 'closed' });
          finished();
        });
        break;
    }
  });

  registry.start();
  const stopGauges = trackThreadGauges(counters, config.loopSampleMs);
  app.listen(config.host, config.port, (socket) => {
    if (!socket) {
      post({ t: 'failed', message: `cannot listen on ${config.host}:${config.port} (in use?)` });
      return;
    }
    listenSocket = socket;
    post({ t: 'ready', port: uws.us_socket_local_port(socket as never) });
  });
  return closed;
}
