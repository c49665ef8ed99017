// --monitor URL: POST the server's counters for each completed second to URL/push
// (docs/admin-api.md, "Monitor push"). A monitor that is down costs one log line per state change.
export class MonitorPush {
  private readonly url: string;
  private failing = false;
  private readonly id: string;

  /** `node`: a cluster node's name, which names its pushes (else the process id does). */
  constructor(
    base: string,
    private readonly log: (message: string) => void,
    node: string | null = null,
  ) {
    this.url = `${base.replace(/\/+$/, '')}/push`;
    this.id = node ? `server-${node}` : `server-${process.pid}`;
  }

  push(counters: Record<string, unknown>, second: number): void {
    const body = JSON.stringify({ source: 'server', id: this.id, second, counters });
    fetch(this.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(900) })
      .then((res) => {
        void res.body?.cancel();
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        if (this.failing) this.log(`monitor ${this.url} takes pushes again`);
        this.failing = false;
      })
      .catch((err: Error) => {
        if (!this.failing) this.log(`monitor ${this.url} push failed (${err.message}); will keep trying every second`);
        this.failing = true;
      });
  }
}
