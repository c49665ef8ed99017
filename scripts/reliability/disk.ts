// Disk trouble on demand: a small tmpfs (as root: `mount -t tmpfs -o size=...`), filled with a filler
// file until ENOSPC and freed again, and remounted read-only / read-write. Every call says whether the
// kernel let it happen; callers fall back to the ledger's own switches when it did not.
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';

export interface Outcome {
  ok: boolean;
  /** The command's complaint when it failed (e.g. "mount point is busy"). */
  why: string;
}

function run(cmd: string, args: string[]): Outcome {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 });
  if (r.error) return { ok: false, why: r.error.message };
  const why = `${r.stderr ?? ''}`.trim().split('\n')[0] ?? '';
  return { ok: r.status === 0, why: r.status === 0 ? '' : why || `exit ${r.status}` };
}

export function mountTmpfs(dir: string, sizeBytes: number): Outcome {
  if (process.getuid?.() !== 0) return { ok: false, why: 'not root' };
  return run('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes},mode=0700`, 'hongbao-test', dir]);
}

export function remount(dir: string, mode: 'ro' | 'rw'): Outcome {
  return run('mount', ['-o', `remount,${mode}`, dir]);
}

export function unmount(dir: string): Outcome {
  const r = run('umount', [dir]);
  return r.ok ? r : run('umount', ['-l', dir]);
}

const FILLER = 'filler';

/** Writes a filler file into `dir` until the filesystem says ENOSPC; returns the bytes written. */
export function fill(dir: string, limitBytes = 256 * 1024 * 1024): number {
  const fd = openSync(path.join(dir, FILLER), 'a');
  const chunk = Buffer.alloc(64 * 1024, 0x5a);
  let written = 0;
  try {
    while (written < limitBytes) {
      try {
        written += writeSync(fd, chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
        throw err;
      }
    }
    // the last partial block
    for (let n = 4096; n >= 1; n = Math.floor(n / 2)) {
      try {
        written += writeSync(fd, chunk.subarray(0, n));
      } catch {
        // full
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

export function unfill(dir: string): void {
  rmSync(path.join(dir, FILLER), { force: true });
}
