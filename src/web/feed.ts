// The live dashboard's data: turns the monitor's aligned rows (`publishRow`), or raw push bodies it
// aligns itself (`ingest`), into DashboardPoints, keeps the history, and streams each new point to
// the open dashboards as server-sent events.
//   GET /series -> JSON array of every kept point (loaded once by the page)
//   GET /events -> text/event-stream, one `event: point` per second
// Framework-neutral core plus adapters for node:http and uWebSockets.js (see docs/web.md).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pointFromAlignedRow, toDashboardPoint, type AlignedRow, type DashboardPoint, type FeedCarry, type PushBody } from './dashboard/point.ts';

export interface FeedOptions {
  /** A second is closed this long after it ended (pushes arrive just after their second). Default 800 ms. */
  graceMs?: number;
  /** Points kept for /series. Default 3600 (an hour). */
  historySeconds?: number;
  /** Clock, for tests. */
  now?: () => number;
  /** How often open seconds are checked for closing. Default 200 ms; 0 = never (call `tick()` yourself). */
  tickMs?: number;
}

type Listener = (chunk: string) => void;

export class DashboardFeed {
  private readonly graceMs: number;
  private readonly historySeconds: number;
  private readonly now: () => number;
  private readonly open = new Map<number, Map<string, PushBody>>();
  private readonly history: DashboardPoint[] = [];
  private readonly listeners = new Set<Listener>();
  private readonly carry: FeedCarry = { totals: null, received: null };
  private lastClosed = -Infinity;
  private timer: NodeJS.Timeout | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  /** Pushes that arrived after their second was closed (dropped, counted). */
  latePushes = 0;

  constructor(options: FeedOptions = {}) {
    this.graceMs = options.graceMs ?? 800;
    this.historySeconds = options.historySeconds ?? 3600;
    this.now = options.now ?? Date.now;
    const tickMs = options.tickMs ?? 200;
    if (tickMs > 0) {
      this.timer = setInterval(() => this.tick(), tickMs);
      this.timer.unref();
      this.heartbeat = setInterval(() => this.emit(': keep-alive\n\n'), 15_000);
      this.heartbeat.unref();
    }
  }

  /** Take one monitor push body (already parsed JSON). Returns false if it was malformed or late. */
  ingest(body: unknown): boolean {
    const push = body as PushBody;
    if (!push || (push.source !== 'server' && push.source !== 'client') || !Number.isInteger(push.second)) return false;
    if (push.second <= this.lastClosed) {
      this.latePushes++;
      return false;
    }
    let bucket = this.open.get(push.second);
    if (!bucket) {
      bucket = new Map();
      this.open.set(push.second, bucket);
    }
    bucket.set(`${push.source}:${push.id}`, push); // a repeated push for the same second replaces the first
    return true;
  }

  /** Close every second whose grace period is over, oldest first, and publish its point. */
  tick(): void {
    const now = this.now();
    const ready = [...this.open].filter(([s]) => (s + 1) * 1000 + this.graceMs <= now).sort(([a], [b]) => a - b);
    for (const [second, bucket] of ready) {
      const pushes = [...bucket.values()];
      this.open.delete(second);
      this.lastClosed = second;
      this.publish(toDashboardPoint(second, pushes, this.carry));
    }
  }

  /** Publish a row aligned by `hongbao monitor` (src/monitor/collector.ts), converted to a point. */
  publishRow(row: AlignedRow): void {
    if (row.second <= this.lastClosed) return;
    this.lastClosed = row.second;
    this.publish(pointFromAlignedRow(row, this.carry));
  }

  /** Publish a point built elsewhere. */
  publish(point: DashboardPoint): void {
    this.history.push(point);
    if (this.history.length > this.historySeconds) this.history.splice(0, this.history.length - this.historySeconds);
    this.emit(`event: point\ndata: ${JSON.stringify(point)}\n\n`);
  }

  series(): DashboardPoint[] {
    return this.history.slice();
  }

  /** Receive every SSE chunk from now on; returns the unsubscribe function. */
  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get subscribers(): number {
    return this.listeners.size;
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.timer = this.heartbeat = null;
    this.listeners.clear();
  }

  private emit(chunk: string): void {
    for (const l of this.listeners) l(chunk);
  }

  // ---- node:http ------------------------------------------------------------------------------

  /** Answers GET /series and GET /events (paths configurable); returns false for anything else. */
  handleNode(req: IncomingMessage, res: ServerResponse, paths = { series: '/series', events: '/events' }): boolean {
    if (req.method !== 'GET') return false;
    const path = (req.url ?? '/').split('?')[0];
    if (path === paths.series) {
      const body = JSON.stringify(this.series());
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
      res.end(body);
      return true;
    }
    if (path !== paths.events) return false;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write('retry: 2000\n\n');
    const off = this.subscribe((chunk) => {
      // A dashboard that stops reading is dropped rather than buffered without limit.
      if (res.writableLength > 1 << 20) res.destroy();
      else res.write(chunk);
    });
    res.on('close', off);
    return true;
  }

  // ---- uWebSockets.js -------------------------------------------------------------------------

  /** Registers GET routes on a uWS app (TemplatedApp), e.g. `feed.mountUws(app)`. */
  mountUws(app: UwsAppLike, paths = { series: '/series', events: '/events' }): void {
    app.get(paths.series, (res) => {
      const body = JSON.stringify(this.series());
      res.cork(() => {
        res.writeStatus('200 OK').writeHeader('content-type', 'application/json; charset=utf-8');
        res.writeHeader('cache-control', 'no-store').end(body);
      });
    });
    app.get(paths.events, (res) => {
      const state = { open: true, stalled: 0 };
      let off = () => {};
      res.onAborted(() => {
        state.open = false;
        off();
      });
      res.cork(() => {
        res.writeStatus('200 OK').writeHeader('content-type', 'text/event-stream; charset=utf-8');
        res.writeHeader('cache-control', 'no-store').write('retry: 2000\n\n');
      });
      off = this.subscribe((chunk) => {
        if (!state.open) return;
        res.cork(() => {
          // write() is false while uWS buffers: a dashboard that stalls for ~30 events is dropped.
          state.stalled = res.write(chunk) ? 0 : state.stalled + 1;
          if (state.stalled > 30) {
            state.open = false;
            off();
            res.close();
          }
        });
      });
    });
  }
}

/** The parts of uWS's HttpResponse / TemplatedApp the feed uses (structural, no uWS import). */
export interface UwsResLike {
  writeStatus(status: string): UwsResLike;
  writeHeader(key: string, value: string): UwsResLike;
  write(chunk: string): boolean;
  end(body?: string): unknown;
  cork(cb: () => void): unknown;
  onAborted(cb: () => void): unknown;
  close(): unknown;
}
export interface UwsAppLike {
  get(pattern: string, handler: (res: UwsResLike, req: unknown) => void): unknown;
}
