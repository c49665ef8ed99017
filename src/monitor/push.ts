// The monitor push format (docs/admin-api.md, "Monitor push") and a small sender for it.
import http from 'node:http';

/** Counters a client process pushes for one second. Field names follow docs/admin-api.md; the
 *  fields after `p999Ms` are this simulator's additions. */
export interface ClientSecondCounters {
  sent: number;
  hits: number;
  hitCents: number;
  misses: number;
  overloaded: number;
  errors: number;
  opens: number;
  openCents: number;
  repeats: number;
  connected: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  targetQps?: number;
  unavailable?: number;
  notified?: number;
  dropped?: number;
  /** HDR histogram of this second's shake latencies (µs), compressed base64, so the monitor can merge exactly. */
  histogram?: string;
}

export interface PushRecord {
  source: 'server' | 'client';
  id: string;
  /** unix second the counters describe */
  second: number;
  counters: Record<string, unknown>;
}

/** POSTs one record per call to `<monitor>/push` over a keep-alive connection; never throws. */
export class MonitorPusher {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  private readonly url: URL;
  failures = 0;

  constructor(monitorUrl: string) {
    this.url = new URL('push', monitorUrl.endsWith('/') ? monitorUrl : `${monitorUrl}/`);
  }

  push(record: PushRecord): Promise<boolean> {
    const body = JSON.stringify(record);
    return new Promise((resolve) => {
      const req = http.request(
        this.url,
        {
          method: 'POST',
          agent: this.agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
          timeout: 5000,
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            const ok = (res.statusCode ?? 500) < 300;
            if (!ok) this.failures++;
            resolve(ok);
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('push timed out')));
      req.on('error', () => {
        this.failures++;
        resolve(false);
      });
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
