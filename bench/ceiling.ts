// The WebSocket ceiling: a bare uWebSockets.js server with the same frame sizes (6-byte shake in,
// 15-byte result out; bench/lib/bare-server.ts) and then the real hongbao server, both driven by
// the project's own generator (`hongbao clients`, open loop over K processes) with the same
// settings, in one run. Against the real server a supply pays out 200 packets a second.
//   npm run bench:ceiling -- [flags]   (--help lists them with their defaults; --qps takes a list,
//        one step each; the generator's CPU per 1,000 shakes, coordinator and workers together,
//        is clientMsCpuPer1000 next to the server's)
// Table to stderr, one JSON line to stdout. Medians over repeats; the order of the two servers
// alternates between repeats so machine noise hits both alike.
import { parseOrExit, Flags } from '../src/cli/flags.ts';
import { defaultGenerator, type GeneratorKind } from '../src/simulator/generator.ts';
import { PushCollector } from '../src/monitor/push-collector.ts';
import { startHongbao, startSupply } from './lib/hongbao.ts';
import { load, machineInfo } from './lib/machine.ts';
import { runFaults, runStep, startGenerator, stopGenerator, type StepResult } from './lib/load.ts';
import { outDir } from './lib/procs.ts';
import { hongbaoTarget, startBare } from './lib/target.ts';
import { median, note, printJson, printTable, round } from './lib/report.ts';
import type { FinalTally } from '../src/simulator/tally.ts';

const a = parseOrExit(
  'bench:ceiling',
  new Flags('npm run bench:ceiling -- [flags]', 'The WebSocket ceiling: a bare uWS server and the real hongbao server under the same generator.')
    .ints('qps', 'offered shakes per second, one step each', { default: [60_000], min: 1 })
    .int('connections', 'WebSocket users', { default: 19_000, min: 1 })
    .int('client-procs', '`hongbao clients` processes', { default: 2, min: 1 })
    .int('threads', 'server threads', { default: 2, min: 1 })
    .string('engine', 'the server engine', { default: 'native', choices: ['native', 'ts'], value: 'native|ts' })
    .int('warmup', 'seconds before each measured window', { default: 5, min: 0, value: 'S' })
    .int('duration', 'seconds measured per step', { default: 20, min: 1, value: 'S' })
    .int('repeats', 'rounds of every server (medians reported)', { default: 3, min: 1 })
    .int('supply-rate', 'shake packets the supply pays a second (hongbao)', { default: 200, min: 0 })
    .string('compare-root', 'also the server of another checkout, e.g. before a change: an A/B in the same run', { value: 'DIR' })
    .string('server-node-args', 'node flags for the hongbao server, e.g. --server-node-args=--trace-gc (its log gets the output)', { value: 'FLAGS' })
    .int('client-nice', "nice value of the generator's processes, for bare and hongbao alike", { default: 10, min: -20, max: 19 })
    .string('generator', 'the generator of `hongbao clients` (default: $HONGBAO_GENERATOR, else native)', { choices: ['ts', 'native'], value: 'ts|native' })
    .int('users-per-worker', 'native generator: users per worker process', { default: 19_000, min: 1 })
    .int('worker-tick-us', 'native generator: --worker-tick-us', { default: 0, min: 0 }),
);
const GENERATOR = (a.generator as GeneratorKind | undefined) ?? defaultGenerator();
const USERS_PER_WORKER = a.usersPerWorker;
const WORKER_TICK_US = a.workerTickUs;
const QPS = a.qps;
const CONNECTIONS = a.connections;
const PROCS = a.clientProcs;
const THREADS = a.threads;
const ENGINE = a.engine;
const WARMUP = a.warmup;
const DURATION = a.duration;
const REPEATS = a.repeats;
const SUPPLY = a.supplyRate;
const CLIENT_NICE = a.clientNice;
const SERVER_NODE_ARGS = (a.serverNodeArgs ?? '').split(/\s+/).filter(Boolean);

type Kind = 'bare' | 'server' | 'compare';
const COMPARE = a.compareRoot;
const KINDS: Kind[] = COMPARE ? ['bare', 'server', 'compare'] : ['bare', 'server'];
const dir = outDir('ceiling');
const machine = machineInfo();
const collector = await PushCollector.start();

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
  const target =
    kind === 'bare'
      ? await startBare({ threads: THREADS, outDir: dir, label })
      : hongbaoTarget(
          await startHongbao({
            engine: ENGINE,
            threads: THREADS,
            monitorUrl: collector.url,
            outDir: dir,
            label,
            root: kind === 'compare' ? COMPARE : undefined,
            nodeArgs: SERVER_NODE_ARGS,
          }),
        );
  const pid = target.pid;
  try {
    if (target.hongbao) await startSupply(target.hongbao, SUPPLY, totalSeconds);
    const g = await startGenerator({
      wsUrl: target.wsUrl,
      connections: CONNECTIONS,
      processes: PROCS,
      secretFile: target.secretFile,
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
    await target.stop();
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
