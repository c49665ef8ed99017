// Durable group-packet opens through the server: the admin campaign creates packets of
// --recipients shares at (opens/s ÷ recipients) packets a second for users 1..--connections; the
// generator's users open each packet the moment they are notified over their WebSocket, and the
// server answers an open only after its group commit to SQLite (WAL, synchronous=FULL). Per step:
// opens/s committed (server counters), the open latency seen by the clients (send -> answer, so it
// includes the commit), ledger transactions per second and batches per transaction.
//   npm run bench:ledger -- [flags]   (--help lists them with their defaults)
// (bench/ledger.bench.ts measures the ledger writer alone: npm run bench:ledger-writer.)
// Table to stderr, one JSON line to stdout.
import { parseOrExit, Flags } from '../src/cli/flags.ts';
import { PushCollector } from '../src/monitor/push-collector.ts';
import type { CampaignStatus } from '../src/server/campaign.ts';
import type { LatencySummary } from '../src/simulator/histogram.ts';
import type { FinalTally } from '../src/simulator/tally.ts';
import { type AdminStats, admin, startHongbao, stopHongbao } from './lib/hongbao.ts';
import { runFaults, startGenerator, stopGenerator } from './lib/load.ts';
import { CpuMeter, load, machineInfo } from './lib/machine.ts';
import { outDir, sleep } from './lib/procs.ts';
import { median, note, printJson, printTable, round } from './lib/report.ts';

const a = parseOrExit(
  'bench:ledger',
  new Flags('npm run bench:ledger -- [flags]', 'Durable group-packet opens through the server, committed to SQLite before they are answered.')
    .ints('opens', 'offered opens per second, one step each', { default: [2000, 20_000, 40_000], min: 1 })
    .int('recipients', 'shares per packet', { default: 10, min: 1 })
    .int('connections', 'WebSocket users', { default: 10_000, min: 1 })
    .int('client-procs', '`hongbao clients` processes', { default: 2, min: 1 })
    .int('threads', 'server threads', { default: 2, min: 1 })
    .string('engine', 'the server engine', { default: 'native', choices: ['native', 'ts'], value: 'native|ts' })
    .int('warmup', 'seconds before each measured window', { default: 3, min: 0, value: 'S' })
    .int('duration', 'seconds measured per step', { default: 15, min: 1, value: 'S' })
    .int('repeats', 'rounds of every step', { default: 1, min: 1 }),
);
const OPENS = a.opens;
const K = a.recipients;
const CONNECTIONS = a.connections;
const PROCS = a.clientProcs;
const THREADS = a.threads;
const ENGINE = a.engine;
const WARMUP = a.warmup;
const DURATION = a.duration;
const REPEATS = a.repeats;
const dir = outDir('ledger');
const machine = machineInfo();
note(
  `bench:ledger: opens/s ${OPENS.join(', ')} as packets of ${K} shares for ${CONNECTIONS} connected users (${PROCS} client processes), ${THREADS} threads, ${ENGINE} engine, ${WARMUP} s warm-up + ${DURATION} s; load ${machine.loadAtStart.join(' ')}`,
);

interface Point {
  offered: number;
  repeat: number;
  opensPerSecond: { mean: number; median: number; min: number };
  createsPerSecond: number;
  openLatency: { p50Ms: number; p90Ms: number; p99Ms: number; p999Ms: number; maxMs: number; count: number };
  commitsPerSecond: number;
  batchesPerCommit: number;
  serverCores: number;
  clientCores: number;
  campaign: { created: number; refused: number };
  faults: Record<string, number>;
  load: number[];
}
const points: Point[] = [];
const collector = await PushCollector.start();

