// A minimal monitor for benchmarks: takes the per-second pushes of the server and of every client
// process (docs/admin-api.md, "Monitor push") and keeps them by second, so a bench can sum any
// window of full seconds and merge the clients' latency histograms exactly.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ClientSecondCounters } from '../../src/monitor/push.ts';
import { decodeHistogram, latencyHistogram, type Histogram } from '../../src/simulator/histogram.ts';

export interface SecondRecord {
  /** the server's `second` block of /stats */
  server: Record<string, unknown> | null;
  clients: Map<string, ClientSecondCounters>;
}

export class Collector {
  readonly seconds = new Map<number, SecondRecord>();
  private server: http.Server | null = null;
  url = '';

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        try {
          // the push format (src/monitor/push.ts PushRecord), told apart by source
          const rec = JSON.parse(body) as
            | { source: 'server'; id: string; second: number; counters: Record<string, unknown> }
            | { source: 'client'; id: string; second: number; counters: ClientSecondCounters };
          let s = this.seconds.get(rec.second);
          if (!s) {
            s = { server: null, clients: new Map() };
            this.seconds.set(rec.second, s);
          }
          if (rec.source === 'server') s.server = rec.counters;
          else s.clients.set(rec.id, rec.counters);
          res.writeHead(204).end();
        } catch {
          res.writeHead(400).end();
        }
      });
    });
    const server = this.server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  clear(): void {
    this.seconds.clear();
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
    this.server?.close();
    this.server?.closeAllConnections();
  }
}
