// The HTTP API under autocannon (programmatic API, pipelining 1: deferred uWS answers break
// pipelining): POST /v1/shake and POST /v1/open on the real server, with a bare uWS HTTP handler
// (bench/lib/bare-server.ts) as the baseline in the same run, at several connection counts.
//   npm run bench:http -- [flags]   (--help lists them with their defaults)
// Shakes rotate over --users tokens; opens are real first opens (each request a fresh
// (user, packet) pair of group packets created through the admin API beforehand), so every open
// moves money and waits for its commit. Table to stderr, one JSON line to stdout.
import { parseOrExit, Flags } from '../src/cli/flags.ts';
import { createRequire } from 'node:module';
import { mintToken } from '../src/auth/token.ts';
import { type AdminCreated, type AdminStats, admin, startHongbao, type Hongbao, stopHongbao } from './lib/hongbao.ts';
import { CpuMeter, load, machineInfo } from './lib/machine.ts';
import { outDir } from './lib/procs.ts';
import { startBare } from './lib/target.ts';
import { median, note, printJson, printTable, round } from './lib/report.ts';

/** autocannon ships no types: the part of its programmatic API used here. */
interface AutocannonRequest {
  headers?: Record<string, string>;
  body?: string;
}
interface AutocannonResult {
  requests: { average: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}
const autocannon = createRequire(import.meta.url)('autocannon') as (opts: Record<string, unknown>) => Promise<AutocannonResult>;

const a = parseOrExit(
  'bench:http',
  new Flags('npm run bench:http -- [flags]', 'The HTTP API under autocannon: the real server and a bare uWS HTTP handler.')
    .ints('connections', 'autocannon connections, one step each', { default: [10, 100, 500], min: 1 })
    .int('duration', 'seconds per step', { default: 10, min: 1, value: 'S' })
    .int('repeats', 'rounds of every step', { default: 3, min: 1 })
    .int('threads', 'server threads', { default: 2, min: 1 })
    .string('engine', 'the server engine', { default: 'native', choices: ['native', 'ts'], value: 'native|ts' })
    .int('users', 'user tokens the shakes rotate over (a group packet has at most 1000 recipients)', { default: 1000, min: 1, max: 1000 }),
);
const CONNS = a.connections;
const DURATION = a.duration;
const REPEATS = a.repeats;
const THREADS = a.threads;
const ENGINE = a.engine;
const USERS = a.users;
const dir = outDir('http');
const machine = machineInfo();
note(
  `bench:http: connections ${CONNS.join(', ')}, ${DURATION} s each, ${REPEATS} repeat(s), ${THREADS} threads, ${ENGINE} engine, pipelining 1; load ${machine.loadAtStart.join(' ')}`,
);

type Target = 'bare' | 'server';
type Route = 'shake' | 'open';

const bare = await startBare({ threads: THREADS, outDir: dir, label: 'bare' });
const hb: Hongbao = await startHongbao({ engine: ENGINE, threads: THREADS, outDir: dir, label: 'http' });
const urls: Record<Target, string> = { bare: bare.httpUrl, server: hb.httpUrl };
const pids: Record<Target, number> = { bare: bare.pid, server: hb.pid };
const tokens = Array.from({ length: USERS }, (_, i) => `Bearer ${mintToken(hb.secret, i + 1, Date.now() / 1000 + 86_400)}`);

// Opens: packets of USERS shares for users 1..USERS; request k opens packet firstPacket + k / USERS as user 1 + k % USERS.
let nextPair = 0;
let pairsReady = 0;
let firstPacket = 0;
async function ensurePairs(n: number): Promise<void> {
  const recipients = Array.from({ length: USERS }, (_, i) => i + 1);
  while (pairsReady - nextPair < n) {
    const batch = Array.from({ length: 16 }, () =>
      admin<AdminCreated>(hb, 'POST', '/admin/packets', { sender: USERS + 1, totalCents: USERS * 100, shareCount: USERS, recipients }),
    );
    for (const r of await Promise.all(batch)) {
      if (firstPacket === 0) firstPacket = r.packetId;
      else if (r.packetId !== firstPacket + pairsReady / USERS) throw new Error(`packet ids not consecutive (${r.packetId})`);
      pairsReady += USERS;
    }
  }
}

function requestsFor(route: Route): Array<Record<string, unknown>> {
  if (route === 'shake') {
    let k = 0;
    const setupRequest = (req: AutocannonRequest) => {
      req.headers = { authorization: tokens[k++ % USERS] };
      return req;
    };
    return [{ method: 'POST', path: '/v1/shake', setupRequest }];
  }
  return [
    {
      method: 'POST',
      path: '/v1/open',
      setupRequest: (req: AutocannonRequest) => {
        const k = nextPair++;
        req.headers = { authorization: tokens[k % USERS], 'content-type': 'application/json' };
        req.body = `{"packetId":${firstPacket + Math.floor(k / USERS)}}`;
        return req;
      },
    },
  ];
}

interface Point {
  target: Target;
  route: Route;
  connections: number;
  repeat: number;
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
  serverCores: number;
  clientCores: number;
  /** server only: opens that paid (from /stats) per request sent */
  okShare?: number;
}
const points: Point[] = [];

async function measure(target: Target, route: Route, connections: number, repeat: number): Promise<void> {
  if (route === 'open') await ensurePairs(Math.max(60_000, 40_000 * DURATION));
  const before = target === 'server' ? (await admin<AdminStats>(hb, 'GET', '/stats')).cumulative : null;
  const sentBefore = nextPair;
  const meter = new CpuMeter();
  meter.begin([pids[target], process.pid]);
  const r = await autocannon({ url: urls[target], connections, pipelining: 1, duration: DURATION, requests: requestsFor(route) });
  const used = meter.end();
  if (target === 'server') await new Promise((r) => setTimeout(r, 1200)); // /stats sums whole seconds
  const after = target === 'server' ? (await admin<AdminStats>(hb, 'GET', '/stats')).cumulative : null;
  const p: Point = {
    target,
    route,
    connections,
    repeat,
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    non2xx: r.non2xx,
    errors: r.errors + r.timeouts,
    serverCores: round(used.get(pids[target]) ?? NaN, 2),
    clientCores: round(used.get(process.pid) ?? NaN, 2),
  };
  if (route === 'open' && before && after) p.okShare = round((after.opens - before.opens) / Math.max(1, nextPair - sentBefore), 3);
  points.push(p);
  note(
    `  ${target} ${route} c=${connections} r${repeat + 1}: ${Math.round(p.rps)} req/s, p50 ${p.p50} ms, p99 ${p.p99} ms, server ${p.serverCores} cores, autocannon ${p.clientCores} cores${p.okShare !== undefined ? `, paid opens ${round(p.okShare * 100, 1)}%` : ''}${p.non2xx + p.errors ? `, non-2xx ${p.non2xx}, errors ${p.errors}` : ''}`,
  );
}

try {
  for (const route of ['shake', 'open'] as Route[]) {
    for (const c of CONNS) {
      for (let rep = 0; rep < REPEATS; rep++) {
        const order: Target[] = rep % 2 ? ['server', 'bare'] : ['bare', 'server'];
        for (const t of order) await measure(t, route, c, rep);
      }
    }
  }
} finally {
  await bare.stop();
  await stopHongbao(hb);
}

const rows: Array<Record<string, unknown>> = [];
const summary: unknown[] = [];
for (const route of ['shake', 'open'] as Route[]) {
  for (const c of CONNS) {
    const sel = (t: Target) => points.filter((p) => p.target === t && p.route === route && p.connections === c);
    const ratios = sel('server').map((s) => s.rps / (sel('bare').find((b) => b.repeat === s.repeat)?.rps ?? NaN));
    const entry: Record<string, unknown> = { route, connections: c, ratio: median(ratios) };
    for (const t of ['bare', 'server'] as Target[]) {
      const m = (f: (p: Point) => number) => median(sel(t).map(f));
      const row = {
        rps: m((p) => p.rps),
        p50Ms: m((p) => p.p50),
        p99Ms: m((p) => p.p99),
        serverCores: m((p) => p.serverCores),
        clientCores: m((p) => p.clientCores),
        non2xx: sel(t).reduce((s, p) => s + p.non2xx + p.errors, 0),
        okShare: t === 'server' && route === 'open' ? m((p) => p.okShare ?? NaN) : undefined,
      };
      entry[t] = row;
      rows.push({
        route: `POST /v1/${route}`,
        connections: c,
        target: t === 'bare' ? 'bare uWS' : `hongbao (${ENGINE})`,
        'req/s': Math.round(row.rps),
        'p50 ms': row.p50Ms,
        'p99 ms': row.p99Ms,
        'server cores': row.serverCores,
        'autocannon cores': row.clientCores,
        'non-2xx+err': row.non2xx,
        ratio: t === 'server' ? round(median(ratios), 3) : '',
      });
    }
    summary.push(entry);
  }
}
printTable(
  `bench:http — autocannon, pipelining 1, ${DURATION} s per point, medians of ${REPEATS}; ratio = hongbao / bare per repeat; load now ${load().join(' ')}`,
  rows,
);
printJson({
  bench: 'http',
  machine,
  loadAtEnd: load(),
  settings: { connections: CONNS, duration: DURATION, repeats: REPEATS, threads: THREADS, engine: ENGINE, users: USERS },
  summary,
  points,
});
