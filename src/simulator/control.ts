// The simulator's HTTP control port (127.0.0.1 only):
//   GET /qps                      -> {"qps": N, "pending": [{"qps": M, "at": SECOND}, ...], "scheduled": null}
//   GET /qps?qps=N[&at=SECOND]    -> change the target QPS from the next second, or from unix second
//                                    SECOND on (so that several processes switch in the same second
//                                    and stay exact); "scheduled" says from which second it applies
//   GET /stats                    -> counters so far (JSON)
//   POST /stop[?drainMs=N]        -> stop sending, wait for outstanding answers, answer the final tally, exit
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RateChange {
  qps: number;
  /** unix second from which it applies */
  at: number;
}

export interface QpsState {
  qps: number;
  pending: RateChange[];
  /** the change this call made, if any */
  scheduled: RateChange | null;
}

export interface ControlHandlers {
  qps(): QpsState;
  setQps(qps: number, at: number | null): QpsState;
  stats(): unknown;
  stop(drainMs: number): Promise<unknown>;
}

/** Answers still being written, per control server: closing waits for them (see closeControl). */
const writing = new WeakMap<http.Server, Set<http.ServerResponse>>();

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function intParam(url: URL, name: string): number | null | 'bad' {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === '') return null;
  const n = Number(raw);
  return Number.isSafeInteger(n) && n >= 0 ? n : 'bad';
}

function controlRequestHandler(h: ControlHandlers, inFlight: Set<http.ServerResponse>): http.RequestListener {
  return (req, res) => {
    inFlight.add(res);
    res.once('close', () => inFlight.delete(res)); // written to the kernel, or the peer went away
    const url = new URL(req.url ?? '/', 'http://control');
    req.resume();
    if (url.pathname === '/qps') {
      const qps = intParam(url, 'qps');
      const at = intParam(url, 'at');
      if (qps === 'bad' || at === 'bad') return send(res, 400, { error: 'bad-request', message: 'qps and at must be non-negative integers' });
      return send(res, 200, qps === null ? h.qps() : h.setQps(qps, at));
    }
    if (url.pathname === '/stats' && req.method === 'GET') return send(res, 200, h.stats());
    if (url.pathname === '/stop' && req.method === 'POST') {
      const drain = intParam(url, 'drainMs');
      if (drain === 'bad') return send(res, 400, { error: 'bad-request', message: 'drainMs must be a non-negative integer' });
      h.stop(drain ?? 5000).then(
        (tally) => send(res, 200, tally),
        (err) => send(res, 500, { error: 'stop-failed', message: String(err) }),
      );
      return;
    }
    send(res, 404, { error: 'not-found', message: `no route ${req.method} ${url.pathname}` });
  };
}

export function startControl(port: number, handlers: ControlHandlers): Promise<http.Server> {
  const inFlight = new Set<http.ServerResponse>();
  const server = http.createServer(controlRequestHandler(handlers, inFlight));
  writing.set(server, inFlight);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

export function portOf(server: http.Server): number {
  return (server.address() as AddressInfo).port;
}

/** Close the control port once the answers it is writing have left: the /stop answer (the final
 *  tally: megabytes after a long run) must reach the bench before the process exits (Node's
 *  closeIdleConnections counts a response as done once end() is called, not once it is written).
 *  A peer that never finishes reading is cut after `cutAfterMs`. */
export async function closeControl(server: http.Server, cutAfterMs = 10_000): Promise<void> {
  const inFlight = writing.get(server) ?? new Set<http.ServerResponse>();
  const deadline = Date.now() + cutAfterMs;
  // not server.close() first: since Node 19 it also drops such "idle" connections
  while (inFlight.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  await closed;
}
