// The rehearsal's closing tables (for stderr): phases, then money by source, then the verdict.
// Returns a string so it can be tested.
import type { CountCents } from '../engine/types.ts';
import type { RehearsalReport } from './report-json.ts';
import { seedComparison } from './seed.ts';

export function table(rows: string[][], rightAligned: (i: number) => boolean = (i) => i > 0): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (rightAligned(i) ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

const int = (v: number) => Math.round(v).toLocaleString('en-US');
const ms = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
export const countCents = (x: CountCents | null | undefined) => (x ? `${int(x.count)} / ${int(x.cents)}` : '-');

export function phaseTable(report: RehearsalReport): string {
  const rows = [
    ['phase', 'seconds', 'target QPS', 'client QPS', 'server QPS', 'p50 ms', 'p99 ms', 'hits/s', 'creates/s', 'opens/s', 'errors', 'overloaded', 'dropped'],
  ];
  for (const p of report.phases) {
    rows.push([
      p.name,
      String(p.seconds),
      int(p.targetQps),
      int(p.clientQps),
      int(p.serverQps),
      p.latency.count ? ms(p.latency.p50Ms) : '-',
      p.latency.count ? ms(p.latency.p99Ms) : '-',
      String(p.hitsPerSecond),
      String(p.createsPerSecond),
      String(p.opensPerSecond),
      int(p.errors.client + p.errors.server),
      int(p.errors.overloaded),
      int(p.errors.dropped),
    ]);
  }
  return table(rows);
}

/** Per phase: the cores each class of process used, and its CPU ms per 1,000 shakes (connections
 *  in the connect phase). */
export function cpuTable(report: RehearsalReport): string {
  const rows = [['phase', 'per 1,000', 'nodes cores', 'clients', 'Redis', 'monitor', 'others', 'machine', 'nodes ms', 'clients ms', 'Redis ms']];
  const f = (v: number | undefined) => (v === undefined ? '-' : v.toFixed(2));
  for (const p of report.phases) {
    if (!p.cpu) continue;
    const c = p.cpu.cores;
    const m = p.cpu.msPer1000;
    rows.push([
      p.name,
      p.cpu.per,
      f(c.nodes),
      f(c.clients),
      f(c.redis),
      f(c.monitor),
      f(p.cpu.othersCores),
      f(p.cpu.machineCores),
      f(m?.nodes),
      f(m?.clients),
      f(m?.redis),
    ]);
  }
  return table(rows);
}

/** The processes outside the run's classes that used the most CPU (a busy machine says with what). */
export function othersLine(report: RehearsalReport): string {
  const list = report.otherProcesses.map((o) => `${o.name} (pid ${o.pid}) ${o.cores.toFixed(2)} cores`);
  return `other processes, the busiest over the run: ${list.length > 0 ? list.join(', ') : 'none'}`;
}

export function moneyTable(report: RehearsalReport): string {
  const r = report.reconciliation;
  const rows = [['flow (count / cents)', 'source', 'issued', 'received', 'remaining', 'refunded']];
  for (const flow of ['shake', 'group'] as const) {
    const f = r[flow];
    const label = flow === 'shake' ? 'shake (packets)' : 'group (shares)';
    rows.push([label, 'ledger', countCents(f.ledger.issued), countCents(f.ledger.received), countCents(f.ledger.remaining), countCents(f.ledger.refunded)]);
    if (f.server)
      rows.push(['', 'server', countCents(f.server.issued), countCents(f.server.received), countCents(f.server.remaining), countCents(f.server.refunded)]);
    const unclaimed = f.clients.unclaimed ? `${countCents(f.clients.unclaimed)} (both)` : '-';
    rows.push(['', 'clients', countCents(f.clients.issued), countCents(f.clients.received), flow === 'group' ? unclaimed : '-', '-']);
  }
  return table(rows, (i) => i > 1);
}

export function summaryTable(report: RehearsalReport): string {
  const sources = report.store === 'sqlite' ? 'ledger, server' : `Redis, ${report.nodes} node journals`;
  const verdict = report.ok
    ? `RECONCILED: ${sources} and ${report.clientProcesses} client process(es) agree to the cent`
    : `FAILED:\n${[...report.reconciliation.differences, ...report.problems].map((d) => `  - ${d}`).join('\n')}`;
  const notes = report.reconciliation.notes ?? [];
  const noted = notes.length > 0 ? `\nnot counted against the run (docs/cluster.md, the failure model):\n${notes.map((d) => `  - ${d}`).join('\n')}` : '';
  const lat = report.latency;
  const service = report.nodes > 1 ? `${report.nodes} access nodes on a Redis Cluster` : `1 server, ${report.threads} thread(s)`;
  return [
    `rehearsal: ${int(report.users)} users, ${report.clientProcesses} client process(es), ${report.engine} engine, ${service}, ${report.durationSeconds} s`,
    `connections: peak ${int(report.connections.peak)}, connected in ${report.connections.connectSeconds} s (${int(report.connections.perSecond)}/s), ${int(report.connections.disconnects)} lost later`,
    memoryLine(report),
    ...(report.nodes > 1 ? [nodeLine(report)] : []),
    '',
    phaseTable(report),
    '',
    cpuTable(report),
    othersLine(report),
    '',
    moneyTable(report),
    '',
    table(seedComparison(report), () => false),
    '',
    `shake latency over the run (from the intended send time): p50 ${ms(lat.p50Ms)} ms, p90 ${ms(lat.p90Ms)} ms, p99 ${ms(lat.p99Ms)} ms, p99.9 ${ms(lat.p999Ms)} ms, max ${ms(lat.maxMs)} ms (${int(lat.count)} shakes)`,
    verdict + noted,
    '',
  ].join('\n');
}

const mib = (v: number) => `${int(v)} MiB`;
const perConn = (b: number | null) => (b === null ? '' : ` (${int(b)} B/conn)`);

export function memoryLine(report: RehearsalReport): string {
  const m = report.memory;
  const c = m.classes;
  return (
    `memory at the peak: nodes ${mib(c.nodes.peakMiB)}${perConn(c.nodes.bytesPerConnection)}, clients ${mib(c.clients.peakMiB)}${perConn(c.clients.bytesPerConnection)}, ` +
    `Redis ${mib(c.redis.peakMiB)}, monitor ${mib(c.monitor.peakMiB)}; kernel slab +${mib(m.slab.growthMiB)}${perConn(m.slab.bytesPerConnection)}; ` +
    `machine ${mib(m.machine.startMiB)} -> ${mib(m.machine.peakMiB)} used of ${mib(m.machine.totalMiB)}`
  );
}

/** The spread of connections and work over the access nodes. */
export function nodeLine(report: RehearsalReport): string {
  const conns = report.perNode.map((n) => n.connectionsPeak).sort((a, b) => a - b);
  const shakes = report.perNode.map((n) => n.shakes ?? 0).sort((a, b) => a - b);
  const mid = (v: number[]) => v[v.length >> 1] ?? 0;
  return `per node: connections ${int(conns[0] ?? 0)}..${int(conns[conns.length - 1] ?? 0)} (median ${int(mid(conns))}), shakes served ${int(shakes[0] ?? 0)}..${int(shakes[shakes.length - 1] ?? 0)}`;
}
