// One `hongbao-loadgen worker` child process: its config and commands as JSON lines on its stdin,
// its events parsed from its stdout, its stderr passed through. A worker leaves by itself when its
// stdin closes (and with PR_SET_PDEATHSIG when this process dies), so none is ever orphaned.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../../paths.ts';
import { Liveness } from '../../process/liveness.ts';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import type { WorkerCommand, WorkerConfig, WorkerEvent } from './protocol.ts';
import { zeroWorkerCounters } from './seconds.ts';

const DEFAULT_BINARY = join(ROOT, 'target/release/hongbao-loadgen');

/** The worker binary: $HONGBAO_LOADGEN_BIN, else target/release/hongbao-loadgen; a clear error when it is not built. */
export function loadgenBinary(explicit?: string): string {
  const file = explicit ?? process.env.HONGBAO_LOADGEN_BIN ?? DEFAULT_BINARY;
  if (!existsSync(file)) {
    throw new Error(`the native generator is not built: ${file} is missing; run \`npm run build:native\` (or use --generator ts)`);
  }
  return file;
}

export class WorkerProcess {
  readonly proc: ChildProcessByStdio<Writable, Readable, null>;
  /** resolves on the worker's hello line */
  readonly hello: Promise<void>;
  /** the exit code (128 + n when signal n ended it) */
  readonly exited: Promise<number>;
  /** resolves when its final report arrived */
  readonly finished: Promise<void>;
  done = false;
  connected = 0;
  inFlight = 0;
  /** from close() on: its output and CPU time, to tell a starved worker from a hung one */
  liveness: Liveness | null = null;
  /** an in-flight count came after the stop command */
  reportedSinceStop = false;
  /** the sum of the counts in its reports, to check against its final totals */
  readonly applied = zeroWorkerCounters();
  appliedLatencies = 0;

  constructor(
    readonly index: number,
    readonly config: WorkerConfig,
    binary: string,
    onEvent: (w: WorkerProcess, ev: WorkerEvent) => void,
  ) {
    this.proc = spawn(binary, ['worker'], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.proc.stdin.on('error', () => {}); // a worker that died: its exit says so
    let helloDone: (() => void) | null = null;
    let finishedDone: (() => void) | null = null;
    this.hello = new Promise((resolve) => (helloDone = resolve));
    this.finished = new Promise((resolve) => (finishedDone = resolve));
    // 'close', not 'exit': it comes after the last stdout line was read (the final report)
    this.exited = new Promise((resolve) => this.proc.on('close', (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0))));
    this.proc.on('error', () => {}); // spawn errors show up as the exit
    createInterface({ input: this.proc.stdout }).on('line', (line) => {
      let ev: WorkerEvent;
      try {
        ev = JSON.parse(line) as WorkerEvent;
      } catch {
        process.stderr.write(`[${config.id}] not an event: ${line.slice(0, 200)}\n`);
        return;
      }
      if (ev.e === 'hello') helloDone?.();
      onEvent(this, ev);
      if (ev.e === 'final') {
        this.done = true;
        finishedDone?.();
      }
    });
    this.send(config);
  }

  get pid(): number {
    return this.proc.pid ?? 0;
  }

  send(msg: WorkerCommand | WorkerConfig): void {
    const stdin = this.proc.stdin;
    if (!stdin.destroyed && stdin.writable) stdin.write(`${JSON.stringify(msg)}\n`);
  }

  /** The `close` command: it finishes and sends its final report. From now on its signs of life are timed. */
  close(): void {
    const liveness = new Liveness(this.pid);
    this.liveness = liveness;
    this.proc.stdout.on('data', () => liveness.saw());
    this.send({ cmd: 'close' });
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Close its stdin: it leaves at once. */
  detach(): void {
    this.proc.stdin.end();
  }

  kill(): void {
    if (this.running) this.proc.kill('SIGKILL');
  }
}
