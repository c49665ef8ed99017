// The WebSocket load of the benches: the project's own generator (`hongbao clients`, open loop,
// coordinated over K processes; --generator ts or native, whose workers are counted with their
// coordinator) against a target, connected once, then one or more QPS steps, each a warm-up and a
// measured window of full seconds. Per-second numbers come from the pushes of the clients (and of
// the server, when it is a hongbao server) to a PushCollector; CPU and RSS from /proc.
import { readdirSync } from 'node:fs';
import { setPriority } from 'node:os';
import path from 'node:path';
import { summarize } from '../../src/simulator/histogram.ts';
import { defaultGenerator, type GeneratorKind } from '../../src/simulator/generator.ts';
import type { CounterName, FinalTally } from '../../src/simulator/tally.ts';
import type { PushCollector } from '../../src/monitor/push-collector.ts';
import { CpuMeter, load } from './machine.ts';
import { median, round } from './report.ts';
import { CLI, getJson, sleep, spawnReady, type Child } from './procs.ts';

export type { GeneratorKind };

export interface Generator {
  kind: GeneratorKind;
  clients: Child[];
  /** the native workers of every client process (none for ts) */
  workerPids: number[];
  controls: string[];
  connected: number;
  /** from the moment every client process was up (they start connecting then) to all logged in */
  connectSeconds: number;
}

export interface GeneratorOptions {
  wsUrl: string;
  connections: number;
  processes: number;
  secretFile: string;
  collector: PushCollector;
  logDir: string;
  label: string;
  connectConcurrency?: number;
  connectTimeoutSeconds?: number;
  /** simulate users firstUser .. firstUser + connections - 1 of `total` (default: 1.., total = connections) */
  firstUser?: number;
  total?: number;
  /** nice value of the client processes (0: as the bench) — lets the server have a core first */
  nice?: number;
  /** which generator `hongbao clients` runs (default: theirs — $HONGBAO_GENERATOR, else native) */
  generator?: GeneratorKind;
  /** native: users per worker process */
  usersPerWorker?: number;
  /** native: --worker-tick-us */
  workerTickUs?: number;
}

/** Every pid of the generator: the `hongbao clients` processes and their native workers. */
export function generatorPids(g: Generator): number[] {
  return [...g.clients.map((c) => c.pid), ...g.workerPids];
}

/** Starts K client processes with disjoint user ranges at qps 0 and waits until all are connected. */
export async function startGenerator(o: GeneratorOptions): Promise<Generator> {
  const k = Math.max(1, o.processes);
  const per = Math.ceil(o.connections / k);
  const first = o.firstUser ?? 1;
  const started = performance.now();
  const clients = await Promise.all(
    Array.from({ length: k }, (_, i) => {
      const from = first + i * per;
      const to = first + Math.min(o.connections, (i + 1) * per) - 1;
      return spawnReady(
        `clients-${from}`,
        CLI,
        [
          'clients',
          '--server',
          o.wsUrl,
          '--users',
          `${from}-${to}`,
          '--total',
          String(o.total ?? o.connections),
          '--qps',
          '0',
          '--secret-file',
          o.secretFile,
          '--monitor',
          o.collector.url,
          '--id',
          `${o.label}-c${from}`,
          '--quiet',
          '--connect-concurrency',
          String(o.connectConcurrency ?? 256),
          ...(o.generator ? ['--generator', o.generator] : []),
          ...(o.usersPerWorker ? ['--users-per-worker', String(o.usersPerWorker)] : []),
          ...(o.workerTickUs ? ['--worker-tick-us', String(o.workerTickUs)] : []),
        ],
        { logFile: path.join(o.logDir, `${o.label}-clients-${from}.log`) },
      );
    }),
  );
  const workerPids = clients.flatMap((c) => (c.ready.workerPids ?? []) as number[]);
  if (o.nice) for (const pid of [...clients.map((c) => c.pid), ...workerPids]) renice(pid, o.nice);
  const controls = clients.map((c) => `http://127.0.0.1:${c.ready.controlPort}`);
  const up = performance.now();
  const deadline = started + (o.connectTimeoutSeconds ?? 120) * 1000;
  let connected = 0;
  while (performance.now() < deadline) {
    const stats = await Promise.all(controls.map((u) => getJson<{ connected: number }>(`${u}/stats`)));
    connected = stats.reduce((s, x) => s + x.connected, 0);
    if (connected >= o.connections) break;
    await sleep(100);
  }
  const kind = o.generator ?? defaultGenerator();
  return { kind, clients, workerPids, controls, connected, connectSeconds: (performance.now() - up) / 1000 };
}

/** setpriority() applies to one thread: set every thread of the process (threads started later
 *  inherit from their creator). */
function renice(pid: number, nice: number): void {
  for (const tid of readdirSync(`/proc/${pid}/task`)) setPriority(Number(tid), nice);
}

/** Two generators (disjoint users of one --total) driven as one. */
export function mergeGenerators(a: Generator, b: Generator): Generator {
  return {
    kind: a.kind,
    clients: [...a.clients, ...b.clients],
    workerPids: [...a.workerPids, ...b.workerPids],
    controls: [...a.controls, ...b.controls],
    connected: a.connected + b.connected,
    connectSeconds: a.connectSeconds + b.connectSeconds,
  };
}

/** Final tallies (POST /stop) of every client process; they exit afterwards. */
export async function stopGenerator(g: Generator): Promise<FinalTally[]> {
  const tallies = await Promise.all(
    g.controls.map((u) => getJson<FinalTally>(`${u}/stop?drainMs=3000`, { method: 'POST', timeoutMs: 120_000 }).catch(() => null)),
  );
  await Promise.all(g.clients.map((c) => Promise.race([c.exited, sleep(10_000).then(() => c.stop('SIGKILL'))])));
  return tallies.filter((t): t is FinalTally => t !== null);
}

