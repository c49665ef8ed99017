// report.html: one self-contained page (inline SVG plots, tables, no external resources).
import type { RehearsalReport } from './report-json.ts';
import { seedComparison } from './seed.ts';
import { countCents, othersLine } from './summary-table.ts';

export interface HtmlPlot {
  title: string;
  svg: string;
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]);
}

function htmlTable(head: string[], rows: Array<Array<string | number>>): string {
  const th = head.map((h) => `<th>${escapeHtml(h)}</th>`).join('');
  const trs = rows.map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(String(c))}</td>`).join('')}</tr>`).join('\n');
  return `<table><thead><tr>${th}</tr></thead><tbody>\n${trs}\n</tbody></table>`;
}

/** Drop the XML prolog so the SVG can be inlined. */
function inlineSvg(svg: string): string {
  return svg.replace(/^<\?xml[^>]*>\s*/, '');
}

export function reportHtml(report: RehearsalReport, plots: HtmlPlot[]): string {
  const r = report.reconciliation;
  const verdict = report.ok
    ? `<p class="ok">Reconciled: the ledger, the server and the clients agree to the cent.</p>`
    : `<div class="fail"><p>Failed:</p><ul>${[...r.differences, ...report.problems].map((d) => `<li>${escapeHtml(d)}</li>`).join('')}</ul></div>`;
  const notes = r.notes ?? [];
  const noted =
    notes.length > 0
      ? `<p>Not counted against the run (docs/cluster.md, the failure model):</p><ul>${notes.map((d) => `<li>${escapeHtml(d)}</li>`).join('')}</ul>`
      : '';
  const phases = htmlTable(
    [
      'phase',
      'seconds',
      'target QPS',
      'client QPS (median)',
      'server QPS (median)',
      'p50 ms',
      'p99 ms',
      'p99.9 ms',
      'hits/s',
      'released/s',
      'creates/s',
      'opens/s',
      'errors',
      'overloaded',
      'dropped',
    ],
    report.phases.map((p) => [
      p.name,
      p.seconds,
      p.targetQps,
      p.clientQps,
      p.serverQps,
      p.latency.p50Ms,
      p.latency.p99Ms,
      p.latency.p999Ms,
      p.hitsPerSecond,
      p.releasedPerSecond,
      p.createsPerSecond,
      p.opensPerSecond,
      p.errors.client + p.errors.server,
      p.errors.overloaded,
      p.errors.dropped,
    ]),
  );
  const moneyRows: string[][] = [];
  for (const flow of ['shake', 'group'] as const) {
    const f = r[flow];
    moneyRows.push([
      `${flow}`,
      'ledger',
      countCents(f.ledger.issued),
      countCents(f.ledger.received),
      countCents(f.ledger.remaining),
      countCents(f.ledger.refunded),
    ]);
    if (f.server)
      moneyRows.push([
        '',
        'server engine',
        countCents(f.server.issued),
        countCents(f.server.received),
        countCents(f.server.remaining),
        countCents(f.server.refunded),
      ]);
    moneyRows.push([
      '',
      'clients',
      countCents(f.clients.issued),
      countCents(f.clients.received),
      f.clients.unclaimed ? `${countCents(f.clients.unclaimed)} (remaining + refunded)` : '-',
      '-',
    ]);
  }
  const money = htmlTable(['flow', 'source', 'issued', 'received', 'remaining', 'refunded'], moneyRows);
  const counters = htmlTable(
    ['client counter', 'value'],
    Object.entries(report.clientCounters).map(([k, v]) => [k, v]),
  );
  const lat = report.latency;
  const [seedHead, ...seedRows] = seedComparison(report);
  const seed = htmlTable(seedHead, seedRows);
  const c = report.memory.classes;
  const memory = htmlTable(
    ['process class', 'processes', 'peak RSS (MiB)', 'largest one (MiB)', 'per connection (B)'],
    (['nodes', 'clients', 'redis', 'monitor'] as const).map((k) => [k, c[k].processes, c[k].peakMiB, c[k].largestMiB, c[k].bytesPerConnection ?? '-']),
  );
  const nodes = htmlTable(
    ['node', 'peak connections', 'shakes', 'hits', 'opens', 'unavailable'],
    report.perNode.map((n) => [n.name, n.connectionsPeak, n.shakes ?? '-', n.hits ?? '-', n.opens ?? '-', n.unavailable ?? '-']),
  );
  const cpu = htmlTable(
    ['phase', 'per 1,000', 'nodes (cores)', 'clients', 'Redis', 'monitor', 'others', 'machine', 'nodes (ms per 1,000)', 'clients', 'Redis'],
    report.phases.flatMap((p) => {
      if (!p.cpu) return [];
      const c = p.cpu.cores;
      const m = p.cpu.msPer1000;
      return [
        [p.name, p.cpu.per, c.nodes, c.clients, c.redis, c.monitor, p.cpu.othersCores, p.cpu.machineCores, m?.nodes ?? '-', m?.clients ?? '-', m?.redis ?? '-'],
      ];
    }),
  );
  const s = report.memory.slab;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Hongbao rehearsal ${escapeHtml(report.startedAt)}</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; padding: 0 1em; }
