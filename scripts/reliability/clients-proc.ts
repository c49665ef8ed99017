// The project's load generator (`hongbao clients`) as a child process (src/process/child.ts: its
// ready line within a timeout, its stderr in a log file, a bounded stop), for the overload and soak
// runs; its per-second pushes go to a PushCollector (src/monitor/push-collector.ts).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { hongbaoCommand, type ReadyChild, startReady } from '../../src/process/child.ts';
import type { FinalTally } from '../../src/simulator/tally.ts';

export class ClientsProc {
  private constructor(
    readonly child: ReadyChild,
    /** its name in the pushes (--id) */
    readonly id: string,
    readonly controlPort: number,
    /** its tally file and log, removed once it stopped */
    private readonly dir: string,
  ) {}

  static async start(o: { ws: string; users: [number, number]; qps: number; secretFile: string; monitor: string; extra?: string[] }): Promise<ClientsProc> {
    const dir = mkdtempSync(path.join(tmpdir(), 'hongbao-clients-'));
    const id = `clients-${o.users[0]}-${o.users[1]}`;
    const child = await startReady({
      name: 'hongbao clients',
      ...hongbaoCommand([
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
        '--id',
        id,
        '--quiet',
        // the tally goes to a file: a large one on stdout would fill the child's log instead
        '--out',
        path.join(dir, 'tally.json'),
        ...(o.extra ?? []),
      ]),
      logFile: path.join(dir, 'clients.log'),
    }).catch((err: Error) => {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    });
    const port = child.ready.controlPort;
    if (typeof port !== 'number') throw new Error(`hongbao clients' ready line has no controlPort: ${JSON.stringify(child.ready)}`);
    return new ClientsProc(child, id, port, dir);
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
    await this.child.exited;
    rmSync(this.dir, { recursive: true, force: true });
    return tally;
  }
}
