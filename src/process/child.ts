// The one child-process harness of every tool (rehearsal, cluster, benches, reliability scripts,
// tests): spawn, wait for the child's {"event":"ready"} JSON line on stdout with a timeout (lines
// that are not JSON are skipped), keep stderr (and stdout after the ready line) in a log file, stop
// with a signal and then SIGKILL after a bound, and report the exit the way a shell does (a death
// by signal N is 128 + N). A `ChildSet` remembers what it started, so that nothing outlives a tool
// that fails: `stopAll`, and SIGKILL of every survivor when the process exits.
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, type WriteStream } from 'node:fs';
import { constants } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { ROOT } from '../paths.ts';

export { ROOT };
/** The entry every child runs: bin/hongbao.js picks the compiled code when it is up to date. */
export const BIN = path.join(ROOT, 'bin/hongbao.js');
/** The sources' entry (tests that must run the sources as they are). */
export const CLI = path.join(ROOT, 'src/cli.ts');

/** The first JSON line with `"event": "ready"` a child prints; each command adds its own fields. */
export interface ReadyLine {
  event: 'ready';
  pid?: number;
  [field: string]: unknown;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** `code`, or 128 + the signal's number, as a shell reports it. */
  status: number;
}

export function exitStatus(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return signal ? 128 + (constants.signals[signal] ?? 0) : 1;
}

export interface ChildOptions {
  name: string;
  /** The program (default: this Node). */
  command?: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Where stderr (and stdout after the ready line) go, appended after a line naming this start; without one they are discarded. */
  logFile?: string;
  /** Also keep stderr in memory (`Child.stderr()`, `Child.stderrLines`): a test or a run that reads it. */
  keepStderr?: boolean;
  /** A program put in front of the command (`perf record -g --`); the child's pid is then the
   *  `pid` of its ready line, since the process started is the wrapper. */
  wrap?: string[];
  /** Wait this long for the ready line (default 60 s); 0: do not wait for one. */
  readyTimeoutMs?: number;
  /** Called as soon as the process exists, before it is ready (so a caller can track it). */
  onSpawn?: (proc: ChildProcess) => void;
}

/** The argv of `hongbao <args>` (through bin/hongbao.js: compiled when built, else the sources),
 *  with optional Node flags before it. */
export function hongbaoCommand(args: string[], nodeArgs: string[] = []): { command: string; args: string[] } {
  return { command: process.execPath, args: [...nodeArgs, BIN, ...args] };
}

/** The last lines of a log, indented, to show why a child failed. */
export function tail(file: string | undefined, lines = 15): string {
  if (!file) return '    (no log)';
  try {
    return tailOf(readFileSync(file, 'utf8'), lines);
  } catch {
    return '    (no log)';
  }
}

/** stdout lines kept after the ready line (a long-running child's output goes to its log) */
const MAX_LINES = 1000;

/** The last lines of a text, indented (as `tail` does for a log). */
function tailOf(text: string, lines = 15): string {
  return text
    .trimEnd()
    .split('\n')
    .slice(-lines)
    .map((l) => `    ${l}`)
    .join('\n');
}

export class ChildFailed extends Error {
  override readonly name = 'ChildFailed';
}

export class Child {
  ready: ReadyLine | null = null;
  /** stdout lines after the ready line (the last MAX_LINES) */
  readonly lines: string[] = [];
  /** stderr lines with the time they were read, when kept (`keepStderr`) */
  readonly stderrLines: Array<{ at: number; line: string }> = [];
  readonly exited: Promise<Exit>;
  /** `stop` had to SIGKILL it: it did not leave within the bound after the signal */
  killedAfterTimeout = false;
  private stderrText = '';
  private stderrPending = '';

