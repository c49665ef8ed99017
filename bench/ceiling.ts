// The WebSocket ceiling: a bare uWebSockets.js server with the same frame sizes (6-byte shake in,
// 15-byte result out; bench/lib/bare-server.ts) and then the real hongbao server, both driven by
// the project's own generator (`hongbao clients`, open loop over K processes) with the same
// settings, in one run. Against the real server a supply pays out 200 packets a second.
//   npm run bench:ceiling -- [--qps 60000[,100000]] [--connections 19000] [--client-procs 2]
//        [--threads 2] [--engine native|ts] [--warmup 5] [--duration 20] [--repeats 3]
//        [--generator ts|native] [--users-per-worker 19000] [--worker-tick-us 0]   (the generator;
//        its CPU per 1,000 shakes, coordinator and workers together, is clientMsCpuPer1000 next to
//        the server's)
//        [--client-nice N]   (nice value of the generator's processes, for bare and hongbao alike)
//        [--server-node-args=--trace-gc]   (node flags for the hongbao server: its log gets the output)
//        [--compare-root DIR]   (also the server of another checkout, e.g. before a change: an A/B in the same run)
// Table to stderr, one JSON line to stdout. Medians over repeats; the order of the two servers
// alternates between repeats so machine noise hits both alike.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { PushCollector } from '../src/monitor/push-collector.ts';
import { startHongbao, startSupply, stopHongbao } from './lib/hongbao.ts';
import { load, machineInfo } from './lib/machine.ts';
import { runFaults, runStep, startGenerator, stopGenerator, type StepResult } from './lib/load.ts';
import { outDir, spawnReady } from './lib/procs.ts';
import { median, note, printJson, printTable, round } from './lib/report.ts';
import type { FinalTally } from '../src/simulator/tally.ts';

const { values: a } = parseArgs({
  options: {
    qps: { type: 'string', default: '60000' },
    connections: { type: 'string', default: '19000' },
    'client-procs': { type: 'string', default: '2' },
    threads: { type: 'string', default: '2' },
    engine: { type: 'string', default: 'native' },
    warmup: { type: 'string', default: '5' },
    duration: { type: 'string', default: '20' },
    repeats: { type: 'string', default: '3' },
    'supply-rate': { type: 'string', default: '200' },
    'compare-root': { type: 'string' },
    'server-node-args': { type: 'string', default: '' },
    'client-nice': { type: 'string', default: '10' },
    generator: { type: 'string', default: process.env.HONGBAO_GENERATOR ?? 'ts' },
    'users-per-worker': { type: 'string', default: '19000' },
    'worker-tick-us': { type: 'string', default: '0' },
  },
});
const GENERATOR = a.generator === 'native' ? 'native' : 'ts';
const USERS_PER_WORKER = Number(a['users-per-worker']);
const WORKER_TICK_US = Number(a['worker-tick-us']);
const QPS = String(a.qps).split(',').map(Number);
const CONNECTIONS = Number(a.connections);
const PROCS = Number(a['client-procs']);
const THREADS = Number(a.threads);
const ENGINE = a.engine === 'ts' ? 'ts' : 'native';
const WARMUP = Number(a.warmup);
const DURATION = Number(a.duration);
const REPEATS = Math.max(1, Number(a.repeats));
const SUPPLY = Number(a['supply-rate']);
const CLIENT_NICE = Number(a['client-nice']);
const SERVER_NODE_ARGS = a['server-node-args'].split(/\s+/).filter(Boolean);

type Kind = 'bare' | 'server' | 'compare';
const COMPARE = a['compare-root'];
const KINDS: Kind[] = COMPARE ? ['bare', 'server', 'compare'] : ['bare', 'server'];
const dir = outDir('ceiling');
const machine = machineInfo();
const collector = await PushCollector.start();
const secretFile = path.join(dir, 'bare-secret');
writeFileSync(secretFile, 'bare-server-ignores-tokens\n', { mode: 0o600 });

note(
  `bench:ceiling: ${CONNECTIONS} connections over ${PROCS} client processes (${GENERATOR} generator${GENERATOR === 'native' ? `, ${USERS_PER_WORKER} users per worker` : ''}), qps ${QPS.join(', ')}, ${THREADS} server threads, ${ENGINE} engine, ${WARMUP} s warm-up + ${DURATION} s measured, ${REPEATS} repeat(s), generator nice ${CLIENT_NICE}; load ${machine.loadAtStart.join(' ')}`,
);

interface Round {
  kind: Kind;
  repeat: number;
  connectSeconds: number;
  connected: number;
  steps: StepResult[];
  faults: Record<string, number>;
}
const rounds: Round[] = [];

