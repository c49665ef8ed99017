// A stand-in monitor for the benches, the reliability runs and the tests: an HTTP server on
// 127.0.0.1 that takes the per-second pushes of servers and client processes (docs/admin-api.md,
// "Monitor push"), keeps them by second (and, when asked, every record in arrival order), so that
// a caller can sum any window of full seconds and merge the clients' latency histograms exactly.
// The rehearsal's `hongbao monitor` aligns pushes into rows instead (collector.ts, monitor.ts).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeHistogram, type Histogram, latencyHistogram } from '../simulator/histogram.ts';
import { isPush } from './collector.ts';
import type { ClientSecondCounters, PushRecord } from './push.ts';

export interface SecondRecord {
  /** the server's `second` block of /stats (the last server that pushed for it) */
  server: Record<string, unknown> | null;
  /** each client process's counters, by its id */
  clients: Map<string, ClientSecondCounters>;
}

export class PushCollector {
  readonly seconds = new Map<number, SecondRecord>();
  /** every record in arrival order, when started with `keepRecords` */
  readonly records: PushRecord[] = [];
  /** malformed bodies (answered 400) */
  rejected = 0;

  private constructor(
    private readonly server: http.Server,
    private readonly keepRecords: boolean,
  ) {}

  static async start(o: { keepRecords?: boolean } = {}): Promise<PushCollector> {
    const server = http.createServer();
    const c = new PushCollector(server, o.keepRecords ?? false);
    server.on('request', (req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (d: string) => (body += d));
      req.on('end', () => {
        let rec: unknown;
        try {
          rec = JSON.parse(body);
        } catch {
          rec = null;
        }
        res.writeHead(c.add(rec) ? 204 : 400).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return c;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Take one push; false (and counted) when malformed. */
  add(rec: unknown): boolean {
    if (!isPush(rec)) {
      this.rejected++;
      return false;
    }
    if (this.keepRecords) this.records.push(rec);
    let s = this.seconds.get(rec.second);
    if (!s) {
      s = { server: null, clients: new Map() };
      this.seconds.set(rec.second, s);
    }
    if (rec.source === 'server') s.server = rec.counters;
    else s.clients.set(rec.id, rec.counters as unknown as ClientSecondCounters);
    return true;
  }

  clear(): void {
    this.seconds.clear();
    this.records.length = 0;
  }

  /** Sum of a client counter over all processes, for each second of [from, to). */
  clientSeries(from: number, to: number, field: Exclude<keyof ClientSecondCounters, 'histogram'> | ((c: ClientSecondCounters) => number)): number[] {
    const out: number[] = [];
    for (let s = from; s < to; s++) {
      let sum = 0;
      for (const c of this.seconds.get(s)?.clients.values() ?? []) sum += typeof field === 'string' ? Number(c[field] ?? 0) : field(c);
      out.push(sum);
    }
    return out;
  }

  /** The seconds of [from, to) client process `id` pushed, in order, with its counters. */
  clientSeconds(id: string, from: number, to: number): Array<[number, ClientSecondCounters]> {
    const out: Array<[number, ClientSecondCounters]> = [];
    for (let s = from; s < to; s++) {
      const c = this.seconds.get(s)?.clients.get(id);
      if (c) out.push([s, c]);
    }
    return out;
  }

  /** A server counter (the stats `second` block) for each second of [from, to); NaN where no push came. */
  serverSeries(from: number, to: number, field: string): number[] {
    const out: number[] = [];
    for (let s = from; s < to; s++) {
      const v = this.seconds.get(s)?.server?.[field];
      out.push(v === undefined ? NaN : Number(v));
    }
    return out;
  }

  /** How many client processes pushed for second `s`. */
  clientsIn(s: number): number {
    return this.seconds.get(s)?.clients.size ?? 0;
  }

  /** The clients' shake latencies of [from, to), merged exactly. */
  latency(from: number, to: number): Histogram {
    const h = latencyHistogram();
    for (let s = from; s < to; s++) {
      for (const c of this.seconds.get(s)?.clients.values() ?? []) if (c.histogram) h.add(decodeHistogram(c.histogram));
    }
    return h;
  }

  close(): void {
    this.server.close();
    this.server.closeAllConnections();
  }
}
