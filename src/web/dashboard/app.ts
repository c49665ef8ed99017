// The live dashboard (served by `hongbao monitor` and the rehearsal): loads the history from
// `series`, then follows `events` (server-sent events, one DashboardPoint a second). Charts are
// uPlot, bundled in at build time; nothing is fetched from the internet.
import uPlot from 'uplot';
import { IN_FLIGHT_SECONDS, reconcile, type DashboardPoint, type FlowCheck } from './point.ts';
import type { CountCents } from '../../engine/types.ts';

const $ = (id: string): HTMLElement => {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`the page has no #${id}`);
  return el;
};
const MAX_POINTS = 900; // 15 minutes on screen
const int = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const ms = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });

const points: DashboardPoint[] = [];

// ---- charts -----------------------------------------------------------------------------------------

interface ChartSpec {
  el: string;
  series: Array<{ label: string; colour: string; dash?: number[]; value: (p: DashboardPoint) => number | null }>;
  unit?: string;
}

const BLUE = '#1f5fbf';
const ORANGE = '#c2410c';
const GREEN = '#15803d';
const PURPLE = '#7e22ce';

const specs: ChartSpec[] = [
  {
    el: 'chart-qps',
    series: [
      { label: 'clients sent/s', colour: BLUE, value: (p) => (p.clients ? p.clientSent : null) },
      { label: 'server answered/s', colour: ORANGE, dash: [6, 3], value: (p) => (p.servers ? p.shakes : null) },
    ],
  },
  {
    el: 'chart-hits',
    series: [
      { label: 'hits/s', colour: GREEN, value: (p) => (p.servers ? p.hits : null) },
      { label: 'released/s', colour: PURPLE, dash: [6, 3], value: (p) => (p.servers ? p.released : null) },
    ],
  },
  {
    el: 'chart-groups',
    series: [
      { label: 'created/s', colour: BLUE, value: (p) => (p.servers ? p.groupCreated : null) },
      { label: 'opened/s', colour: ORANGE, dash: [6, 3], value: (p) => (p.servers ? p.groupOpened : null) },
    ],
  },
  {
    el: 'chart-latency',
    unit: 'ms',
    series: [
      { label: 'p50 ms', colour: GREEN, value: (p) => p.p50Ms },
      { label: 'p99 ms', colour: ORANGE, dash: [6, 3], value: (p) => p.p99Ms },
    ],
  },
  {
    el: 'chart-connections',
    series: [
      { label: 'server', colour: BLUE, value: (p) => p.connections },
      { label: 'clients', colour: PURPLE, dash: [6, 3], value: (p) => p.clientsConnected },
    ],
  },
];

/** `box` is the element the chart was mounted in (its root's parent), the one whose width it follows. */
const charts: Array<{ spec: ChartSpec; plot: uPlot; box: HTMLElement }> = [];

function chartWidth(el: HTMLElement): number {
  return Math.max(280, el.clientWidth);
}

function buildCharts(): void {
  for (const spec of specs) {
    const el = $(spec.el);
    const opts: uPlot.Options = {
      width: chartWidth(el),
      height: 190,
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: (_u, min, max) => [0, Math.max(1, max * 1.1, min)] } },
      axes: [
        { stroke: '#334', grid: { stroke: '#e5e7eb' } },
        {
          stroke: '#334',
          grid: { stroke: '#e5e7eb' },
          size: 56,
          values: (_u, ticks) => ticks.map((v) => (spec.unit === 'ms' ? ms.format(v) : int.format(v))),
        },
      ],
      series: [{}, ...spec.series.map((s) => ({ label: s.label, stroke: s.colour, width: 2, dash: s.dash, spanGaps: false }))],
    };
    charts.push({ spec, plot: new uPlot(opts, dataFor(spec), el), box: el });
  }
  const resize = new ResizeObserver(() => {
    for (const c of charts) c.plot.setSize({ width: chartWidth(c.box), height: 190 });
  });
  for (const c of charts) resize.observe(c.box);
}

function dataFor(spec: ChartSpec): uPlot.AlignedData {
  return [points.map((p) => p.second), ...spec.series.map((s) => points.map((p) => s.value(p)))] as uPlot.AlignedData;
}

function redraw(): void {
  for (const c of charts) c.plot.setData(dataFor(c.spec));
}

// ---- numbers ----------------------------------------------------------------------------------------

const money = (cents: number) => {
  const sign = cents < 0 ? '-' : '';
  const a = Math.abs(cents);
  return `${sign}¥${int.format(Math.floor(a / 100))}.${String(a % 100).padStart(2, '0')}`;
};
const cc = (v: CountCents | null) => (v ? `${int.format(v.count)} · ${money(v.cents)}` : '–');

function tiles(p: DashboardPoint): void {
  const set = (id: string, text: string) => ($(id).textContent = text);
  set('tile-client-qps', p.clients ? int.format(p.clientSent) : '–');
  set('tile-server-qps', p.servers ? int.format(p.shakes) : '–');
  set('tile-server-all', p.servers ? `all requests: ${int.format(p.serverAnswered)}` : '');
  set('tile-hits', p.servers ? int.format(p.hits) : '–');
  set('tile-released', p.servers ? int.format(p.released) : '–');
  set('tile-created', p.servers ? int.format(p.groupCreated) : '–');
  set('tile-opened', p.servers ? int.format(p.groupOpened) : '–');
  set('tile-latency', p.p50Ms === null ? '–' : `${ms.format(p.p50Ms)} / ${ms.format(p.p99Ms ?? 0)}`);
  set('tile-connections', p.connections === null ? '–' : int.format(p.connections));
  set('tile-connections-clients', p.clientsConnected === null ? '' : `clients: ${int.format(p.clientsConnected)}`);
  $('clock').textContent = new Date(p.second * 1000).toLocaleTimeString('en-GB');
}

