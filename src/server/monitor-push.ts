// --monitor URL: POST the server's counters for each completed second to URL/push
// (docs/admin-api.md, "Monitor push") through the clients' sender (one keep-alive connection; a
// fetch() per second cost an idle cluster node more than its lease clock). A monitor that is down
// costs one log line per state change.
import { MonitorPusher } from '../monitor/push.ts';

export class MonitorPush {
  private readonly pusher: MonitorPusher;
  private failing = false;
  private readonly id: string;

  /** `node`: a cluster node's name, which names its pushes (else the process id does). */
  constructor(
    private readonly base: string,
    private readonly log: (message: string) => void,
    node: string | null = null,
  ) {
    this.pusher = new MonitorPusher(base);
    this.id = node ? `server-${node}` : `server-${process.pid}`;
  }

  push(counters: Record<string, unknown>, second: number): void {
    void this.pusher.push({ source: 'server', id: this.id, second, counters }).then((ok) => {
      if (ok && this.failing) this.log(`monitor ${this.base} takes pushes again`);
      if (!ok && !this.failing) this.log(`monitor ${this.base} push failed; will keep trying every second`);
      this.failing = !ok;
    });
  }

  close(): void {
    this.pusher.close();
  }
}
