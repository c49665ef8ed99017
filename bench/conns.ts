// Connections one server process holds here (open files are capped at 20,000 per process): the
// real server, one access node of a Redis Cluster (`node`, as the million-user preset starts its
// 56), and a bare uWS server for comparison, each filled with as many WebSocket users as
// its free descriptors allow, idle and then at a given QPS. Reports server RSS per connection
// (idle and active), the generator's RSS per connection (its `hongbao clients` processes and their
// native workers, from /proc), and the time to connect them all (and the connects per second).
//   npm run bench:conns -- [flags]   (--help lists them with their defaults)
// Table to stderr, one JSON line to stdout.
import { readdirSync } from 'node:fs';
import { parseOrExit, Flags } from '../src/cli/flags.ts';
import { defaultGenerator, type GeneratorKind } from '../src/simulator/generator.ts';
import { PushCollector } from '../src/monitor/push-collector.ts';
import { startHongbao, startSupply } from './lib/hongbao.ts';
import { generatorPids, mergeGenerators, runFaults, runStep, startGenerator, stopGenerator, type Generator, type StepResult } from './lib/load.ts';
import { load, machineInfo, rssBytes } from './lib/machine.ts';
import { outDir, sleep } from './lib/procs.ts';
import { hongbaoTarget, startBare, startClusterNode, type Target } from './lib/target.ts';
import { median, note, printJson, printTable, round } from './lib/report.ts';
import type { FinalTally } from '../src/simulator/tally.ts';

const a = parseOrExit(
  'bench:conns',
  new Flags('npm run bench:conns -- [flags]', 'Connections one server process holds, idle and at a QPS: the real server and a bare uWS server.')
    .intOr('connections', 'WebSocket users (auto: as many as the free descriptors allow)', 'auto', { default: 'auto', min: 1 })
    .int('client-procs', '`hongbao clients` processes', { default: 2, min: 1 })
    .int('qps', 'shakes per second once all are connected', { default: 20_000, min: 0 })
    .int('duration', 'seconds at that rate', { default: 15, min: 1, value: 'S' })
    .int('threads', 'server threads', { default: 2, min: 1 })
    .string('engine', 'the server engine', { default: 'native', choices: ['native', 'ts'], value: 'native|ts' })
    .list('targets', 'which servers, in order: bare uWS, the single server, a cluster access node', { default: ['bare', 'server'], value: 'bare,server,node' })
    .int('repeats', 'rounds of every target', { default: 1, min: 1 })
    .int('fd-limit', 'open files per process here', { default: 20_000, min: 100 })
    .string('generator', 'the generator of `hongbao clients` (default: $HONGBAO_GENERATOR, else native)', { choices: ['ts', 'native'], value: 'ts|native' })
    .int('users-per-worker', 'native generator: users per worker process', { default: 19_000, min: 1 })
    .list('server-args', 'more `hongbao server` flags for the server and node targets (e.g. --private-fds)', { value: 'FLAG[,...]' }),
);
const GENERATOR = (a.generator as GeneratorKind | undefined) ?? defaultGenerator();
const USERS_PER_WORKER = a.usersPerWorker;
const PROCS = a.clientProcs;
const QPS = a.qps;
const DURATION = a.duration;
const THREADS = a.threads;
const ENGINE = a.engine;
const TARGET_NAMES = { bare: 'bare uWS', server: `hongbao (${ENGINE})`, node: 'cluster node' };
type TargetName = keyof typeof TARGET_NAMES;
for (const t of a.targets) if (!(t in TARGET_NAMES)) throw new Error(`--targets: ${Object.keys(TARGET_NAMES).join(', ')}; got "${t}"`);
const TARGETS = a.targets as TargetName[];
const REPEATS = a.repeats;
const FD_LIMIT = a.fdLimit;
const dir = outDir('conns');
const machine = machineInfo();
const collector = await PushCollector.start();
note(
  `bench:conns: connections ${a.connections} (open-file cap ${FD_LIMIT}), ${PROCS} client processes (${GENERATOR} generator), then ${QPS}/s for ${DURATION} s; ${THREADS} threads, ${ENGINE} engine; load ${machine.loadAtStart.join(' ')}`,
);

/** The largest descriptor table of the process's threads (with --private-fds the server thread's
 *  own table holds the sockets, and /proc/PID/fd lists only the main thread's). */