  constructor(
    readonly name: string,
    readonly proc: ChildProcess,
    readonly logFile: string | undefined,
    /** under a wrapper the child's own pid comes from its ready line */
    private readonly wrapped = false,
  ) {
    this.exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal, status: exitStatus(code, signal) })));
  }

  get pid(): number {
    if (this.wrapped) {
      const pid = this.ready?.pid;
      if (typeof pid !== 'number') throw new ChildFailed(`${this.name} runs under a wrapper and its ready line has no pid`);
      return pid;
    }
    if (this.proc.pid === undefined) throw new ChildFailed(`${this.name} has no pid (it did not start)`);
    return this.proc.pid;
  }

  /** Everything it wrote on stderr so far (empty unless `keepStderr`). */
  stderr(): string {
    return this.stderrText;
  }

  /** @internal a chunk of stderr, kept */
  keep(chunk: string): void {
    this.stderrText += chunk;
    const parts = (this.stderrPending + chunk).split('\n');
    this.stderrPending = parts.pop() ?? ''; // split always gives at least one piece
    const at = Date.now();
    for (const line of parts) this.stderrLines.push({ at, line });
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Wait `graceMs` for it to leave by itself, then `signal`, then SIGKILL after `timeoutMs`. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000, graceMs = 0): Promise<Exit> {
    if (graceMs > 0 && this.running) await Promise.race([this.exited, new Promise((r) => setTimeout(r, graceMs))]);
    if (!this.running) return this.exited;
    this.proc.kill(signal);
    const timer = setTimeout(() => {
      this.killedAfterTimeout = true;
      this.proc.kill('SIGKILL');
    }, timeoutMs);
    const exit = await this.exited;
    clearTimeout(timer);
    return exit;
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<Exit> {
    if (this.running) this.proc.kill(signal);
    return this.exited;
  }

  /** Why it failed, for an error message: its exit and the end of its log (or of its kept stderr). */
  describe(): string {
    const exit = this.running ? 'still running' : `exited with ${exitStatus(this.proc.exitCode, this.proc.signalCode as NodeJS.Signals | null)}`;
    return `${this.name} ${exit}; ${this.logTail()}`;
  }

  /** The end of its log, or of its kept stderr when it has no log file. */
  logTail(): string {
    if (this.logFile === undefined && this.stderrText !== '') return `stderr:\n${tailOf(this.stderrText)}`;
    return `${this.logFile ?? 'no log'}:\n${tail(this.logFile)}`;
  }
}

