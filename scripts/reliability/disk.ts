// Disk trouble on demand, as root: a small ext4 filesystem on a loop device (or a tmpfs), filled with
// a filler file until ENOSPC and freed again, remounted read-only / read-write, and made read-only
// under its open files the way the kernel does it after an I/O error (ext4 `errors=remount-ro` and
// its `trigger_fs_error` switch), then unmounted, checked with e2fsck and mounted again. Every call
// says whether the kernel let it happen; callers fall back to the ledger's own switches when it did not.
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
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

/** A fresh ext4 of `sizeBytes` in `image`, on a loop device, mounted at `dir` with errors=remount-ro. */
export function mountLoopExt4(dir: string, image: string, sizeBytes: number): Outcome & { device: string } {
  if (process.getuid?.() !== 0) return { ok: false, why: 'not root', device: '' };
  const t = run('truncate', ['-s', String(sizeBytes), image]);
  if (!t.ok) return { ...t, device: '' };
  const r = spawnSync('losetup', ['--find', '--show', image], { encoding: 'utf8', timeout: 10_000 });
  const device = `${r.stdout ?? ''}`.trim();
  if (r.status !== 0 || !device) return { ok: false, why: `losetup: ${`${r.stderr ?? r.error?.message ?? ''}`.trim()}`, device: '' };
  // -m 0: no blocks reserved for root (the server runs as root here and would use them)
  const made = run('mkfs.ext4', ['-q', '-m', '0', device]);
  const mounted = made.ok ? run('mount', ['-o', 'errors=remount-ro', device, dir]) : made;
  if (!mounted.ok) detachLoop(device);
  return { ...mounted, device: mounted.ok ? device : '' };
}

export function detachLoop(device: string): Outcome {
  return run('losetup', ['-d', device]);
}

/** An ext4 error on `device` (as after a failed write): with errors=remount-ro the kernel makes the
 *  mounted filesystem read-only at once, open files and all. */
export function failFilesystem(device: string): Outcome {
  try {
    writeFileSync(`/sys/fs/ext4/${path.basename(device)}/trigger_fs_error`, 'hongbao disk test');
    return { ok: true, why: '' };
  } catch (err) {
    return { ok: false, why: (err as Error).message };
  }
}

/** Whether the filesystem mounted at `dir` is read-only (ext4 shows `emergency_ro` after an error). */
export function isReadOnly(dir: string): boolean {
  const line = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .find((l) => l.split(' ')[1] === dir);
  const options = line?.split(' ')[3]?.split(',') ?? [];
  return options.includes('ro') || options.includes('emergency_ro');
}

/** What an operator does for a filesystem the kernel made read-only: unmount it (retried until
 *  nobody holds a file on it, up to `waitMs`), e2fsck it, mount it again. */
export async function repairLoopExt4(dir: string, device: string, waitMs: number): Promise<Outcome & { busyMs: number }> {
  const started = Date.now();
  let u = run('umount', [dir]);
  while (!u.ok && Date.now() - started < waitMs) {
    await new Promise((r) => setTimeout(r, 100));
    u = run('umount', [dir]);
  }
  const busyMs = Date.now() - started;
  if (!u.ok) return { ...u, busyMs };
  const fsck = spawnSync('e2fsck', ['-fy', device], { encoding: 'utf8', timeout: 60_000 });
  // exit 0: clean, 1: errors corrected
  if (fsck.status !== 0 && fsck.status !== 1) return { ok: false, why: `e2fsck exit ${fsck.status}: ${`${fsck.stdout}`.trim().split('\n').pop()}`, busyMs };
  return { ...run('mount', ['-o', 'errors=remount-ro', device, dir]), busyMs };
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