const fdsOf = (pid: number) => Math.max(...readdirSync(`/proc/${pid}/task`).map((tid) => readdirSync(`/proc/${pid}/task/${tid}/fd`).length));
/** The lowest of several samples a second apart (the heap between collections inflates the others). */
async function steadyRss(pid: number, samples = 5): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < samples; i++) {
    xs.push(rssBytes(pid));
    await sleep(1000);
  }
  return Math.min(...xs);
}
const SETTLE_MS = 15_000;
const rssOf = (pids: number[]) => pids.reduce((sum, pid) => sum + rssBytes(pid), 0);
/** The generator's RSS: its client processes and, for the native one, its workers (and them alone). */
function generatorRss(g: Generator): { total: number; workers: number } {
  return { total: rssOf(generatorPids(g)), workers: rssOf(g.workerPids) };
}

interface Result {
  target: string;
  repeat: number;
  connections: number;
  connectSeconds: number;
  fdsBefore: number;
  emptyRss: number;
  baseRss: number;
  idleRss: number;
  activeRss: number;
  clientRss: number;
  /** native: the workers' share of clientRss */
  workerRss: number;
  idleBytesPerConn: number;
  activeBytesPerConn: number;
  /** the generator's idle RSS (coordinators and workers) per connection */
  clientBytesPerConn: number;
  /** native: the workers' idle RSS per connection (the coordinator's cost is per process, not per user) */
  workerBytesPerConn: number;
  /** logins per second while the second half connected (its own generator start to all logged in) */
  connectsPerSecond: number;
  step: StepResult;
  faults: Record<string, number>;
}
const results: Result[] = [];

async function startTarget(target: TargetName, label: string): Promise<Target> {
  if (target === 'bare') return startBare({ threads: THREADS, outDir: dir, label });
  if (target === 'node') return startClusterNode({ outDir: dir, label, monitorUrl: collector.url, serverArgs: a.serverArgs });
  return hongbaoTarget(await startHongbao({ engine: ENGINE, threads: THREADS, monitorUrl: collector.url, outDir: dir, label, args: a.serverArgs }));
}

for (let rep = 0; rep < REPEATS; rep++) {
  for (const target of rep % 2 ? [...TARGETS].reverse() : TARGETS) {
    const label = `${target}-r${rep + 1}`;
    const server = await startTarget(target, label);
    const { pid, wsUrl, secretFile: secret } = server;
    try {
      if (server.hongbao) await startSupply(server.hongbao, 200, DURATION + 600);
      await sleep(SETTLE_MS); // start-up garbage (the TypeScript loader) is collected and returned first
      const fdsBefore = fdsOf(pid);
      const emptyRss = await steadyRss(pid);
      const n = a.connections === 'auto' ? FD_LIMIT - fdsBefore - 40 : a.connections;
      // RSS at half and at all connections: the difference over the second half is the cost per
      // connection (a baseline before any connection would include start-up garbage freed later).
      const half = Math.floor(n / 2);
      const g1 = await startGenerator({
        wsUrl,
        connections: half,
        processes: Math.max(1, Math.floor(PROCS / 2)),
        total: n,
        secretFile: secret,
        collector,
        logDir: dir,
        label: `${label}-a`,
        connectTimeoutSeconds: 180,
        generator: GENERATOR,
        usersPerWorker: USERS_PER_WORKER,
      });
      await sleep(SETTLE_MS);
      const baseRss = await steadyRss(pid);
      const g2 = await startGenerator({
        wsUrl,
        connections: n - half,
        processes: Math.max(1, PROCS - Math.floor(PROCS / 2)),
        firstUser: half + 1,
        total: n,
        secretFile: secret,
        collector,
        logDir: dir,
        label: `${label}-b`,
        connectTimeoutSeconds: 180,
        generator: GENERATOR,
        usersPerWorker: USERS_PER_WORKER,
      });
      const g = mergeGenerators(g1, g2);
      note(
        `  ${label}: ${g.connected} of ${n} connected (${g1.connected} in ${g1.connectSeconds.toFixed(1)} s, then ${g2.connected} in ${g2.connectSeconds.toFixed(1)} s; the server had ${fdsBefore} descriptors open before)`,
      );
      let step: StepResult | null = null;
      let activeRss = NaN;
      let idleRss = NaN;
      let clientRss = NaN;
      let workerRss = NaN;
      let tallies: FinalTally[] = [];
      try {
        await sleep(SETTLE_MS);
        idleRss = await steadyRss(pid);
        ({ total: clientRss, workers: workerRss } = generatorRss(g));
        step = await runStep(g, collector, {
          qps: QPS,
          warmupSeconds: 3,
          durationSeconds: DURATION,
          pids: { server: pid },
          hongbaoServer: target !== 'bare',
          during: async (s) => {
            await sleep(s * 1000 - 5500);
            activeRss = await steadyRss(pid);
          },
        });
      } finally {
        tallies = await stopGenerator(g);
      }
      const per = (x: number) => round((x - baseRss) / g2.connected, 0);
      if (step === null) throw new Error(`${label}: the load step did not run`);
      const r: Result = {
        target: TARGET_NAMES[target],
        repeat: rep,
        connections: g.connected,
        connectSeconds: round(g1.connectSeconds + g2.connectSeconds, 2),
        fdsBefore,
        emptyRss,
        baseRss,
        idleRss,
        activeRss,
        clientRss,
        workerRss,
        idleBytesPerConn: per(idleRss),
        activeBytesPerConn: per(activeRss),
        clientBytesPerConn: round(clientRss / g.connected, 0),
        workerBytesPerConn: round(workerRss / g.connected, 0),
        connectsPerSecond: round(g2.connected / g2.connectSeconds, 0),
        step,
        faults: runFaults(tallies),
      };
      results.push(r);
      note(
        `  ${label}: idle ${r.idleBytesPerConn} B/conn, at ${QPS}/s ${r.activeBytesPerConn} B/conn (answered ${r.step.answeredPerSecond.mean}/s, p99 ${r.step.latency.p99Ms} ms), clients ${r.clientBytesPerConn} B/conn (workers ${r.workerBytesPerConn}), ${r.connectsPerSecond} connects/s`,
      );
    } finally {
      await server.stop();
    }
  }
}
collector.close();

