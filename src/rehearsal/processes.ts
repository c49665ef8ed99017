// Child processes of the rehearsal: `hongbao <command>` under tsx, its first {"event":"ready"} line
// from stdout, its stderr kept in a log file, and a bounded stop (signal, then SIGKILL).
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

const CLI = fileURLToPath(new URL('../cli.ts', import.meta.url));

export interface Child {
  name: string;
  proc: ChildProcess;
  logFile: string;
  /** The parsed ready line. */
  ready: Record<string, unknown>;
  /** Lines of stdout after the ready line. */
  stdoutLines: string[];
  exited: Promise<number>;
}

export class ChildFailed extends Error {}

/** The last lines of a log, to show why a child failed. */
export function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8')
      .trimEnd()
      .split('\n')
      .slice(-lines)
      .map((l) => `    ${l}`)
      .join('\n');
  } catch {
    return '    (no log)';
  }
}

export function startChild(
  name: string,
  args: string[],
  opts: { env: NodeJS.ProcessEnv; logFile: string; readyTimeoutMs: number; onSpawn?: (proc: ChildProcess) => void },
): Promise<Child> {
  const proc = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    env: opts.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  opts.onSpawn?.(proc);
  const log = createWriteStream(opts.logFile);
  proc.stderr.pipe(log);
  const exited = new Promise<number>((resolve) => proc.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1))));
  const stdoutLines: string[] = [];
  return new Promise<Child>((resolve, reject) => {
    let ready: Record<string, unknown> | null = null;
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new ChildFailed(`${name} did not report ready within ${opts.readyTimeoutMs} ms; its log ${opts.logFile}:\n${tail(opts.logFile)}`));
    }, opts.readyTimeoutMs);
    createInterface({ input: proc.stdout }).on('line', (line) => {
      if (ready !== null) return void stdoutLines.push(line);
      try {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        if (parsed.event === 'ready') {
          ready = parsed;
          clearTimeout(timer);
          resolve({ name, proc, logFile: opts.logFile, ready, stdoutLines, exited });
        }
      } catch {
        // not JSON: a human line on stdout, ignore
      }
    });
    void exited.then((code) => {
      if (ready !== null) return;
      clearTimeout(timer);
      // give the log stream a moment to flush before quoting it
      setTimeout(() => reject(new ChildFailed(`${name} exited with ${code} before it was ready; its log ${opts.logFile}:\n${tail(opts.logFile)}`)), 100);
    });
  });
}

/** Wait `graceMs` for the child to leave by itself, then signal, wait up to `ms`, then SIGKILL.
 *  Resolves with the exit code (128 when a signal ended it). */
export async function stopChild(child: Child, signal: NodeJS.Signals, ms: number, graceMs = 0): Promise<number> {
  if (graceMs > 0) await Promise.race([child.exited, new Promise((resolve) => setTimeout(resolve, graceMs))]);
  if (child.proc.exitCode !== null || child.proc.signalCode !== null) return child.exited;
  child.proc.kill(signal);
  const timer = setTimeout(() => child.proc.kill('SIGKILL'), ms);
  const code = await child.exited;
  clearTimeout(timer);
  return code;
}

// moved to src/process/http-json.ts; re-exported for the rehearsal
export { httpJson } from '../process/http-json.ts';
