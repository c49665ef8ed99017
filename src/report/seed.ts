// The reference experiment's published figures (docs/rehearsal.md, ../shared/DESIGN.md), beside a
// run's own: what the report's comparison table shows.
import type { RehearsalReport } from './report-json.ts';

/** What the reference experiment (Go, one 8-core 16 GB server, 17 client VMs) reported or, where it
 *  says so, what its code measured on this project's machines. */
export const SEED = {
  connections: '1,000,000 on one server',
  machine: '1 server of 8 cores, 16 GB; 17 client VMs',
  stage2: '30,000 shakes/s: stable',
  stage3: '60,000 shakes/s: unstable',
  supply: '200 shake packets/s',
  groups: '200 group packets/s, 3 recipients each',
  serverBytesPerConnection: '4.0 KB + 810 MB allocated up front (its server, run here)',
  clientBytesPerConnection: '17.4 KB (its client, run here)',
  reconciliation: "clients' and server's totals agree",
} as const;

const int = (v: number) => Math.round(v).toLocaleString('en-US');
const kb = (b: number | null) => (b === null ? '-' : `${(b / 1024).toFixed(1)} KB`);

/** Rows [figure, the seed, this run]. */
export function seedComparison(r: RehearsalReport): string[][] {
  const phase = (name: string) => r.phases.find((p) => p.name === name);
  const step = (name: string) => {
    const p = phase(name);
    if (!p) return '-';
    return `${int(p.targetQps)} offered: ${int(p.serverQps)}/s served (fewest ${int(p.perSecond.serverQpsMin)} in a second), p99 ${p.latency.p99Ms} ms`;
  };
  const supply = [phase('supply'), phase('group'), phase('step-2')].filter((p) => p !== undefined);
  const released = supply.length
    ? `${Math.min(...supply.map((p) => p.perSecond.releasedMin))}–${Math.max(...supply.map((p) => p.perSecond.releasedMax))} released per second`
    : '-';
  const groups = phase('group');
  const m = r.memory;
  return [
    ['figure', 'the seed', 'this run'],
    ['connections', SEED.connections, `${int(r.connections.peak)} over ${r.nodes} access node(s) (${r.store}), ${int(r.connections.disconnects)} lost later`],
    ['machine', SEED.machine, `one machine of ${m.machine.totalMiB > 0 ? Math.round(m.machine.totalMiB / 1024) : '?'} GiB, the clients on it too`],
    ['stage 2', SEED.stage2, step('group')],
    ['stage 3', SEED.stage3, step('step-2')],
    ['shake packets', SEED.supply, released],
    ['group packets', SEED.groups, groups ? `${groups.createsPerSecond}/s, ${r.group.packets} packets` : '-'],
    ['server memory per connection', SEED.serverBytesPerConnection, `${kb(m.classes.nodes.bytesPerConnection)} (RSS of every node at the peak)`],
    ['client memory per connection', SEED.clientBytesPerConnection, kb(m.classes.clients.bytesPerConnection)],
    ['kernel per connection pair', '-', `${kb(m.slab.bytesPerConnection)} of slab`],
    ['reconciliation', SEED.reconciliation, r.reconciliation.ok ? 'exact, item by item, to the cent' : 'FAILED'],
  ];
}
