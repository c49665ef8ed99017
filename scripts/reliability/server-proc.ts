// A real `hongbao server` child process for the reliability scripts and tests: start it on given
// (or free) ports and a data directory, wait for its ready line, read its RSS, kill or stop it and
// wait for the exit. Restarting on the same ports and data directory is the point of the chaos run.
import { spawn, type ChildProcess, type ChildProcessByStdio } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { mintToken } from '../../src/auth/token.ts';

const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

export interface ServerReady {
  event: 'ready';
  pid: number;
  port: number;
  adminPort: number;
  threads: number;
  engine: string;
  db: string;
  secretFile: string | null;
  adminTokenFile: string | null;
}

export interface ServerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ServerProcOptions {
  dataDir: string;
  port?: number;
  adminPort?: number;
  /** More `hongbao server` flags. */
  args?: string[];
  env?: Record<string, string>;
  readyTimeoutMs?: number;
}

/** A free TCP port on 127.0.0.1 (for a server that must come back on the same port). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** A file the server's ready line names: null only when the variable that replaces it was set. */
function writtenFile(file: string | null, what: string): string {
  if (file === null) throw new Error(`the server wrote no ${what} file and none was given in its environment`);
  return file;
}

export class ServerProc {
  readonly child: ChildProcess;
  readonly exited: Promise<ServerExit>;
  ready!: ServerReady;
  secret = '';
  adminToken = '';
  private err = '';
  private readonly stderrLines: Array<{ at: number; line: string }> = [];

  private constructor(child: ChildProcessByStdio<null, Readable, Readable>) {
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    let pending = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      this.err += d;
      pending += d;
      const lines = pending.split('\n');
      pending = lines.pop() ?? ''; // split always gives at least one piece
      const at = Date.now();
      for (const line of lines) this.stderrLines.push({ at, line });
    });
  }

  static async start(o: ServerProcOptions): Promise<ServerProc> {
    const args = ['--data', o.dataDir, '--port', String(o.port ?? 0), '--admin-port', String(o.adminPort ?? 0), '--host', '127.0.0.1', ...(o.args ?? [])];
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'server', ...args], {
      env: { ...process.env, ...o.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const proc = new ServerProc(child);
    proc.ready = await new Promise<ServerReady>((resolve, reject) => {
      let buffered = '';
      const timeoutMs = o.readyTimeoutMs ?? 30_000;
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`server not ready within ${timeoutMs} ms; stderr:\n${proc.err}`));
      }, timeoutMs);
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (d: string) => {
        buffered += d;
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? '';
        for (const line of lines) {
          if (!line.startsWith('{')) continue;
          const msg = JSON.parse(line) as ServerReady;
          if (msg.event === 'ready') {
            clearTimeout(timer);
            resolve(msg);
          }
        }
      });
      void proc.exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`server exited (code ${code}, signal ${signal}) before it was ready; stderr:\n${proc.err}`));
      });
    });
    proc.secret = o.env?.HONGBAO_SECRET ?? readFileSync(writtenFile(proc.ready.secretFile, 'secret'), 'utf8').trim();
    proc.adminToken = o.env?.HONGBAO_ADMIN_TOKEN ?? readFileSync(writtenFile(proc.ready.adminTokenFile, 'admin token'), 'utf8').trim();
    return proc;
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error('the server process has no pid (it did not spawn)');
    return this.child.pid;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  get http(): string {
    return `http://127.0.0.1:${this.ready.port}`;
  }

  get admin(): string {
    return `http://127.0.0.1:${this.ready.adminPort}`;
  }

  get ws(): string {
    return `ws://127.0.0.1:${this.ready.port}/ws`;
  }

  stderr(): string {
    return this.err;
  }

  /** Lines on stderr with the time this process read them. */
  lines(): ReadonlyArray<{ at: number; line: string }> {
    return this.stderrLines;
  }

  token(userId: number, ttlSeconds = 3600): string {
    return mintToken(this.secret, userId, Date.now() / 1000 + ttlSeconds);
  }

  /** Resident set size of the server process in MiB (null once it is gone). */
  rssMb(): number | null {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'));
      return m ? Number(m[1]) / 1024 : null;
    } catch {
      return null;
    }
  }

  /** Send `signal` and wait for the exit (SIGKILL after `timeoutMs` if it hangs). */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 20_000): Promise<ServerExit & { ms: number; hung: boolean }> {
    const started = Date.now();
    if (this.alive) this.child.kill(signal);
    let hung = false;
    const timer = setTimeout(() => {
      hung = true;
      this.child.kill('SIGKILL');
    }, timeoutMs);
    const exit = await this.exited;
    clearTimeout(timer);
    return { ...exit, ms: Date.now() - started, hung };
  }

  /** An admin API call with the admin token (or `token`; null for none). `T` is the caller's view of
   *  the answer's JSON (docs/admin-api.md), not checked here; a body that is not JSON is its text. */
  async adminFetch<T = unknown>(method: string, route: string, body?: unknown, token?: string | null): Promise<{ status: number; body: T }> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    const t = token === undefined ? this.adminToken : token;
    if (t !== null) headers.authorization = `Bearer ${t}`;
    const res = await fetch(`${this.admin}${route}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON
    }
    return { status: res.status, body: parsed as T };
  }
}
