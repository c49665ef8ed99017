// The one record the live dashboard draws: a second of the run, aligned across the server and the
// client processes, plus the running reconciliation. Built on the Node side (src/web/feed.ts) from
// the monitor push bodies documented in docs/admin-api.md; read in the browser. No Node-only imports.
import type { CountCents, Totals } from '../../engine/types.ts';
import type { NodeSecond } from '../../monitor/collector.ts';

/** A monitor push body (docs/admin-api.md, "Monitor push"). */
export interface PushBody {
  source: 'server' | 'client';
  id: string;
  second: number;
  counters: Record<string, unknown>;
}

export interface DashboardPoint {
  /** Unix second this point covers. */
  second: number;
  /** Processes that reported for this second. */
  servers: number;
  clients: number;
  /** Shakes sent by the clients during the second (sum over client processes). */
  clientSent: number;
  /** Every request the server answered: shakes + opens + repeats + refused opens + creates. */
  serverAnswered: number;
  shakes: number;
  hits: number;
  /** Shake packets the supply released during the second (the supply rate as it ran). */
  released: number;
  overloaded: number;
  groupCreated: number;
  groupOpened: number;
  /** Client latency: p50 is the mean over client processes, p99 the largest (a conservative bound). */
  p50Ms: number | null;
  p99Ms: number | null;
  /** Connections held by the server(s), and reported connected by the clients. */
  connections: number | null;
  clientsConnected: number | null;
  /** The engine totals as the server last reported them (null before any server push). */
  totals: Totals | null;
  /** What the clients tallied as received since the feed started (null while no client reported). */
  clientReceived: { shake: CountCents; group: CountCents } | null;
  /** Per access node (a cluster), this second: its connections and what it served; absent for one server. */
  nodes?: Record<string, NodeSecond>;
}

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
const optNum = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

function isTotals(v: unknown): v is Totals {
  const t = v as Totals | null;
  return !!t && typeof t === 'object' && !!t.shake?.created && !!t.group?.created;
}

function addFlow(a: Totals['shake'], b: Totals['shake']): Totals['shake'] {
  const add = (x: CountCents, y: CountCents) => ({ count: x.count + y.count, cents: x.cents + y.cents });
  return {
    created: add(a.created, b.created),
    paid: add(a.paid, b.paid),
    remaining: add(a.remaining, b.remaining),
    refunded: add(a.refunded, b.refunded),
  };
}

/** Running sums a feed carries from one second to the next. */
export interface FeedCarry {
  totals: Totals | null;
  received: { shake: CountCents; group: CountCents } | null;
  /** The server's connections as last reported: a level, kept through a second whose push came late. */
  connections?: number;
}

/** The clients' running receipts in `carry`, started at zero on first use. */
function receivedSoFar(carry: FeedCarry): { shake: CountCents; group: CountCents } {
  if (carry.received === null) carry.received = { shake: { count: 0, cents: 0 }, group: { count: 0, cents: 0 } };
  return carry.received;
}

/**
 * Align one second's push bodies into a point. `carry` holds the running sums from the previous
 * points and is updated in place (clients report per-second counts; the dashboard wants totals).
 */
export function toDashboardPoint(second: number, pushes: readonly PushBody[], carry: FeedCarry): DashboardPoint {
  const p: DashboardPoint = {
    second,
    servers: 0,
    clients: 0,
    clientSent: 0,
    serverAnswered: 0,
    shakes: 0,
    hits: 0,
    released: 0,
    overloaded: 0,
    groupCreated: 0,
    groupOpened: 0,
    p50Ms: null,
    p99Ms: null,
    connections: null,
    clientsConnected: null,
    totals: null,
    clientReceived: null,
  };
  let p50Sum = 0;
  let p50N = 0;
  let totals: Totals | null = null;
  for (const push of pushes) {
    const c = push.counters ?? {};
    if (push.source === 'server') {
      p.servers++;
      p.shakes += num(c.shakes);
      p.hits += num(c.hits);
      p.released += num(c.released);
      p.overloaded += num(c.overloaded);
      p.groupCreated += num(c.creates);
      p.groupOpened += num(c.opens);
      p.serverAnswered += num(c.shakes) + num(c.opens) + num(c.repeats) + num(c.openRefused) + num(c.creates);
      p.connections = (p.connections ?? 0) + num(c.connections);
      if (isTotals(c.totals)) {
        totals = totals
          ? {
              shake: addFlow(totals.shake, c.totals.shake),
              group: addFlow(totals.group, c.totals.group),
              groupPackets: totals.groupPackets + c.totals.groupPackets,
            }
          : c.totals;
      }
    } else if (push.source === 'client') {
      p.clients++;
      p.clientSent += num(c.sent);
      p.clientsConnected = (p.clientsConnected ?? 0) + num(c.connected);
      const p50 = optNum(c.p50Ms);
      const p99 = optNum(c.p99Ms);
      if (p50 !== null) {
        p50Sum += p50;
        p50N++;
      }
      if (p99 !== null) p.p99Ms = Math.max(p.p99Ms ?? 0, p99);
      const r = receivedSoFar(carry);
      r.shake.count += num(c.hits);
      r.shake.cents += num(c.hitCents);
      r.group.count += num(c.opens);
      r.group.cents += num(c.openCents);
    }
  }
  if (p50N > 0) p.p50Ms = p50Sum / p50N;
  if (totals) carry.totals = totals;
  p.totals = carry.totals;
  p.clientReceived = carry.received ? { shake: { ...carry.received.shake }, group: { ...carry.received.group } } : null;
  return p;
}

