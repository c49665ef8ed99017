// Where the memory of a long run goes: the peak RSS of every class of process (access nodes,
// clients, Redis, the monitor), read from /proc/<pid>/status every couple of seconds, and the
// kernel's share: the slab (socket buffers and the structures behind every connection) from
// /proc/meminfo, against its level when the run began.
import { readFileSync } from 'node:fs';

export type ProcessClass = 'nodes' | 'clients' | 'redis' | 'monitor';

export interface ClassPeak {
  processes: number;
  /** the largest sum over the class seen at one sample, MiB */
  peakMiB: number;
  /** the largest single process of the class, MiB */
  largestMiB: number;
}

export interface MemoryBlock {
  /** peak RSS per process class, and per connection where the class holds connections */
  classes: Record<ProcessClass, ClassPeak & { bytesPerConnection: number | null }>;
  /** kernel slab (SReclaimable + SUnreclaim) at the start and at its peak, MiB; and per connection pair */
  slab: { startMiB: number; peakMiB: number; growthMiB: number; bytesPerConnection: number | null };
  /** the whole machine's used memory (MemTotal - MemAvailable) at the start and at its peak, MiB */
  machine: { startMiB: number; peakMiB: number; totalMiB: number };
  samples: number;
}

const MiB = 1024 * 1024;

export function rssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0; // gone
  }
}

export function meminfo(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of readFileSync('/proc/meminfo', 'utf8').split('\n')) {
    const m = /^(\w+):\s+(\d+) kB/.exec(line);
    if (m) out[m[1]] = Number(m[2]) * 1024;
  }
  return out;
}

export class MemorySampler {
  private timer: NodeJS.Timeout | null = null;
  private readonly peaks = new Map<ProcessClass, ClassPeak>();
  private readonly slabStart: number;
  private slabPeak: number;
  private readonly usedStart: number;
  private usedPeak: number;
  private readonly total: number;
  private samples = 0;
  /** the last sample's total RSS over every class, bytes (for the progress line) */
  lastTotal = 0;

  constructor(private readonly pids: () => Record<ProcessClass, number[]>) {
    const m = meminfo();
    this.slabStart = this.slabPeak = (m.SReclaimable ?? 0) + (m.SUnreclaim ?? 0);
    this.total = m.MemTotal ?? 0;
    this.usedStart = this.usedPeak = this.total - (m.MemAvailable ?? 0);
  }

  start(everyMs = 2000): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.sample();
  }

  sample(): void {
    this.samples++;
    let all = 0;
    for (const [cls, list] of Object.entries(this.pids()) as Array<[ProcessClass, number[]]>) {
      const sizes = list.map(rssBytes).filter((b) => b > 0);
      const sum = sizes.reduce((a, b) => a + b, 0);
      all += sum;
      const p = this.peaks.get(cls) ?? { processes: 0, peakMiB: 0, largestMiB: 0 };
      p.processes = Math.max(p.processes, sizes.length);
      p.peakMiB = Math.max(p.peakMiB, sum / MiB);
      p.largestMiB = Math.max(p.largestMiB, ...sizes.map((b) => b / MiB));
      this.peaks.set(cls, p);
    }
    this.lastTotal = all;
    const m = meminfo();
    this.slabPeak = Math.max(this.slabPeak, (m.SReclaimable ?? 0) + (m.SUnreclaim ?? 0));
    this.usedPeak = Math.max(this.usedPeak, this.total - (m.MemAvailable ?? 0));
  }

  /** The report's memory block; `connections` is the peak number of connected users. */
  report(connections: number): MemoryBlock {
    const round = (x: number) => Math.round(x * 10) / 10;
    const per = (mib: number) => (connections > 0 ? Math.round((mib * MiB) / connections) : null);
    const cls = (c: ProcessClass, holds: boolean) => {
      const p = this.peaks.get(c) ?? { processes: 0, peakMiB: 0, largestMiB: 0 };
      return { processes: p.processes, peakMiB: round(p.peakMiB), largestMiB: round(p.largestMiB), bytesPerConnection: holds ? per(p.peakMiB) : null };
    };
    const growth = (this.slabPeak - this.slabStart) / MiB;
    return {
      classes: { nodes: cls('nodes', true), clients: cls('clients', true), redis: cls('redis', false), monitor: cls('monitor', false) },
      slab: { startMiB: round(this.slabStart / MiB), peakMiB: round(this.slabPeak / MiB), growthMiB: round(growth), bytesPerConnection: per(growth) },
      machine: { startMiB: round(this.usedStart / MiB), peakMiB: round(this.usedPeak / MiB), totalMiB: round(this.total / MiB) },
      samples: this.samples,
    };
  }
}
