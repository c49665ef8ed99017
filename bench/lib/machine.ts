// The machine a benchmark ran on (nproc, CPU model, load) and per-process CPU and memory from
// /proc, so every bench can say how busy the machine was and what each process used.
import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { cpuSeconds } from '../../src/process/proc-stats.ts';

export interface MachineInfo {
  nproc: number;
  cpuModel: string;
  memGiB: number;
  node: string;
  /** 1, 5 and 15 minute load averages when the bench started */
  loadAtStart: number[];
}

export function machineInfo(): MachineInfo {
  let cpuModel = 'unknown';
  let memGiB = 0;
  try {
    cpuModel = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpuModel;
    memGiB = Math.round(Number(/^MemTotal:\s+(\d+)/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0) / 1024 / 1024);
  } catch {
    // not Linux: leave the defaults
  }
  return { nproc: availableParallelism(), cpuModel, memGiB, node: process.version, loadAtStart: load() };
}

export function load(): number[] {
  return loadavg().map((x) => Math.round(x * 100) / 100);
}

export { cpuSeconds, machineBusySeconds, rssBytes } from '../../src/process/proc-stats.ts';

/** CPU use between two samples, in cores (1.0 = one core busy all the time). */
export class CpuMeter {
  private readonly start = new Map<number, number>();
  private t0 = 0;

  begin(pids: number[]): void {
    this.t0 = performance.now();
    for (const pid of pids) this.start.set(pid, cpuSeconds(pid));
  }

  /** Cores used by each pid since begin(). */
  end(): Map<number, number> {
    const seconds = (performance.now() - this.t0) / 1000;
    const out = new Map<number, number>();
    for (const [pid, c0] of this.start) out.set(pid, (cpuSeconds(pid) - c0) / seconds);
    return out;
  }
}
