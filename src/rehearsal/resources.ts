// Where the memory and the CPU of a long run go, per class of process (access nodes, clients,
// Redis, the monitor), read from /proc every second: the peak RSS of each class and the kernel's
// share (the slab: socket buffers and the structures behind every connection, from /proc/meminfo,
// against its level when the run began); and the CPU seconds each class used, so that any window
// of the run (a phase) can say how many cores each class took. Every other process on the machine
// is counted too (this rehearsal, and anything the machine runs beside it): a run that found the
// machine busy with something else says so, and with what.
import { cpuSeconds, machineBusySeconds, meminfo, processIds, processName, rssBytes } from '../process/proc-stats.ts';

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

/** Cores each class used over a window of the run (1.0 = one core busy all the time). */
export interface CpuWindow {
  seconds: number;
  cores: Record<ProcessClass, number>;
  /** every process of no class: this rehearsal itself, and whatever else the machine runs */
  othersCores: number;
  /** the whole machine's busy cores over the window (everything, the kernel's softirqs included) */
  machineCores: number;
}

/** A process of no class, by the CPU it used while the run lasted. */
export interface OtherProcess {
  pid: number;
  name: string;
  cpuSeconds: number;
  /** its CPU seconds over the whole run's seconds */
  cores: number;
}

/** A phase's CPU: the cores of each class, and its CPU ms per 1,000 of the phase's work (shakes
 *  served, or users connected in the connect phase). */
export interface PhaseCpu extends CpuWindow {
  per: 'shakes' | 'connections';
  msPer1000: Record<ProcessClass, number> | null;
}

/** A window's CPU per 1,000 units of work done in it. */
export function phaseCpu(w: CpuWindow, per: PhaseCpu['per'], units: number): PhaseCpu {
  let msPer1000: PhaseCpu['msPer1000'] = null;
  if (units > 0) {
    msPer1000 = {} as Record<ProcessClass, number>;
    for (const c of CLASSES) msPer1000[c] = Math.round(((w.cores[c] * w.seconds * 1000) / units) * 1000 * 100) / 100;
  }
  return { ...w, per, msPer1000 };
}

const MiB = 1024 * 1024;
const CLASSES: readonly ProcessClass[] = ['nodes', 'clients', 'redis', 'monitor'];

interface CpuSample {
  atMs: number;
  /** CPU seconds used by each class since the sampler started */
  used: Record<ProcessClass, number>;
  /** ... and by every other process */
  others: number;
  machine: number;
}

export class ResourceSampler {
  private timer: NodeJS.Timeout | null = null;
  private readonly peaks = new Map<ProcessClass, ClassPeak>();
  private readonly slabStart: number;
  private slabPeak: number;
  private readonly usedStart: number;
  private usedPeak: number;
  private readonly total: number;
  private samples = 0;
  /** each pid's CPU seconds at its last sample, whatever its class */
  private readonly lastCpu = new Map<number, number>();
  private readonly used: Record<ProcessClass, number> = { nodes: 0, clients: 0, redis: 0, monitor: 0 };
  /** the processes of no class that used CPU in the run, and how much */
  private readonly others = new Map<number, { name: string; used: number }>();
  private othersUsed = 0;
  private readonly cpu: CpuSample[] = [];
  /** the last sample's total RSS over every class, bytes (for the progress line) */
  lastTotal = 0;

  constructor(private readonly pids: () => Record<ProcessClass, number[]>) {
    const m = meminfo();
    this.slabStart = this.slabPeak = (m.SReclaimable ?? 0) + (m.SUnreclaim ?? 0);
    this.total = m.MemTotal ?? 0;
    this.usedStart = this.usedPeak = this.total - (m.MemAvailable ?? 0);
  }