table { border-collapse: collapse; margin: 0.6em 0 1.4em; font-variant-numeric: tabular-nums; font-size: 13px; }
th, td { border-bottom: 1px solid #ddd; padding: 3px 9px; text-align: right; }
th:first-child, td:first-child, td:nth-child(2) { text-align: left; }
th { background: #f4f4f4; }
.ok { color: #0a6a0a; font-weight: 600; }
.fail { color: #a00; font-weight: 600; }
figure { margin: 1em 0 2em; }
figure svg { max-width: 100%; height: auto; }
code { background: #f4f4f4; padding: 0 3px; }
</style></head><body>
<h1>Hongbao rehearsal</h1>
<p>${escapeHtml(report.startedAt)} · ${report.users.toLocaleString('en-US')} users in ${report.clientProcesses} client process(es) ·
${escapeHtml(report.engine)} engine, ${report.nodes > 1 ? `${report.nodes} access nodes on a Redis Cluster` : `one server, ${report.threads} thread(s)`} · ${report.durationSeconds} s ·
${report.connections.peak.toLocaleString('en-US')} connected at the peak, in ${report.connections.connectSeconds} s (${report.connections.perSecond.toLocaleString('en-US')}/s)</p>
${verdict}${noted}
<h2>Beside the seed's published figures</h2>
${seed}
<h2>Phases</h2>
${phases}
<p>Latency is measured from each shake's intended send time (open loop, no coordinated omission):
p50 ${lat.p50Ms} ms, p90 ${lat.p90Ms} ms, p99 ${lat.p99Ms} ms, p99.9 ${lat.p999Ms} ms, max ${lat.maxMs} ms over ${lat.count.toLocaleString('en-US')} shakes.</p>
<h2>CPU</h2>
<p>Cores each class of process used in each phase (from /proc, every second), and its CPU
milliseconds per 1,000 shakes served (per 1,000 users connected in the connect phase). <em>others</em> are
every other process on the machine, this rehearsal among them; <em>machine</em> is everything, the
kernel's softirqs too.</p>
${cpu}
<p>${escapeHtml(othersLine(report))}</p>
<h2>Money (count / cents)</h2>
<p>Shake counts are packets, group counts are shares. The ledger is read after the server drained and exited.</p>
${money}
<h2>Memory</h2>
<p>Peak RSS per process class (summed over its processes at one sample), and the kernel's slab (socket
buffers and the structures of every connection, from /proc/meminfo): ${s.startMiB} MiB at the start, ${s.peakMiB} MiB at the peak
(+${s.growthMiB} MiB${s.bytesPerConnection === null ? '' : `, ${s.bytesPerConnection} B per connection pair`}). The machine went from
${report.memory.machine.startMiB} to ${report.memory.machine.peakMiB} MiB used of ${report.memory.machine.totalMiB}.</p>
${memory}
${report.perNode.length > 1 ? `<h2>Access nodes</h2>\n${nodes}` : ''}
<h2>Plots</h2>
${plots.map((p) => `<figure aria-label="${escapeHtml(p.title)}">${inlineSvg(p.svg)}</figure>`).join('\n')}
<h2>Client counters</h2>
${counters}
<h2>Configuration</h2>
<pre>${escapeHtml(JSON.stringify(report.config, null, 2))}</pre>
</body></html>
`;
}
