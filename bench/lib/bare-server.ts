// The ceiling baseline: a bare uWebSockets.js server with the real server's frame sizes and nothing
// else. WebSocket /ws: a Login frame gets an 18-byte LoginOk (no token check), a 6-byte Shake gets a
// 15-byte ShakeResult Miss with the same request id. HTTP: POST /v1/shake answers {"status":"miss"},
// POST /v1/open reads its body and answers {"status":"ok",...}. One uWS app per worker thread on
// the same port, as the real server (one thread: the app runs on the main thread).
//   node --import tsx bench/lib/bare-server.ts [--port 0] [--threads 2]
// Prints {"event":"ready","pid":...,"port":...,"threads":...} on stdout.
import { createServer } from 'node:net';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { loadUws, type Uws } from '../../src/server/uws.ts';

const VERSION = 1;
const T_LOGIN = 0x01;
const T_SHAKE = 0x02;
const LOGIN_OK = 0x81;
const SHAKE_RESULT = 0x82;

/** Runs one app; returns a function that closes its listen socket and every connection. */
function runApp(uws: Uws, port: number, onListen: (ok: boolean) => void): () => void {
  const result = new Uint8Array(15);
  result[0] = VERSION;
  result[1] = SHAKE_RESULT; // status, packet id and cents stay 0: a miss
  const loginOk = new Uint8Array(18);
  const loginView = new DataView(loginOk.buffer);
  loginOk[0] = VERSION;
  loginOk[1] = LOGIN_OK;
  const app = uws.App();
  app.ws('/ws', {
    compression: uws.DISABLED,
    maxPayloadLength: 8192,
    idleTimeout: 120,
    maxBackpressure: 256 * 1024,
    sendPingsAutomatically: true,
    message: (ws, message) => {
      const b = new Uint8Array(message);
      if (b.length === 6 && b[1] === T_SHAKE) {
        result[2] = b[2];
        result[3] = b[3];
        result[4] = b[4];
        result[5] = b[5];
        ws.send(result, true);
      } else if (b.length >= 11 && b[1] === T_LOGIN) {
        loginOk.set(b.subarray(2, 10), 2); // request id and user id, in place
        loginView.setFloat64(10, Date.now(), true);
        ws.send(loginOk, true);
      }
    },
  });
  const MISS = '{"status":"miss"}';
  app.post('/v1/shake', (res) => {
    res.writeHeader('content-type', 'application/json').end(MISS);
  });
  app.post('/v1/open', (res) => {
    let body = '';
    let aborted = false;
    res.onAborted(() => (aborted = true));
    res.onData((chunk, last) => {
      body += Buffer.from(chunk).toString('utf8');
      if (!last || aborted) return;
      let packetId = 0;
      try {
        packetId = Number(JSON.parse(body).packetId) >>> 0;
      } catch {
        // answer anyway: this is a baseline, not a validator
      }
      res.cork(() => res.writeHeader('content-type', 'application/json').end(`{"status":"ok","packetId":${packetId},"cents":1}`));
    });
  });
  let listenSocket: unknown = null;
  app.listen('0.0.0.0', port, (socket) => {
    listenSocket = socket;
    onListen(Boolean(socket));
  });
  return () => {
    if (listenSocket) uws.us_listen_socket_close(listenSocket as never);
    (app as unknown as { close(): void }).close();
  };
}

function probePort(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen({ host: '0.0.0.0', port, exclusive: true }, () => {
      const actual = (s.address() as { port: number }).port;
      s.close(() => resolve(actual));
    });
  });
}

function bootScript(): string {
  const tsx = import.meta.resolve('tsx/esm/api');
  return `import(${JSON.stringify(tsx)}).then((api) => api.tsImport(${JSON.stringify(import.meta.url)}, ${JSON.stringify(import.meta.url)}))`;
}

function requireNativeUws(): Uws {
  const loaded = loadUws();
  if (!loaded.native) {
    process.stderr.write(`bare-server: uWS native binary not in use: ${loaded.reason}\n`);
    process.exit(1);
  }
  return loaded.uws;
}

if (!isMainThread) {
  const { port } = workerData as { port: number };
  const parent = parentPort;
  if (parent === null) throw new Error('bare-server: a worker thread without a parent port');
  const close = runApp(requireNativeUws(), port, (ok) => parent.postMessage(ok));
  parent.on('message', () => {
    close();
    setImmediate(() => process.exit(0)); // uWS handles closed: the thread may end
  });
} else {
  const { values } = parseArgs({ options: { port: { type: 'string', default: '0' }, threads: { type: 'string', default: '2' } } });
  const threads = Math.max(1, Number(values.threads));
  const uws = requireNativeUws();
  const port = await probePort(Number(values.port));
  const ready = () => process.stdout.write(`${JSON.stringify({ event: 'ready', pid: process.pid, port, threads })}\n`);
  const stops: Array<() => Promise<void>> = [];
  if (threads === 1) {
    const close = runApp(uws, port, (ok) => (ok ? ready() : process.exit(1)));
    stops.push(async () => close());
  } else {
    let up = 0;
    for (let i = 0; i < threads; i++) {
      const w = new Worker(bootScript(), { eval: true, workerData: { port } });
      const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
      stops.push(() => {
        w.postMessage('stop');
        return exited;
      });
      w.on('message', (ok: boolean) => {
        if (!ok) process.exit(1);
        if (++up === threads) ready();
      });
      w.on('error', (err) => {
        process.stderr.write(`bare-server thread: ${err.stack}\n`);
        process.exit(1);
      });
    }
  }
  const shutdown = () => void Promise.all(stops.map((s) => s())).then(() => setImmediate(() => process.exit(0)));
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, shutdown);
}
