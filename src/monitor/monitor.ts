// The monitor process: receives pushes over HTTP, aligns them (collector.ts), writes the series
// (series-writer.ts), samples /proc/net/dev, prints one line per second, renders plots on finish.
//   POST /push     one push record (or an array of them), docs/admin-api.md "Monitor push"
//   POST /phase    {"name": "...", "second": UNIX_SECOND?}: mark a phase on the plots
//   GET  /latest   the last final row (or null)
//   GET  /health   {"ok": true, ...}
//   POST /finish   emit every buffered second, write series.csv and the plots; answers the file list
import type http from 'node:http';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Collector, type SeriesRow } from './collector.ts';
import { SeriesWriter } from './series-writer.ts';
import { NetSampler } from './netdev.ts';
import { renderPlots, type Phase } from './plots.ts';
import { summaryLine } from './summary-line.ts';
import { DashboardFeed } from '../web/feed.ts';
import { serveStaticNode, type StaticFiles } from '../web/static.ts';

export interface MonitorOptions {
  outDir: string;
  lagMs: number;
  png: boolean;
  /** one line per final second (stderr) */
  onLine?: (line: string) => void;
}

export interface FinishResult {
  rows: number;
  series: { jsonl: string; csv: string };
  phases: string;
  plots: Array<{ name: string; title: string; svg: string; png: string | null }>;
  late: number;
  rejected: number;
  sources: string[];
}

const MAX_BODY = 4 * 1024 * 1024;

export class Monitor {
  readonly collector: Collector;
  readonly writer: SeriesWriter;
  readonly phases: Phase[] = [];
  private readonly net: NetSampler;
  private ticker: NodeJS.Timeout | null = null;
  private latest: SeriesRow | null = null;
  private finishing: Promise<FinishResult> | null = null;
  /** The live dashboard's data (GET /series, GET /events); its page is `web`, when loaded. */
  readonly feed = new DashboardFeed({ tickMs: 0 });
  web: StaticFiles | null = null;

  constructor(private readonly opts: MonitorOptions) {
    this.collector = new Collector(opts.lagMs);
    this.writer = new SeriesWriter(opts.outDir);
    this.net = new NetSampler((second, delta) => this.collector.addNet(second, delta));
  }

  start(): void {
    this.net.start();
    const tick = () => {
      this.emit(this.collector.take(Date.now()));
      this.ticker = setTimeout(tick, 1000 - (Date.now() % 1000) + 5);
    };
    this.ticker = setTimeout(tick, 1000 - (Date.now() % 1000) + 5);
  }

  private emit(rows: SeriesRow[]): void {
    if (rows.length === 0) return;
    this.writer.write(rows);
    for (const row of rows) this.feed.publishRow(row);
    this.latest = rows[rows.length - 1];
    for (const row of rows) this.opts.onLine?.(summaryLine(row, this.phaseAt(row.second)));
  }

  private phaseAt(second: number): string {
    let name = '';
    for (const p of this.phases) if (p.second <= second) name = p.name;
    return name;
  }

  addPhase(name: string, second = Math.floor(Date.now() / 1000)): void {
    this.phases.push({ name, second });
    this.phases.sort((a, b) => a.second - b.second);
  }

  finish(): Promise<FinishResult> {
    this.finishing ??= (async () => {
      if (this.ticker) clearTimeout(this.ticker);
      this.net.stop();
      this.emit(this.collector.takeUpTo());
      this.feed.close();
      this.writer.revise(this.collector.revisions());
      this.writer.close();
      const phasesFile = path.join(this.opts.outDir, 'phases.json');
      writeFileSync(phasesFile, `${JSON.stringify(this.phases, null, 1)}\n`);
      const plots = await renderPlots(this.writer.rows, this.phases, path.join(this.opts.outDir, 'plots'), this.opts.png);
      return {
        rows: this.writer.rows.length,
        series: { jsonl: this.writer.jsonlPath, csv: this.writer.csvPath },
        phases: phasesFile,
        plots: plots.map((p) => ({ name: p.name, title: p.title, svg: p.svgFile, png: p.pngFile })),
        late: this.collector.late,
        rejected: this.collector.rejected,
        sources: [...this.collector.sources],
      };
    })();
    return this.finishing;
  }

  handler(onFinished: (result: FinishResult) => void): http.RequestListener {
    return (req, res) => {
      const url = new URL(req.url ?? '/', 'http://monitor');
      const reply = (status: number, body: unknown) => {
        const text = JSON.stringify(body);
        res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      };
      if (req.method === 'GET' || req.method === 'HEAD') {
        if (this.feed.handleNode(req, res) || (this.web && serveStaticNode(this.web, req, res))) return;
        if (url.pathname === '/latest') return reply(200, this.latest);
        if (url.pathname === '/health') return reply(200, { ok: true, rows: this.writer.rows.length, sources: this.collector.sources.size });
        return reply(404, { error: 'not-found', message: `no route GET ${url.pathname}` });
      }
      if (req.method !== 'POST') return reply(405, { error: 'method-not-allowed', message: 'GET or POST' });
      readBody(req).then(
        (body) => {
          if (url.pathname === '/push') {
            const records = Array.isArray(body) ? body : [body];
            let accepted = 0;
            for (const r of records) if (this.collector.add(r)) accepted++;
            return reply(accepted === records.length ? 200 : 202, { accepted, ignored: records.length - accepted });
          }
          if (url.pathname === '/phase') {
            const p = body as { name?: unknown; second?: unknown };
            if (typeof p?.name !== 'string' || (p.second !== undefined && !Number.isSafeInteger(p.second))) {
              return reply(400, { error: 'bad-request', message: 'need {"name": string, "second"?: integer}' });
            }
            this.addPhase(p.name, p.second as number | undefined);
            return reply(200, { ok: true });
          }
          if (url.pathname === '/finish') {
            return this.finish().then(
              (result) => {
                reply(200, result);
                onFinished(result);
              },
              (err) => reply(500, { error: 'finish-failed', message: String(err) }),
            );
          }
          reply(404, { error: 'not-found', message: `no route POST ${url.pathname}` });
        },
        (err: Error) => reply(400, { error: 'bad-request', message: err.message }),
      );
    };
  }
}

function readBody(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error('body too large'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => {
      if (chunks.length === 0) return resolve({});
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        reject(new Error('body is not JSON'));
      }
    });
    req.on('error', reject);
  });
}