export interface StepOptions {
  qps: number;
  warmupSeconds: number;
  durationSeconds: number;
  /** pids whose CPU is reported, by name (the target server; the clients are added) */
  pids: Record<string, number>;
  /** also read hits/released from the server's pushes */
  hongbaoServer: boolean;
  /** started when the measured window begins (a profiler), awaited after it ends */
  during?: (seconds: number) => Promise<unknown>;
}

export interface StepResult {
  qps: number;
  window: { from: number; to: number };
  load: number[];
  /** client-side per-second sums over the window */
  sentPerSecond: { median: number; min: number; max: number };
  answeredPerSecond: { median: number; min: number; max: number; mean: number };
  /** worst |sent - qps| / qps over the window's seconds */
  sendError: number;
  latency: { p50Ms: number; p90Ms: number; p99Ms: number; p999Ms: number; maxMs: number; count: number };
  /** answered Overloaded / Unavailable / Error, and due shakes not sent, in the window */
  overloaded: number;
  unavailable: number;
  errors: number;
  dropped: number;
  /** seconds in which fewer than all client processes pushed (a stalled generator) */
  missingPushes: number;
  hitsPerSecond: number[] | null;
  serverHitsPerSecond: number[] | null;
  /** each second of the window: answers, the clients' merged p99, and the server's longest
   *  event-loop delay (a hongbao server's pushes; NaN where none came) */
  perSecond: { answered: number[]; p99Ms: number[]; serverLoopDelayMs: number[] | null };
  cpu: Record<string, number>;
  /** the whole generator: client processes and their native workers */
  clientCores: number;
}

/** One QPS step: all processes switch in the same second, warm up, then measure full seconds. */
export async function runStep(g: Generator, c: PushCollector, o: StepOptions): Promise<StepResult> {
  const at = Math.floor(Date.now() / 1000) + 2;
  await Promise.all(g.controls.map((u) => getJson(`${u}/qps?qps=${o.qps}&at=${at}`)));
  const from = at + o.warmupSeconds;
  const to = from + o.durationSeconds;
  await sleep(from * 1000 - Date.now());
  const meter = new CpuMeter();
  const clientPids: Record<string, number> = Object.fromEntries([
    ...g.clients.map((ch, i): [string, number] => [`client${i + 1}`, ch.pid]),
    ...g.workerPids.map((pid, i): [string, number] => [`worker${i + 1}`, pid]),
  ]);
  const names = { ...o.pids, ...clientPids };
  meter.begin(Object.values(names));
  const side = o.during?.(o.durationSeconds);
  await sleep(to * 1000 - Date.now());
  const used = meter.end();
  await side;
  const loadNow = load();
  // The pushes of the window's last second: a lagging generator pushes late, so wait for them.
  for (let waited = 0; waited < 30_000 && c.clientsIn(to - 1) < g.clients.length; waited += 250) await sleep(250);
  await sleep(1500); // and the server's
  const cpu: Record<string, number> = {};
  for (const [name, pid] of Object.entries(names)) cpu[name] = round(used.get(pid) ?? NaN, 2);
  const clientCores = round(
    Object.keys(clientPids).reduce((s, n) => s + (cpu[n] || 0), 0),
    2,
  );

  const sent = c.clientSeries(from, to, 'sent');
  const answered = c.clientSeries(from, to, (x) => Number(x.hits) + Number(x.misses) + Number(x.overloaded) + Number(x.unavailable ?? 0) + Number(x.errors));
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const lat = summarize(c.latency(from, to));
  let missing = 0;
  for (let s = from; s < to; s++) if (c.clientsIn(s) < g.clients.length) missing++;
  return {
    qps: o.qps,
    window: { from, to },
    load: loadNow,
    sentPerSecond: { median: median(sent), min: Math.min(...sent), max: Math.max(...sent) },
    answeredPerSecond: { median: median(answered), min: Math.min(...answered), max: Math.max(...answered), mean: round(sum(answered) / answered.length) },
    sendError: o.qps > 0 ? round(Math.max(...sent.map((x) => Math.abs(x - o.qps) / o.qps)), 4) : 0,
    latency: { p50Ms: lat.p50Ms, p90Ms: lat.p90Ms, p99Ms: lat.p99Ms, p999Ms: lat.p999Ms, maxMs: lat.maxMs, count: lat.count },
    overloaded: sum(c.clientSeries(from, to, 'overloaded')),
    unavailable: sum(c.clientSeries(from, to, 'unavailable')),
    errors: sum(c.clientSeries(from, to, 'errors')),
    dropped: sum(c.clientSeries(from, to, 'dropped')),
    missingPushes: missing,
    hitsPerSecond: o.hongbaoServer ? c.clientSeries(from, to, 'hits') : null,
    serverHitsPerSecond: o.hongbaoServer ? c.serverSeries(from, to, 'hits') : null,
    perSecond: {
      answered,
      p99Ms: Array.from({ length: to - from }, (_, i) => summarize(c.latency(from + i, from + i + 1)).p99Ms),
      serverLoopDelayMs: o.hongbaoServer ? c.serverSeries(from, to, 'loopDelayMs') : null,
    },
    cpu,
    clientCores,
  };
}

/** Counters over a generator's whole run that must stay zero for a clean run. */
const FAULTS = ['errors', 'lost', 'disconnects', 'connectFailures', 'unmatched', 'unavailable'] as const satisfies readonly CounterName[];

export function runFaults(tallies: FinalTally[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of FAULTS) out[k] = 0;
  for (const t of tallies) for (const k of FAULTS) out[k] += Number(t.counters?.[k] ?? 0);
  return out;
}
