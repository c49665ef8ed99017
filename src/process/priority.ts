// A child's CPU priority, raised above the access nodes' (which run at nice 0) when the OS allows
// it. Without the privilege (root here) it is refused: said once in the log, and the child runs at
// the nodes' priority.
import { readdirSync } from 'node:fs';
import { setPriority } from 'node:os';

/** The process's threads: Linux keeps a nice value per thread, and setpriority(pid) sets only the
 *  main one (a `--private-fds` server does its work on another). */
function threadsOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).map(Number);
  } catch {
    return [pid];
  }
}

export class PriorityRaiser {
  private refused = false;

  constructor(
    /** what runs at this priority, for the log */
    private readonly what: string,
    private readonly nice: number,
    private readonly log: (message: string) => void,
  ) {}

  /** Every thread the process has now (threads it starts later inherit their creator's). */
  raise(pid: number): void {
    try {
      for (const tid of threadsOf(pid)) {
        try {
          setPriority(tid, this.nice);
        } catch (err) {
          if ((err as { info?: { code?: string } }).info?.code !== 'ESRCH') throw err; // a thread that ended meanwhile
        }
      }
    } catch (err) {
      if (!this.refused) this.log(`${this.what} runs at normal priority (nice ${this.nice} refused: ${(err as Error).message})`);
      this.refused = true;
    }
  }
}