const MiB = (x: number) => round(x / 2 ** 20, 1);
const rows = [...new Set(results.map((r) => r.target))].map((t) => {
  const rs = results.filter((r) => r.target === t);
  const m = (f: (r: Result) => number) => median(rs.map(f));
  return {
    target: t,
    connections: m((r) => r.connections),
    'connect s': m((r) => r.connectSeconds),
    'empty MiB': MiB(m((r) => r.emptyRss)),
    'half MiB': MiB(m((r) => r.baseRss)),
    'idle MiB': MiB(m((r) => r.idleRss)),
    'idle B/conn': m((r) => r.idleBytesPerConn),
    [`at ${QPS}/s MiB`]: MiB(m((r) => r.activeRss)),
    'active B/conn': m((r) => r.activeBytesPerConn),
    'answered/s': Math.round(m((r) => r.step.answeredPerSecond.mean)),
    'p99 ms': m((r) => r.step.latency.p99Ms),
    'client B/conn': m((r) => r.clientBytesPerConn),
    'worker B/conn': m((r) => r.workerBytesPerConn),
    'connects/s': m((r) => r.connectsPerSecond),
  };
});
printTable(
  `bench:conns — per connection = (RSS with all - RSS with half the connections) / the second half; RSS = lowest of 5 samples 1 s apart, after 15 s settling; medians of ${REPEATS}; load now ${load().join(' ')}`,
  rows,
);
for (const r of results) {
  const bad = Object.entries(r.faults).filter(([, v]) => v > 0);
  note(`${r.target} r${r.repeat + 1}: ${bad.length ? bad.map(([k, v]) => `${k} ${v}`).join(', ') : 'no errors, losses or disconnects'}`);
}
printJson({
  bench: 'conns',
  machine,
  loadAtEnd: load(),
  settings: {
    connections: a.connections,
    clientProcesses: PROCS,
    qps: QPS,
    duration: DURATION,
    threads: THREADS,
    engine: ENGINE,
    fdLimit: FD_LIMIT,
    generator: GENERATOR,
    usersPerWorker: GENERATOR === 'native' ? USERS_PER_WORKER : null,
    repeats: REPEATS,
  },
  rows,
  results,
});
