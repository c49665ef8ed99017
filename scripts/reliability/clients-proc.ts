// The project's load generator (`hongbao clients`) as a child process, and a small collector of the
// per-second counters it pushes (docs/admin-api.md, "Monitor push"), for the overload and soak runs.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ClientSecondCounters } from '../../src/monitor/push.ts';
import type { FinalTally } from '../../src/simulator/tally.ts';

const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

/** Receives the pushes of client (and server) processes; keeps the client seconds by unix second. */
export class PushCollector {
  readonly clientSeconds = new Map<number, ClientSecondCounters>();
  private readonly server: http.Server;

  private constructor(server: http.Server) {
    this.server = server;
  }

  static async start(): Promise<PushCollector> {
    const server = http.createServer();
    const c = new PushCollector(server);
    server.on('request', (req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        try {
          const r = JSON.parse(body) as { source: string; second: number; counters: ClientSecondCounters };
          if (r.source === 'client') c.clientSeconds.set(r.second, r.counters);
        } catch {
          // ignore
        }
        res.end('{}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    return c;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Client seconds in [from, to), in order. */
  between(from: number, to: number): Array<[number, ClientSecondCounters]> {
    return [...this.clientSeconds.entries()].filter(([s]) => s >= from && s < to).sort((a, b) => a[0] - b[0]);
  }

  close(): void {
    this.server.close();
    this.server.closeAllConnections();
  }
}

export class ClientsProc {
  private constructor(
    readonly child: ChildProcess,
    readonly controlPort: number,
  ) {}

  static async start(o: { ws: string; users: [number, number]; qps: number; secretFile: string; monitor: string; extra?: string[] }): Promise<ClientsProc> {
    const args = [
      '--import',
      'tsx',
      CLI,
      'clients',
      '--server',
      o.ws,
      '--users',
      `${o.users[0]}-${o.users[1]}`,
      '--qps',
      String(o.qps),
      '--secret-file',
      o.secretFile,
      '--monitor',
      o.monitor,
      '--quiet',
      // the tally goes to a file: a large one on an unread stdout pipe would block the process
      '--out',
      path.join(mkdtempSync(path.join(tmpdir(), 'hongbao-clients-')), 'tally.json'),
      ...(o.extra ?? []),
    ];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    const out = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const first = await out.next();
    const ready = first.done ? null : (JSON.parse(first.value) as { event: string; controlPort: number });
    if (ready?.event !== 'ready') throw new Error(`hongbao clients did not start: ${first.value}`);
    return new ClientsProc(child, ready.controlPort);
  }

  async setQps(qps: number): Promise<void> {
    const res = await fetch(`http://127.0.0.1:${this.controlPort}/qps?qps=${qps}`);
    if (!res.ok) throw new Error(`setting qps ${qps}: ${res.status}`);
  }

  async stats(): Promise<{ connected: number; counters: Record<string, number> }> {
    return (await (await fetch(`http://127.0.0.1:${this.controlPort}/stats`)).json()) as { connected: number; counters: Record<string, number> };
  }

  /** Stop sending, wait for outstanding answers, and return the final tally. */
  async stop(drainMs = 3000): Promise<FinalTally> {
    const res = await fetch(`http://127.0.0.1:${this.controlPort}/stop?drainMs=${drainMs}`, { method: 'POST' });
    const tally = (await res.json()) as FinalTally;
    await new Promise((resolve) => (this.child.exitCode !== null ? resolve(null) : this.child.once('exit', resolve)));
    return tally;
  }
}