  start(everyMs = 1000): void {
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
    const first = this.samples === 0;
    this.samples++;
    let all = 0;
    const classes = Object.entries(this.pids()) as Array<[ProcessClass, number[]]>;
    for (const [cls, list] of classes) {
      const sizes = list.map(rssBytes).filter((b) => b > 0);
      const sum = sizes.reduce((a, b) => a + b, 0);
      all += sum;
      const p = this.peaks.get(cls) ?? { processes: 0, peakMiB: 0, largestMiB: 0 };
      p.processes = Math.max(p.processes, sizes.length);
      p.peakMiB = Math.max(p.peakMiB, sum / MiB);
      p.largestMiB = Math.max(p.largestMiB, ...sizes.map((b) => b / MiB));
      this.peaks.set(cls, p);
      for (const pid of list) this.used[cls] += this.cpuSince(pid, first);
    }
    this.sampleOthers(new Set(classes.flatMap(([, list]) => list)), first);
    this.cpu.push({ atMs: Date.now(), used: { ...this.used }, others: this.othersUsed, machine: machineBusySeconds() });
    this.lastTotal = all;
    const m = meminfo();
    this.slabPeak = Math.max(this.slabPeak, (m.SReclaimable ?? 0) + (m.SUnreclaim ?? 0));
    this.usedPeak = Math.max(this.usedPeak, this.total - (m.MemAvailable ?? 0));
  }

  private sampleOthers(classPids: Set<number>, first: boolean): void {
    for (const pid of processIds()) {
      if (classPids.has(pid)) continue;
      const used = this.cpuSince(pid, first);
      if (used === 0) continue;
      let o = this.others.get(pid);
      if (o === undefined) {
        o = { name: pid === process.pid ? 'rehearsal' : processName(pid), used: 0 };
        this.others.set(pid, o);
      }
      o.used += used;
      this.othersUsed += used;
    }
  }

  /** CPU seconds `pid` used since its last sample, in whichever class or none it was then (0 when it
   *  is gone). What ran before the first sample is not the run's; a process first seen later counts
   *  whole, and so does a new process under a pid that was used before. */
  private cpuSince(pid: number, first: boolean): number {
    const now = cpuSeconds(pid);
    if (!Number.isFinite(now)) return 0;
    const last = this.lastCpu.get(pid);
    this.lastCpu.set(pid, now);
    if (last === undefined) return first ? 0 : now;
    return now < last ? now : now - last;
  }

  /** The `n` processes of no class that used the most CPU while the run lasted. */
  busiestOthers(n: number): OtherProcess[] {
    const seconds = this.cpu.length > 1 ? (this.cpu[this.cpu.length - 1].atMs - this.cpu[0].atMs) / 1000 : 0;
    return [...this.others.entries()]
      .sort((a, b) => b[1].used - a[1].used)
      .slice(0, n)
      .map(([pid, o]) => ({ pid, name: o.name, cpuSeconds: Math.round(o.used * 10) / 10, cores: seconds > 0 ? round3(o.used / seconds) : 0 }));
  }

  /** Cores per class between two moments of the run (epoch ms), from the samples around them. */
  cpuBetween(fromMs: number, toMs: number): CpuWindow | null {
    const a = this.sampleAt(fromMs);
    const b = this.sampleAt(toMs);
    if (!a || !b || b.atMs <= a.atMs) return null;
    const seconds = (b.atMs - a.atMs) / 1000;
    const cores = {} as Record<ProcessClass, number>;
    for (const c of CLASSES) cores[c] = round3((b.used[c] - a.used[c]) / seconds);
    return {
      seconds: Math.round(seconds * 10) / 10,
      cores,
      othersCores: round3((b.others - a.others) / seconds),
      machineCores: round3((b.machine - a.machine) / seconds),
    };
  }

  /** The last sample at or before `ms` (the first one if none is). */
  private sampleAt(ms: number): CpuSample | undefined {
    let found = this.cpu[0];
    for (const s of this.cpu) {
      if (s.atMs > ms) break;
      found = s;
    }
    return found;
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

const round3 = (x: number) => Math.round(x * 1000) / 1000;