const FLOW_NAMES = { shake: 'Shake packets', group: 'Group shares' } as const;
const STATE_WORDS = { ok: '✓ balanced', 'in-flight': '≈ in flight', off: '✗ MISMATCH', waiting: '…' } as const;

function reconRow(f: FlowCheck): HTMLTableRowElement {
  const tr = document.createElement('tr');
  tr.dataset.state = f.state;
  tr.dataset.flow = f.name;
  const gap = f.booksGap.count !== 0 || f.booksGap.cents !== 0 ? f.booksGap : f.clientGap;
  const cells: Array<[label: string, text: string]> = [
    ['Flow', FLOW_NAMES[f.name]],
    ['Issued', cc(f.issued)],
    ['Received (server)', cc(f.received)],
    ['Received (clients)', cc(f.clientReceived)],
    ['Remaining', cc(f.remaining)],
    ['Refunded', cc(f.refunded)],
    ['Difference', `${cc(gap ?? { count: 0, cents: 0 })} ${STATE_WORDS[f.state]}`],
  ];
  cells.forEach(([label, text], i) => {
    const cell = document.createElement(i === 0 ? 'th' : 'td');
    if (i === 0) cell.setAttribute('scope', 'row');
    else cell.className = 'num';
    cell.dataset.label = label; // shown beside the value where the table stacks (narrow screens)
    if (i === cells.length - 1) cell.dataset.col = 'difference';
    cell.textContent = text;
    tr.append(cell);
  });
  return tr;
}

/** The latest point at or before `second`, or null when the history does not reach back that far. */
function earlierThan(second: number): DashboardPoint | null {
  for (let i = points.length - 1; i >= 0; i--) if (points[i].second <= second) return points[i];
  return null;
}

function reconciliation(p: DashboardPoint): void {
  const r = reconcile(p, earlierThan(p.second - IN_FLIGHT_SECONDS));
  const box = $('recon');
  box.dataset.state = r.state;
  $('recon-rows').replaceChildren(...r.flows.map(reconRow));
  const verdict: Record<typeof r.state, string> = {
    ok: p.clientReceived ? 'Balanced to the cent: server books and client tallies agree.' : 'Server books balance to the cent (no client tallies yet).',
    'in-flight': 'Server books balance; the client tallies trail by answers still on the wire.',
    off: 'MISMATCH: the money does not add up. See the difference column.',
    waiting: "Waiting for the server's totals…",
  };
  $('recon-verdict').textContent = verdict[r.state];
}

// ---- feed -------------------------------------------------------------------------------------------

function add(p: DashboardPoint, draw = true): void {
  const last = points[points.length - 1];
  if (last && p.second <= last.second) return;
  points.push(p);
  if (points.length > MAX_POINTS) points.splice(0, points.length - MAX_POINTS);
  if (draw) show();
}

/** The access nodes of a cluster, this second (the section stays hidden for one server). */
function nodes(p: DashboardPoint): void {
  const list = p.nodes ? Object.entries(p.nodes).sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true })) : [];
  $('nodes').hidden = list.length === 0;
  if (list.length === 0) return;
  const conns = list.map(([, n]) => n.connections);
  $('nodes-summary').textContent =
    `${list.length} nodes: ${int.format(conns.reduce((a, b) => a + b, 0))} connections (${int.format(Math.min(...conns))} to ${int.format(Math.max(...conns))} a node), ` +
    `${int.format(list.reduce((a, [, n]) => a + n.shakes, 0))} shakes/s`;
  $('nodes-rows').replaceChildren(
    ...list.map(([id, n]) => {
      const tr = document.createElement('tr');
      const cells = [
        id.replace(/^server-/, ''),
        int.format(n.connections),
        int.format(n.shakes),
        int.format(n.hits),
        int.format(n.opens),
        ms.format(n.loopDelayMs),
      ];
      cells.forEach((text, i) => {
        const cell = document.createElement(i === 0 ? 'th' : 'td');
        if (i === 0) cell.setAttribute('scope', 'row');
        else cell.className = 'num';
        cell.textContent = text;
        tr.append(cell);
      });
      return tr;
    }),
  );
}

function show(): void {
  const last = points[points.length - 1];
  if (!last) return;
  tiles(last);
  nodes(last);
  reconciliation(last);
  redraw();
  document.documentElement.dataset.lastSecond = String(last.second);
}

function feedState(state: 'connecting' | 'live' | 'reconnecting', text: string): void {
  const el = $('feed-state');
  el.dataset.state = state;
  el.textContent = text;
}

async function loadSeries(): Promise<void> {
  const res = await fetch('series', { cache: 'no-store' });
  if (!res.ok) throw new Error(`series: HTTP ${res.status}`);
  const history = (await res.json()) as DashboardPoint[];
  points.length = 0;
  for (const p of history) add(p, false);
  show();
}

function follow(): void {
  const events = new EventSource('events');
  events.addEventListener('open', () => {
    feedState('live', 'Live');
    // After a reconnect the history may have moved on: reload it, then keep appending.
    loadSeries().catch(() => {});
  });
  events.addEventListener('point', (ev) => add(JSON.parse((ev as MessageEvent<string>).data) as DashboardPoint));
  events.addEventListener('error', () => feedState('reconnecting', 'Reconnecting…'));
}

buildCharts();
follow();
document.documentElement.dataset.ready = 'true';