async function runOne(kind: Kind, repeat: number): Promise<Round> {
  const label = `${kind}-r${repeat + 1}`;
  const totalSeconds = QPS.length * (WARMUP + DURATION + 6) + 120;
  let pid: number;
  let wsUrl: string;
  let secret = secretFile;
  let stopTarget: () => Promise<unknown>;
  if (kind === 'bare') {
    const child = await spawnReady('bare', path.join(import.meta.dirname, 'lib/bare-server.ts'), ['--threads', String(THREADS)], {
      logFile: path.join(dir, `${label}.log`),
    });
    pid = child.pid;
    wsUrl = `ws://127.0.0.1:${child.ready.port}/ws`;
    stopTarget = () => child.stop();
  } else {
    const h = await startHongbao({
      engine: ENGINE,
      threads: THREADS,
      monitorUrl: collector.url,
      outDir: dir,
      label,
      root: kind === 'compare' ? COMPARE : undefined,
      nodeArgs: SERVER_NODE_ARGS,
    });
    pid = h.pid;
    wsUrl = h.wsUrl;
    secret = h.secretFile;
    stopTarget = () => stopHongbao(h);
    await startSupply(h, SUPPLY, totalSeconds);
  }
  try {
    const g = await startGenerator({
      wsUrl,
      connections: CONNECTIONS,
      processes: PROCS,
      secretFile: secret,
      collector,
      logDir: dir,
      label,
      nice: CLIENT_NICE,
      generator: GENERATOR,
      usersPerWorker: USERS_PER_WORKER,
      workerTickUs: WORKER_TICK_US,
    });
    note(`  ${label}: ${g.connected} connected in ${g.connectSeconds.toFixed(1)} s`);
    const steps: StepResult[] = [];
    let tallies: FinalTally[] = [];
    try {
      for (const qps of QPS) {
        const s = await runStep(g, collector, { qps, warmupSeconds: WARMUP, durationSeconds: DURATION, pids: { server: pid }, hongbaoServer: kind !== 'bare' });
        note(
          `  ${label} @ ${qps}/s: answered ${s.answeredPerSecond.mean}/s (min ${s.answeredPerSecond.min}), p50 ${s.latency.p50Ms} ms, p99 ${s.latency.p99Ms} ms, server ${s.cpu.server} cores, clients ${s.clientCores} cores, load ${s.load.join(' ')}`,
        );
        note(`    per-second p99 ms: ${s.perSecond.p99Ms.join(' ')}`);
        if (s.perSecond.serverLoopDelayMs) note(`    server loop delay max ms: ${s.perSecond.serverLoopDelayMs.join(' ')}`);
        steps.push(s);
      }
    } finally {
      tallies = await stopGenerator(g);
    }
    return { kind, repeat, connectSeconds: g.connectSeconds, connected: g.connected, steps, faults: runFaults(tallies) };
  } finally {
    await stopTarget();
  }
}

for (let r = 0; r < REPEATS; r++) {
  const order: Kind[] = r % 2 ? [...KINDS].reverse() : KINDS;
  for (const kind of order) rounds.push(await runOne(kind, r));
}
collector.close();

