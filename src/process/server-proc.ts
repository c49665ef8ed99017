// A real `hongbao server` child process, for the tests, the reliability runs and the benches: started
// on given (or free) ports and a data directory through the child harness (child.ts), its ready line
// checked against the server's ReadyInfo, its token secret and admin token read, its stderr kept; a
// bounded stop, its RSS, and admin API calls. Restarting on the same ports and data directory is the
// point of the chaos run (freePort).
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mintToken } from '../auth/token.ts';
import type { ReadyInfo } from '../server/server.ts';
import { ChildSet, CLI, type Exit, isReady, type ReadyChild, type ReadyLine } from './child.ts';

export interface ServerProcOptions {
  dataDir: string;
  /** default 0: any free port */
  port?: number;
  adminPort?: number;
  /** --host (default: the server's own, 0.0.0.0) */
  host?: string;
  /** More `hongbao server` flags. */
  args?: string[];
  /** Variables over this process's environment. */
  env?: NodeJS.ProcessEnv;
  /** Node flags before the CLI (--trace-gc, --perf-basic-prof). */
  nodeArgs?: string[];
  /** `perf record ... --` put in front of node (the server's pid is then its ready line's). */
  wrap?: string[];
  /** The CLI to run (default this checkout's src/cli.ts; another checkout's for an A/B bench). */
  cli?: string;
  /** Where its stderr goes as well. */
  logFile?: string;
  /** Keep stderr in memory for `stderr()` and `lines()` (default true; a long bench says false). */
  keepStderr?: boolean;
  /** default 30 s */
  readyTimeoutMs?: number;
  name?: string;
}

export type ServerExit = Exit & { ms: number; hung: boolean };

/** Servers still running are SIGKILLed when this process exits (an ava worker that ends early, e.g.
 *  on a timeout, does not run the test files' after hooks). */
const running = new ChildSet();

/** The server's ready line, checked: the fields every harness reads. */
export function serverReady(line: ReadyLine): ReadyInfo {
  const { pid, port, adminPort, threads, engine, secretFile, adminTokenFile } = line;
  const fileOrNull = (f: unknown) => f === null || typeof f === 'string';
  if (
    typeof pid !== 'number' ||
    typeof port !== 'number' ||
    typeof adminPort !== 'number' ||
    typeof threads !== 'number' ||
    typeof engine !== 'string' ||
    !fileOrNull(secretFile) ||
    !fileOrNull(adminTokenFile)
  ) {
    throw new Error(`the server's ready line lacks a field of ReadyInfo: ${JSON.stringify(line)}`);
  }
  return line as unknown as ReadyInfo;
}

/** A file the server's ready line names: null only when the variable that replaces it was set. */
export function writtenFile(file: string | null, what: string): string {
  if (file === null) throw new Error(`the server wrote no ${what} file and none was given in its environment`);
  return file;
}

export class ServerProc {
  private constructor(
    readonly child: ReadyChild,
    readonly ready: ReadyInfo,
    readonly dataDir: string,
    readonly secret: string,
    readonly adminToken: string,
  ) {}

  static async start(o: ServerProcOptions): Promise<ServerProc> {
    const args = [
      ...(o.nodeArgs ?? []),
      '--import',
      'tsx',
      o.cli ?? CLI,
      'server',
      '--data',
      o.dataDir,
      '--port',
      String(o.port ?? 0),
      '--admin-port',
      String(o.adminPort ?? 0),
      ...(o.host === undefined ? [] : ['--host', o.host]),
      ...(o.args ?? []),
    ];
    const child = isReady(
      await running.start({
        name: o.name ?? 'hongbao server',
        args,
        env: { ...process.env, ...o.env },
        wrap: o.wrap,
        logFile: o.logFile,
        keepStderr: o.keepStderr ?? true,
        readyTimeoutMs: o.readyTimeoutMs ?? 30_000,
      }),
    );
    const ready = serverReady(child.ready);
    const secret = o.env?.HONGBAO_SECRET ?? readFileSync(writtenFile(ready.secretFile, 'secret'), 'utf8').trim();
    const adminToken = o.env?.HONGBAO_ADMIN_TOKEN ?? readFileSync(writtenFile(ready.adminTokenFile, 'admin token'), 'utf8').trim();
    return new ServerProc(child, ready, o.dataDir, secret, adminToken);
  }

  get pid(): number {
    return this.child.pid;
  }

  /** The process started (under a wrapper: the wrapper). */
  get proc(): ChildProcess {
    return this.child.proc;
  }

  get alive(): boolean {
    return this.child.running;
  }

  get exited(): Promise<Exit> {
    return this.child.exited;
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

  /** Everything the server wrote on stderr so far. */
  stderr(): string {
    return this.child.stderr();
  }

  /** Lines on stderr with the time this process read them. */
  lines(): ReadonlyArray<{ at: number; line: string }> {
    return this.child.stderrLines;
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

  /** Send `signal` and wait for the exit (SIGKILL after `timeoutMs` if it hangs: `hung`). */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 20_000): Promise<ServerExit> {
    const started = Date.now();
    const exit = await this.child.stop(signal, timeoutMs);
    return { ...exit, ms: Date.now() - started, hung: this.child.killedAfterTimeout };
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
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON (e.g. /metrics)
    }
    return { status: res.status, body: parsed as T };
  }
}