for (let rep = 0; rep < REPEATS; rep++) {
  for (const offered of rep % 2 ? [...OPENS].reverse() : OPENS) {
    const label = `opens${offered}-r${rep + 1}`;
    const h = await startHongbao({ engine: ENGINE, threads: THREADS, monitorUrl: collector.url, outDir: dir, label });
    try {
      const g = await startGenerator({ wsUrl: h.wsUrl, connections: CONNECTIONS, processes: PROCS, secretFile: h.secretFile, collector, logDir: dir, label });
      let tallies: FinalTally[] = [];
      let campaign: CampaignStatus | null;
      const rate = offered / K;
      const start = Math.floor(Date.now() / 1000) + 1;
      const from = start + WARMUP;
      const to = from + DURATION;
      const meter = new CpuMeter();
      let l0: AdminStats['ledger'];
      let l1: AdminStats['ledger'];
      let used = new Map<number, number>();
      try {
        await sleep(start * 1000 - Date.now());
        await admin(h, 'POST', '/admin/campaign', {
          count: Math.ceil(rate * (WARMUP + DURATION + 1)),
          ratePerSecond: rate,
          recipientsPerPacket: K,
          userFrom: 1,
          userTo: CONNECTIONS,
          rule: { kind: 'range', min: K, max: K * 200 },
        });
        await sleep(from * 1000 - Date.now());
        l0 = (await admin<AdminStats>(h, 'GET', '/stats')).ledger;
        meter.begin([h.pid, ...g.clients.map((c) => c.pid)]);
        await sleep(to * 1000 - Date.now());
        used = meter.end();
        l1 = (await admin<AdminStats>(h, 'GET', '/stats')).ledger;
        campaign = (await admin<{ campaign: CampaignStatus | null }>(h, 'DELETE', '/admin/campaign')).campaign;
        await sleep(2500);
      } finally {
        tallies = await stopGenerator(g);
      }
      const opens = collector.serverSeries(from, to, 'opens');
      const creates = collector.serverSeries(from, to, 'creates');
      // open latency over the whole step (the generator ran only for it), merged as the max of processes' percentiles
      if (campaign === null) throw new Error('the campaign was gone when the bench stopped it');
      const lat = (k: keyof LatencySummary) => (tallies.length === g.clients.length ? Math.max(...tallies.map((t) => Number(t.openLatency?.[k] ?? NaN))) : NaN);
      const p: Point = {
        offered,
        repeat: rep,
        opensPerSecond: { mean: round(opens.reduce((x, y) => x + y, 0) / opens.length), median: median(opens), min: Math.min(...opens) },
        createsPerSecond: round(creates.reduce((x, y) => x + y, 0) / creates.length),
        openLatency: {
          p50Ms: lat('p50Ms'),
          p90Ms: lat('p90Ms'),
          p99Ms: lat('p99Ms'),
          p999Ms: lat('p999Ms'),
          maxMs: lat('maxMs'),
          count: tallies.reduce((s, t) => s + Number(t.openLatency?.count ?? 0), 0),
        },
        commitsPerSecond: round((l1.commits - l0.commits) / DURATION),
        batchesPerCommit: round((l1.batches - l0.batches) / Math.max(1, l1.commits - l0.commits), 2),
        serverCores: round(used.get(h.pid) ?? NaN, 2),
        clientCores: round(
          g.clients.reduce((s, c) => s + (used.get(c.pid) ?? 0), 0),
          2,
        ),
        campaign: { created: campaign.created, refused: campaign.refused },
        faults: runFaults(tallies),
        load: load(),
      };
      points.push(p);
      note(
        `  ${label}: ${p.opensPerSecond.mean} opens/s (min ${p.opensPerSecond.min}), p50 ${p.openLatency.p50Ms} ms, p99 ${p.openLatency.p99Ms} ms, ${p.commitsPerSecond} commits/s × ${p.batchesPerCommit} batches, server ${p.serverCores} cores, clients ${p.clientCores}, load ${p.load.join(' ')}`,
      );
    } finally {
      await stopHongbao(h);
    }
  }
}
collector.close();

const rows = OPENS.map((offered) => {
  const ps = points.filter((p) => p.offered === offered);
  const m = (f: (p: Point) => number) => median(ps.map(f));
  return {
    'offered opens/s': offered,
    'opens/s': Math.round(m((p) => p.opensPerSecond.mean)),
    'min/s': Math.round(m((p) => p.opensPerSecond.min)),
    'creates/s': Math.round(m((p) => p.createsPerSecond)),
    'p50 ms': m((p) => p.openLatency.p50Ms),
    'p99 ms': m((p) => p.openLatency.p99Ms),
    'p99.9 ms': m((p) => p.openLatency.p999Ms),
    'commits/s': m((p) => p.commitsPerSecond),
    'batches/commit': m((p) => p.batchesPerCommit),
    'server cores': m((p) => p.serverCores),
    'client cores': m((p) => p.clientCores),
  };
});
printTable(
  `bench:ledger — durable opens through the server, packets of ${K} shares; medians of ${REPEATS}; open latency = client send -> answer (after the commit); load now ${load().join(' ')}`,
  rows,
);
for (const p of points) {
  const bad = Object.entries(p.faults).filter(([, v]) => v > 0);
  if (Number.isNaN(p.openLatency.p50Ms))
    note(`${p.offered}/s r${p.repeat + 1}: a client process did not hand in its tally in time (a lagging generator): no latency for this repeat`);
  note(
    `${p.offered}/s r${p.repeat + 1}: campaign created ${p.campaign.created}, refused ${p.campaign.refused}; ${bad.length ? bad.map(([k, v]) => `${k} ${v}`).join(', ') : 'no errors, losses or disconnects'}`,
  );
}
printJson({
  bench: 'ledger',
  machine,
  loadAtEnd: load(),
  settings: {
    opens: OPENS,
    recipients: K,
    connections: CONNECTIONS,
    clientProcesses: PROCS,
    threads: THREADS,
    engine: ENGINE,
    warmup: WARMUP,
    duration: DURATION,
    repeats: REPEATS,
  },
  rows,
  points,
});
