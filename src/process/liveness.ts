// Whether a child has shown a sign of life lately: output it gave, or CPU time it used. Silence
// alone does not tell a hung child from a starved one: behind 56 access nodes working off a backlog,
// a loadgen worker closing its 18,000 sockets got ~1/60 of the machine and said nothing for over
// 15 s before its final report (run 22 of the million preset, docs/rehearsal.md).
import { cpuSeconds } from './proc-stats.ts';

export class Liveness {
  private lastSignAt: number;
  private cpuSeen: number;

  constructor(
    private readonly pid: number,
    now = Date.now(),
  ) {
    this.lastSignAt = now;
    this.cpuSeen = cpuSeconds(pid);
  }

  /** It gave output. */
  saw(now = Date.now()): void {
    this.lastSignAt = now;
  }

  /** No output and no CPU time used for `ms` (CPU is looked at on each call: call it every second or so). */
  silentFor(ms: number, now = Date.now()): boolean {
    const cpu = cpuSeconds(this.pid);
    if (cpu > this.cpuSeen) {
      this.cpuSeen = cpu;
      this.lastSignAt = now;
    }
    return now - this.lastSignAt > ms;
  }
}