const rows: Array<Record<string, unknown>> = [];
/** One qps's medians (printed as JSON); the fields named here are the ones the notes below read. */
interface SummaryEntry {
  qps: number;
  supply: { ratePerSecond: number; minHitsPerSecond: number; maxHitsPerSecond: number; secondsOutside: number; seconds: number; secondsWithoutPush: number };
  worstSendError: number;
  [field: string]: unknown;
}
const summary: SummaryEntry[] = [];
for (const [i, qps] of QPS.entries()) {
  const of = (kind: Kind) => rounds.filter((x) => x.kind === kind).map((x) => x.steps[i]);
  const med = (kind: Kind, f: (s: StepResult) => number) => median(of(kind).map(f));
  const bare = med('bare', (s) => s.answeredPerSecond.mean);
  const server = med('server', (s) => s.answeredPerSecond.mean);
  const ratioOf = (kind: Kind) =>
    rounds
      .filter((x) => x.kind === kind)
      .map((x) => x.steps[i].answeredPerSecond.mean / (rounds.find((y) => y.kind === 'bare' && y.repeat === x.repeat)?.steps[i].answeredPerSecond.mean ?? NaN));
  const ratios = ratioOf('server');
  const serverSteps = of('server');
  // seconds the server did not push in time (its main thread busy) are left out, and counted
  const allHits = serverSteps.flatMap((s) => s.serverHitsPerSecond ?? []);
  const hits = allHits.filter((h) => Number.isFinite(h));
  const cpuPerK = (kind: Kind) => med(kind, (s) => ((s.cpu.server * 1000) / s.answeredPerSecond.mean) * 1000);
  // the generator's CPU (every client process and native worker) per 1,000 shakes answered
  const clientCpuPerK = (kind: Kind) => med(kind, (s) => ((s.clientCores * 1000) / s.answeredPerSecond.mean) * 1000);
  const names: Record<Kind, string> = { bare: 'bare uWS', server: `hongbao (${ENGINE})`, compare: `hongbao (${ENGINE}) from ${COMPARE}` };
  for (const kind of KINDS) {
    rows.push({
      qps,
      target: names[kind],
      'answered/s': Math.round(med(kind, (s) => s.answeredPerSecond.mean)),
      'min/s': Math.round(med(kind, (s) => s.answeredPerSecond.min)),
      'p50 ms': med(kind, (s) => s.latency.p50Ms),
      'p99 ms': med(kind, (s) => s.latency.p99Ms),
      'server cores': round(
        med(kind, (s) => s.cpu.server),
        2,
      ),
      'ms CPU/1k': round(cpuPerK(kind), 1),
      'client cores': round(
        med(kind, (s) => s.clientCores),
        2,
      ),
      'client ms CPU/1k': round(clientCpuPerK(kind), 1),
      'send err %': round(
        med(kind, (s) => s.sendError * 100),
        2,
      ),
      ratio: kind === 'bare' ? '' : round(median(ratioOf(kind)), 3),
    });
  }
  summary.push({
    qps,
    bare: {
      answeredPerSecond: bare,
      p50Ms: med('bare', (s) => s.latency.p50Ms),
      p99Ms: med('bare', (s) => s.latency.p99Ms),
      serverCores: med('bare', (s) => s.cpu.server),
      clientCores: med('bare', (s) => s.clientCores),
      msCpuPer1000: cpuPerK('bare'),
      clientMsCpuPer1000: clientCpuPerK('bare'),
    },
    server: {
      answeredPerSecond: server,
      p50Ms: med('server', (s) => s.latency.p50Ms),
      p99Ms: med('server', (s) => s.latency.p99Ms),
      serverCores: med('server', (s) => s.cpu.server),
      clientCores: med('server', (s) => s.clientCores),
      msCpuPer1000: cpuPerK('server'),
      clientMsCpuPer1000: clientCpuPerK('server'),
    },
    ratio: median(ratios),
    ratios,
    ...(COMPARE
      ? {
          compare: {
            root: COMPARE,
            answeredPerSecond: med('compare', (s) => s.answeredPerSecond.mean),
            p50Ms: med('compare', (s) => s.latency.p50Ms),
            p99Ms: med('compare', (s) => s.latency.p99Ms),
            serverCores: med('compare', (s) => s.cpu.server),
            msCpuPer1000: cpuPerK('compare'),
            clientMsCpuPer1000: clientCpuPerK('compare'),
            ratio: median(ratioOf('compare')),
          },
        }
      : {}),
    supply: {
      ratePerSecond: SUPPLY,
      minHitsPerSecond: Math.min(...hits),
      maxHitsPerSecond: Math.max(...hits),
      secondsOutside: hits.filter((h) => h < SUPPLY * 0.98 || h > SUPPLY * 1.02).length,
      seconds: hits.length,
      secondsWithoutPush: allHits.length - hits.length,
    },
    worstSendError: Math.max(...[...of('bare'), ...serverSteps].map((s) => s.sendError)),
  });
}
printTable(
  `bench:ceiling — medians of ${REPEATS} repeat(s); answered/s = mean over the ${DURATION} s window; ratio = hongbao / bare per repeat; load now ${load().join(' ')}`,
  rows,
);
for (const s of summary) {
  note(
    `qps ${s.qps}: supply paid ${s.supply.minHitsPerSecond}..${s.supply.maxHitsPerSecond}/s (target ${SUPPLY}), ${s.supply.secondsOutside} of ${s.supply.seconds} seconds outside ±2% (${s.supply.secondsWithoutPush} seconds without a server push); worst per-second send error ${(s.worstSendError * 100).toFixed(2)}%`,
  );
}
for (const r of rounds) {
  const bad = Object.entries(r.faults).filter(([, v]) => v > 0);
  const windowBad = r.steps.map((s) => s.overloaded + s.unavailable + s.errors + s.dropped).reduce((x, y) => x + y, 0);
  note(
    `${r.kind} r${r.repeat + 1}: connect ${r.connectSeconds.toFixed(1)} s; ${bad.length ? bad.map(([k, v]) => `${k} ${v}`).join(', ') : 'no errors, losses or disconnects'}; overloaded/unavailable/errors/dropped in windows: ${windowBad}`,
  );
}
printJson({
  bench: 'ceiling',
  machine,
  loadAtEnd: load(),
  settings: {
    qps: QPS,
    connections: CONNECTIONS,
    clientProcesses: PROCS,
    threads: THREADS,
    engine: ENGINE,
    warmup: WARMUP,
    duration: DURATION,
    repeats: REPEATS,
    supplyRate: SUPPLY,
    clientNice: CLIENT_NICE,
    generator: GENERATOR,
    usersPerWorker: GENERATOR === 'native' ? USERS_PER_WORKER : null,
    workerTickUs: GENERATOR === 'native' ? WORKER_TICK_US : null,
    serverNodeArgs: SERVER_NODE_ARGS,
  },
  summary,
  rounds,
});