/** Start a child; resolves once it printed its ready line (or at once with readyTimeoutMs 0). */
export function startChild(o: ChildOptions): Promise<Child> {
  const [command, ...args] = [...(o.wrap ?? []), o.command ?? process.execPath, ...o.args];
  const proc = spawn(command, args, { cwd: o.cwd ?? ROOT, env: o.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  o.onSpawn?.(proc);
  const child = new Child(o.name, proc, o.logFile, o.wrap !== undefined && o.wrap.length > 0);
  let log: WriteStream | null = null;
  if (o.logFile) {
    mkdirSync(path.dirname(o.logFile), { recursive: true });
    // appended: a restarted child's log keeps what the one before it said (how it died)
    log = createWriteStream(o.logFile, { flags: 'a' });
    log.on('error', () => undefined); // a log that cannot be written must not take the tool down
    log.write(`--- ${o.name} started ${new Date().toISOString()} (pid ${proc.pid ?? '?'})\n`);
    proc.stderr?.pipe(log);
  }
  if (o.keepStderr) {
    proc.stderr?.setEncoding('utf8');
    proc.stderr?.on('data', (d: string) => child.keep(d));
  } else if (!o.logFile) proc.stderr?.resume();
  const timeoutMs = o.readyTimeoutMs ?? 60_000;
  const stdout = proc.stdout;
  if (stdout === null) return Promise.reject(new ChildFailed(`${o.name}: no stdout`));
  return new Promise<Child>((resolve, reject) => {
    const timer =
      timeoutMs > 0
        ? setTimeout(() => {
            proc.kill('SIGKILL');
            reject(new ChildFailed(`${o.name} did not report ready within ${timeoutMs} ms; ${child.describe()}`));
          }, timeoutMs)
        : null;
    createInterface({ input: stdout }).on('line', (line) => {
      if (child.ready !== null || timer === null) {
        child.lines.push(line);
        if (child.lines.length > MAX_LINES) child.lines.splice(0, child.lines.length - MAX_LINES);
        log?.write(`${line}\n`);
        return;
      }
      const parsed = parseReady(line);
      if (parsed === null) return;
      child.ready = parsed;
      clearTimeout(timer);
      if (o.wrap?.length && typeof parsed.pid !== 'number') {
        proc.kill('SIGKILL');
        reject(new ChildFailed(`${o.name} runs under ${o.wrap[0]} and its ready line has no pid: ${line}`));
      } else resolve(child);
    });
    proc.once('error', (err) => {
      if (timer) clearTimeout(timer);
      reject(new ChildFailed(`${o.name} could not be started: ${err.message}`));
    });
    if (timer === null) {
      resolve(child);
      return;
    }
    void child.exited.then((exit) => {
      if (child.ready !== null) return;
      clearTimeout(timer);
      // give the log stream a moment to flush before quoting it
      setTimeout(() => reject(new ChildFailed(`${o.name} exited with ${exit.status} before it was ready; ${child.logTail()}`)), 100);
    });
  });
}

/** A child that printed its ready line. */
export type ReadyChild = Child & { readonly ready: ReadyLine };

/** Start a child and wait for its ready line (`readyTimeoutMs` > 0, default 60 s). */
export async function startReady(o: ChildOptions): Promise<ReadyChild> {
  if (o.readyTimeoutMs === 0) throw new Error(`${o.name}: startReady waits for a ready line (readyTimeoutMs 0 given)`);
  return isReady(await startChild(o));
}

/** The child, typed as one that reported ready (startChild with a ready timeout resolves only then). */
export function isReady(child: Child): ReadyChild {
  if (child.ready === null) throw new ChildFailed(`${child.name} did not report ready`);
  return child as ReadyChild;
}

export interface Finished {
  exit: Exit;
  stdout: string;
  stderr: string;
}

/** Run a command to its end (--help, a start-up error): its exit, stdout and stderr; SIGKILL and a
 *  ChildFailed after `timeoutMs`. */
export async function runChild(o: Omit<ChildOptions, 'readyTimeoutMs' | 'keepStderr' | 'logFile'>, timeoutMs = 30_000): Promise<Finished> {
  const child = await startChild({ ...o, readyTimeoutMs: 0, keepStderr: true });
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      child.proc.kill('SIGKILL');
      reject(new ChildFailed(`${o.name} did not exit within ${timeoutMs} ms; ${child.logTail()}`));
    }, timeoutMs);
  });
  try {
    const exit = await Promise.race([child.exited, late]);
    // the streams may still hold the last bytes after 'exit'
    await Promise.all([streamEnd(child.proc.stdout), streamEnd(child.proc.stderr)]);
    return { exit, stdout: child.lines.map((l) => `${l}\n`).join(''), stderr: child.stderr() };
  } finally {
    clearTimeout(timer);
  }
}

function streamEnd(s: NodeJS.ReadableStream | null): Promise<void> {
  if (s === null || (s as { readableEnded?: boolean }).readableEnded) return Promise.resolve();
  return new Promise((resolve) => {
    s.once('end', resolve);
    s.once('close', resolve);
  });
}

function parseReady(line: string): ReadyLine | null {
  if (!line.startsWith('{')) return null;
  try {
    const parsed = JSON.parse(line) as unknown;
    return parsed !== null && typeof parsed === 'object' && (parsed as { event?: unknown }).event === 'ready' ? (parsed as ReadyLine) : null;
  } catch {
    return null;
  }
}

/** Every process a tool started: stopped together, and killed if the tool itself exits first. */
export class ChildSet {
  private readonly procs = new Set<ChildProcess>();
  private readonly children: Child[] = [];

  constructor() {
    process.once('exit', () => {
      for (const p of this.procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    });
  }

  async start(o: ChildOptions): Promise<Child> {
    const child = await startChild({
      ...o,
      onSpawn: (proc) => {
        this.procs.add(proc);
        proc.once('exit', () => this.procs.delete(proc));
        o.onSpawn?.(proc);
      },
    });
    this.children.push(child);
    return child;
  }

  /** The children that reported ready (in start order). */
  get all(): readonly Child[] {
    return this.children;
  }

  /** SIGKILL everything still running now (a failed or aborted tool). */
  killAll(): void {
    for (const p of this.procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  }

  /** Stop every child still running (last started first), each with `signal` then SIGKILL after `timeoutMs`. */
  async stopAll(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<void> {
    await Promise.all([...this.children].reverse().map((c) => c.stop(signal, timeoutMs)));
    this.killAll();
  }
}
