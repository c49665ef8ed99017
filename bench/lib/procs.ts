// Child processes of a benchmark: `node [nodeArgs] --import tsx SCRIPT args`, its {"event":"ready"}
// line from stdout, stderr kept in a log file, and a bounded stop.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { httpJson } from '../../src/rehearsal/processes.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI = path.join(ROOT, 'src/cli.ts');
export const OUT_ROOT = path.join(ROOT, 'bench-out');

export interface Child {
  name: string;
  proc: ChildProcess;
  pid: number;
  /** its {"event":"ready"} line; which other fields it has depends on the command */
  ready: ReadyLine;
  logFile: string;
  /** stdout lines after the ready line */
  lines: string[];
  exited: Promise<number>;
}

export interface ReadyLine {
  event: 'ready';
  [field: string]: unknown;
}

export function outDir(bench: string): string {
  const dir = path.join(OUT_ROOT, bench);
  mkdirSync(dir, { recursive: true });
  return dir;
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-12).join('\n');
  } catch {
    return '(no log)';
  }
}

export interface SpawnOptions {
  nodeArgs?: string[];
  env?: NodeJS.ProcessEnv;
  logFile: string;
  readyTimeoutMs?: number;
  /** `perf record ... --` or similar put in front of node */
  wrap?: string[];
}

export function spawnReady(name: string, script: string, args: string[], o: SpawnOptions): Promise<Child> {
  const nodeArgv = [...(o.nodeArgs ?? []), '--import', 'tsx', script, ...args];
  const [cmd, ...argv] = o.wrap ? [...o.wrap, process.execPath, ...nodeArgv] : [process.execPath, ...nodeArgv];
  const proc = spawn(cmd, argv, { cwd: ROOT, env: { ...process.env, ...o.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const log = createWriteStream(o.logFile);
  proc.stderr.pipe(log);
  const exited = new Promise<number>((resolve) => proc.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1))));
  const lines: string[] = [];
  return new Promise((resolve, reject) => {
    let ready: ReadyLine | null = null;
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${name} not ready within ${o.readyTimeoutMs ?? 60_000} ms:\n${tail(o.logFile)}`));
    }, o.readyTimeoutMs ?? 60_000);
    createInterface({ input: proc.stdout }).on('line', (line) => {
      if (ready !== null) {
        lines.push(line);
        log.write(`${line}\n`); // e.g. --trace-gc output, next to the stderr it interleaves with
        return;
      }
      try {
        const parsed = JSON.parse(line) as ReadyLine | null;
        if (parsed?.event === 'ready') {
          ready = parsed;
          clearTimeout(timer);
          // under a wrapper (perf) the node process is a child of proc: its pid comes from the ready line
          const pid = o.wrap ? Number(parsed.pid) : proc.pid;
          if (pid === undefined) reject(new Error(`${name} printed its ready line but has no pid`));
          else resolve({ name, proc, pid, ready: parsed, logFile: o.logFile, lines, exited });
        }
      } catch {
        // a line that is not JSON
      }
    });
    void exited.then((code) => {
      if (ready !== null) return;
      clearTimeout(timer);
      setTimeout(() => reject(new Error(`${name} exited with ${code} before ready:\n${tail(o.logFile)}`)), 100);
    });
  });
}

/** SIGTERM (or `signal`), then SIGKILL after `ms`. Resolves with the exit code. */
export async function stop(child: Child, signal: NodeJS.Signals = 'SIGTERM', ms = 15_000): Promise<number> {
  if (child.proc.exitCode !== null || child.proc.signalCode !== null) return child.exited;
  child.proc.kill(signal);
  const timer = setTimeout(() => child.proc.kill('SIGKILL'), ms);
  const code = await child.exited;
  clearTimeout(timer);
  return code;
}

/** The rehearsal's JSON fetch, with a longer default timeout for benches that stop busy servers. */
export function getJson<T>(url: string, init: { method?: string; body?: unknown; token?: string; timeoutMs?: number } = {}): Promise<T> {
  return httpJson<T>(url, { ...init, timeoutMs: init.timeoutMs ?? 30_000 });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