/** The row `hongbao monitor` aligns (src/monitor/collector.ts SeriesRow), described structurally. */
export interface AlignedRow {
  second: number;
  /** Counters summed over the processes of each side, plus `processes`; client p50Ms/p99Ms merged. */
  client: Record<string, number>;
  server: Record<string, number>;
  /** The engine totals the server pushed for that second. */
  serverTotals?: unknown;
  /** Per access node of a cluster. */
  nodes?: Record<string, NodeSecond>;
}

/** A point from the monitor's own aligned row (its latency percentiles are exact HDR merges). */
export function pointFromAlignedRow(row: AlignedRow, carry: FeedCarry): DashboardPoint {
  const sv = row.server ?? {};
  const cl = row.client ?? {};
  const servers = num(sv.processes);
  const clients = num(cl.processes);
  if (isTotals(row.serverTotals)) carry.totals = row.serverTotals;
  if (clients > 0) {
    const r = receivedSoFar(carry);
    r.shake.count += num(cl.hits);
    r.shake.cents += num(cl.hitCents);
    r.group.count += num(cl.opens);
    r.group.cents += num(cl.openCents);
  }
  if (servers > 0) carry.connections = num(sv.connections);
  return {
    second: row.second,
    servers,
    clients,
    clientSent: num(cl.sent),
    serverAnswered: num(sv.shakes) + num(sv.opens) + num(sv.repeats) + num(sv.openRefused) + num(sv.creates),
    shakes: num(sv.shakes),
    hits: num(sv.hits),
    released: num(sv.released),
    overloaded: num(sv.overloaded),
    groupCreated: num(sv.creates),
    groupOpened: num(sv.opens),
    p50Ms: clients > 0 ? optNum(cl.p50Ms) : null,
    p99Ms: clients > 0 ? optNum(cl.p99Ms) : null,
    connections: carry.connections ?? null,
    clientsConnected: clients > 0 ? num(cl.connected) : null,
    totals: carry.totals,
    clientReceived: carry.received ? { shake: { ...carry.received.shake }, group: { ...carry.received.group } } : null,
    ...(row.nodes ? { nodes: row.nodes } : {}),
  };
}

export type CheckState = 'ok' | 'in-flight' | 'off' | 'waiting';

export interface FlowCheck {
  name: 'shake' | 'group';
  issued: CountCents;
  received: CountCents;
  remaining: CountCents;
  refunded: CountCents;
  /** issued - received - remaining - refunded on the server's own books: must be 0 at every instant. */
  booksGap: CountCents;
  /** server received - client tally, or null when no client reports. */
  clientGap: CountCents | null;
  clientReceived: CountCents | null;
  state: CheckState;
}

export interface Reconciliation {
  state: CheckState;
  flows: FlowCheck[];
}

const sub = (a: CountCents, b: CountCents): CountCents => ({ count: a.count - b.count, cents: a.cents - b.cents });
const isZero = (a: CountCents) => a.count === 0 && a.cents === 0;

/** Answers may spend this long on the wire (and in the per-second alignment) before a client counts them. */
export const IN_FLIGHT_SECONDS = 3;

/**
 * The running reconciliation. Any gap in the server's books is `off` (red) at once. Between clients
 * and server the clients' tally is bracketed: it must have caught up with what the server had paid
 * `IN_FLIGHT_SECONDS` earlier (`earlier`, the point of that second or before), and it may lead this
 * second's server totals by no more than the server paid in those seconds (a client process whose
 * loop was late closes its second late, counting answers the server's push of that second came
 * before). Inside the bracket the gap is `in-flight` (amber). Outside it, red. When the load stops
 * every gap must settle to 0.
 */
export function reconcile(point: DashboardPoint, earlier: DashboardPoint | null = null): Reconciliation {
  const t = point.totals;
  if (!t) return { state: 'waiting', flows: [] };
  const flows: FlowCheck[] = (['shake', 'group'] as const).map((name) => {
    const f = t[name];
    const booksGap = sub(sub(sub(f.created, f.paid), f.remaining), f.refunded);
    const clientReceived = point.clientReceived ? point.clientReceived[name] : null;
    const clientGap = clientReceived ? sub(f.paid, clientReceived) : null;
    const floor = earlier?.totals ? earlier.totals[name].paid : { count: 0, cents: 0 };
    let state: CheckState = 'ok';
    if (!isZero(booksGap)) state = 'off';
    else if (clientReceived && clientGap && !isZero(clientGap)) {
      // Answers on the wire are whole packets of at least one cent each: a gap in cents alone is a lost cent.
      const notAhead = clientGap.count > 0 && clientGap.cents >= clientGap.count;
      // No server push for this second (late under load): the totals are an older second's, so the
      // clients may legitimately be ahead of them; only the lower bound can be judged.
      const serverSilent = point.servers === 0;
      const caughtUp = clientReceived.count >= floor.count && clientReceived.cents >= floor.cents;
      const recent = sub(f.paid, floor);
      const leadInWindow = clientGap.count < 0 && -clientGap.cents >= -clientGap.count && -clientGap.count <= recent.count && -clientGap.cents <= recent.cents;
      state = (notAhead || serverSilent || leadInWindow) && caughtUp ? 'in-flight' : 'off';
    }
    return {
      name,
      issued: f.created,
      received: f.paid,
      remaining: f.remaining,
      refunded: f.refunded,
      booksGap,
      clientGap,
      clientReceived,
      state,
    };
  });
  const state = flows.some((f) => f.state === 'off') ? 'off' : flows.some((f) => f.state === 'in-flight') ? 'in-flight' : 'ok';
  return { state, flows };
}
