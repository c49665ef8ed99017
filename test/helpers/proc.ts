// What a /proc fd directory (/proc/PID/fd, /proc/PID/task/TID/fd) lists: each descriptor's target
// ("socket:[…]", a file's path, …); a descriptor closed while it is read is left out.
import { readdirSync, readlinkSync } from 'node:fs';

export function fdTargets(fdDir: string): string[] {
  return readdirSync(fdDir).flatMap((fd) => {
    try {
      return [readlinkSync(`${fdDir}/${fd}`)];
    } catch {
      return []; // closed meanwhile
    }
  });
}
