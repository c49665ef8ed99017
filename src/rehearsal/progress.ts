// The rehearsal's progress line on stderr: phase, elapsed, target and achieved QPS, hits/s, opens/s.
// On a terminal it rewrites one line each second (a new line per phase); otherwise it prints a line
// every five seconds and at each phase change.
export interface ProgressSample {
  phase: string;
  elapsedSeconds: number;
  targetQps: number;
  clientQps: number | null;
  serverQps: number | null;
  hits: number | null;
  opens: number | null;
  connected: number | null;
  /** connections made per second, while connecting */
  connectRate?: number | null;
  users: number;
  p99Ms: number | null;
  /** every process of the run together, GiB */
  memoryGiB?: number | null;
  /** cores of the processes of no class over the last seconds (shown from OTHERS_SHOWN_CORES) */
  othersCores?: number | null;
}

/** Below this the others' share is noise (the rehearsal itself, the system's housekeeping). */
const OTHERS_SHOWN_CORES = 0.1;

const show = (v: number | null) => (v === null ? '-' : Math.round(v).toLocaleString('en-US'));

export function progressLine(s: ProgressSample): string {
  const m = Math.floor(s.elapsedSeconds / 60);
  const sec = String(Math.floor(s.elapsedSeconds % 60)).padStart(2, '0');
  return [
    `[${m}:${sec}]`,
    s.phase.padEnd(8),
    `target ${show(s.targetQps).padStart(6)}`,
    `clients ${show(s.clientQps).padStart(6)}/s`,
    `server ${show(s.serverQps).padStart(6)}/s`,
    `hits ${show(s.hits).padStart(4)}/s`,
    `opens ${show(s.opens).padStart(4)}/s`,
    `connected ${show(s.connected)}/${show(s.users)}`,
    s.connectRate == null ? '' : `(+${show(s.connectRate)}/s)`,
    s.p99Ms === null ? '' : `p99 ${s.p99Ms.toFixed(1)} ms`,
    s.memoryGiB == null ? '' : `mem ${s.memoryGiB.toFixed(1)} GiB`,
    s.othersCores == null || s.othersCores < OTHERS_SHOWN_CORES ? '' : `others ${s.othersCores.toFixed(2)} cores`,
  ]
    .filter(Boolean)
    .join('  ');
}

export class ProgressPrinter {
  private lastPhase = '';
  private lastPrinted = 0;
  private pendingLine = false;

  constructor(
    private readonly out: NodeJS.WriteStream = process.stderr,
    private readonly tty = Boolean(process.stderr.isTTY),
  ) {}

  update(s: ProgressSample): void {
    const line = progressLine(s);
    const newPhase = s.phase !== this.lastPhase;
    if (this.tty) {
      if (newPhase && this.pendingLine) this.out.write('\n');
      this.out.write(`\r${line}\x1b[K`);
      this.pendingLine = true;
    } else if (newPhase || s.elapsedSeconds - this.lastPrinted >= 5) {
      this.out.write(`${line}\n`);
      this.lastPrinted = s.elapsedSeconds;
    }
    this.lastPhase = s.phase;
  }

  /** A plain message between progress lines. */
  note(message: string): void {
    if (this.tty && this.pendingLine) this.out.write('\n');
    this.pendingLine = false;
    this.out.write(`${message}\n`);
  }
}
