// Samples a process's resident set size at a fixed interval: baseline, peak, last, and the samples.
import { readFileSync } from 'node:fs';

export function rssMb(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

export class RssSampler {
  readonly samples: Array<{ at: number; mb: number }> = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly pid: number,
    private readonly everyMs = 250,
  ) {}

  start(): this {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.everyMs);
    this.timer.unref();
    return this;
  }

  sample(): number | null {
    const mb = rssMb(this.pid);
    if (mb !== null) this.samples.push({ at: Date.now(), mb });
    return mb;
  }

  stop(): { first: number; peak: number; last: number; samples: number } {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const mbs = this.samples.map((s) => s.mb);
    return { first: round(mbs[0] ?? 0), peak: round(Math.max(0, ...mbs)), last: round(mbs.at(-1) ?? 0), samples: mbs.length };
  }
}

const round = (x: number) => Math.round(x * 10) / 10;
