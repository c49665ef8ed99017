// Before a large rehearsal: will it fit this machine? The kernel's part of a loopback connection
// pair (~8 KB of slab here, measured: docs/rehearsal.md), the access nodes, the generator, Redis;
// the system-wide open-files limit (two sockets a user); leftovers of earlier runs that would eat the
// memory (hongbao or redis-server processes this run did not start). It changes no machine setting.
import { readdirSync, readFileSync } from 'node:fs';
import { meminfo } from '../process/proc-stats.ts';

/** Measured here: kernel slab per idle loopback connection pair, and the memory of one access node
 *  with ~18,000 users and of the generator per user (docs/rehearsal.md). */
const KERNEL_BYTES_PER_PAIR = 8_300;
const CLIENT_BYTES_PER_USER = 1_200;
const NODE_BYTES = 110 * 1024 * 1024;
const FIXED_BYTES = 1.5 * 1024 ** 3; // Redis, the monitor, this process, headroom

export interface Preflight {
  /** what the run will need, by estimate, and what the machine has available, MiB */
  neededMiB: number;
  availableMiB: number;
  fileMax: number;
  leftovers: string[];
  problems: string[];
}

function processes(): Array<{ pid: number; cmd: string }> {
  const out: Array<{ pid: number; cmd: string }> = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
      if (cmd) out.push({ pid: Number(name), cmd });
    } catch {
      // gone
    }
  }
  return out;
}

export function preflight(users: number, nodes: number): Preflight {
  const m = meminfo();
  const neededMiB = Math.round((users * (KERNEL_BYTES_PER_PAIR + CLIENT_BYTES_PER_USER) + nodes * NODE_BYTES + FIXED_BYTES) / 1024 ** 2);
  const availableMiB = Math.round((m.MemAvailable ?? 0) / 1024 ** 2);
  const fileMax = Number(readFileSync('/proc/sys/fs/file-max', 'utf8').trim());
  const me = process.pid;
  const leftovers = processes()
    .filter((p) => p.pid !== me && p.pid !== process.ppid && /redis-server|(hongbao\.js|cli\.ts|cli\.js) (server|clients|monitor)|hongbao-loadgen/.test(p.cmd))
    .map((p) => `${p.pid} ${p.cmd.slice(0, 120)}`);
  const problems: string[] = [];
  if (neededMiB > availableMiB) {
    problems.push(`${users.toLocaleString('en-US')} users over ${nodes} nodes need about ${neededMiB} MiB, the machine has ${availableMiB} MiB available`);
  }
  if (users * 2 + 10_000 > fileMax) problems.push(`fs.file-max is ${fileMax}: ${users} users need about ${users * 2 + 10_000} open sockets in all`);
  if (leftovers.length > 0)
    problems.push(`${leftovers.length} process(es) of an earlier run are still alive (stop them, by pid):\n  ${leftovers.join('\n  ')}`);
  return { neededMiB, availableMiB, fileMax, leftovers, problems };
}
