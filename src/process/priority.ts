// A child's CPU priority, raised above the access nodes' (which run at nice 0) when the OS allows
// it. Without the privilege (root here) it is refused: said once in the log, and the child runs at
// the nodes' priority.
import { setPriority } from 'node:os';

export class PriorityRaiser {
  private refused = false;

  constructor(
    /** what runs at this priority, for the log */
    private readonly what: string,
    private readonly nice: number,
    private readonly log: (message: string) => void,
  ) {}

  raise(pid: number): void {
    try {
      setPriority(pid, this.nice);
    } catch (err) {
      if (!this.refused) this.log(`${this.what} runs at normal priority (nice ${this.nice} refused: ${(err as Error).message})`);
      this.refused = true;
    }
  }
}
