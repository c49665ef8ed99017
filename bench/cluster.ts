// Cluster mode against the single server, in one run (docs/cluster.md, docs/benchmarks.md):
// shakes and durable opens through one node on SQLite, and one, three and six access nodes on a
// Redis Cluster (3 masters + 3 replicas, AOF, WAIT 1 after every write). Per configuration:
//   idle     --users connected and nothing asked: CPU per node per second (timers, the lease clock,
//            expiry sweeps, monitor pushes), the fixed cost a 56-node million-user run pays 56 times;
//   shakes   --shake-qps offered by the native generator over --users users with a supply of
//            200/s running: shakes served per second, the nodes' CPU per 1,000 shakes (and the ratio
//            to the single server's), Redis calls per 1,000 shakes (a miss must cost none), p99;
//   opens    the admin campaign makes packets of --recipients shares at --open-qps / recipients a
//            second, every recipient opens on its notification: opens per second committed (Redis
//            with a replica, and the node's journal), open latency p50 / p99 as the clients saw it
//            (send to answer, the replica wait included), Redis calls per open.
// Beside them, the peer a team would pick instead, in the same run: a standalone Redis with a Lua
// grab script (HEXISTS + RPOP of a pre-split list + HSET) driven by redis-benchmark (50
// connections), with appendfsync always and everysec, and an empty-list RPOP (a shake miss).
//   npm run bench:cluster -- [--configs sqlite,1,3,6] [--users 12000] [--shake-qps 20000]
//        [--open-qps 20000] [--recipients 10] [--warmup 3] [--duration 10] [--idle 20]
// Table to stderr, one JSON line to stdout.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Flags } from '../src/cli/flags.ts';
import { redisBinaries } from '../src/cluster/redis-cluster.ts';
import { ChildSet } from '../src/process/child.ts';
import { httpJson } from '../src/process/http-json.ts';
import { type Service, startService } from '../src/rehearsal/service.ts';
import type { StatsDocument } from '../src/server/server.ts';
import type { FinalTally } from '../src/simulator/tally.ts';
import { PushCollector } from '../src/monitor/push-collector.ts';
import { runFaults, runStep, startGenerator, stopGenerator } from './lib/load.ts';
import { CpuMeter, load, machineInfo } from './lib/machine.ts';
import { outDir, sleep } from './lib/procs.ts';
import { note, printJson, printTable, round } from './lib/report.ts';

const flags = new Flags(
  'npm run bench:cluster -- [flags]',
  'Shakes and durable opens: one node on SQLite against N access nodes on a Redis Cluster, and the Redis + Lua peer.',
)
  .list('configs', 'sqlite, or a number of access nodes on a Redis Cluster', { default: ['sqlite', '1', '3', '6'], value: 'C[,C]' })
  .int('users', 'connected users (native generator)', { default: 12_000, min: 10 })
  .int('shake-qps', 'shakes offered per second', { default: 20_000, min: 1 })
  .int('open-qps', 'group shares offered per second (the campaign makes packets of --recipients)', { default: 20_000, min: 1 })
  .int('recipients', 'shares per group packet', { default: 10, min: 1 })
  .int('warmup', 'seconds before each measured window', { default: 3, min: 0 })
  .int('duration', 'seconds measured', { default: 10, min: 1 })
  .int('idle', 'seconds of the idle measurement (after --warmup), 0: none', { default: 20, min: 0 })
  .bool('skip-peer', 'do not measure the Redis + Lua peer');
const v = flags.parse(process.argv.slice(2));
if (v.help) {
  process.stdout.write(flags.help());
  process.exit(0);
}
const CONFIGS = v.configs;
for (const c of CONFIGS) if (c !== 'sqlite' && !/^\d+$/.test(c)) throw new Error(`--configs: "${c}" is neither sqlite nor a number of nodes`);
const USERS = v.users;
const SHAKE_QPS = v.shakeQps;
const OPEN_QPS = v.openQps;
const K = v.recipients;
const WARMUP = v.warmup;
const DURATION = v.duration;
const IDLE = v.idle;
const dir = outDir('cluster');
const machine = machineInfo();
note(
  `bench:cluster: ${CONFIGS.join(', ')}; ${USERS} users, shakes at ${SHAKE_QPS}/s, opens at ${OPEN_QPS}/s in packets of ${K}; ${WARMUP} s warm-up + ${DURATION} s; load ${machine.loadAtStart.join(' ')}`,
);

interface Point {
  config: string;
  store: 'sqlite' | 'redis-cluster';
  nodes: number;
  /** ms of CPU per node per second with the users connected and no load (null: not measured) */
  idleMsPerNodeSecond: number | null;
  shakes: {
    servedPerSecond: number;
    p99Ms: number;
    nodeCores: number;
    msCpuPer1000: number;
    /** every Redis call per 1,000 shakes, and without the hits' confirmations and the lease clock (what the misses cost) */
    redisCallsPer1000: number;
    missCallsPer1000: number;
    hitsPerSecond: number;
    redisCores: number;
  };
  opens: { perSecond: number; p50Ms: number; p99Ms: number; nodeCores: number; redisCallsPerOpen: number; redisCores: number };
  faults: Record<string, number>;
  load: number[];
}

const sum = (xs: number[]) => xs.reduce((x, y) => x + y, 0);

async function nodeStats(s: Service): Promise<StatsDocument[]> {
  const all = await s.stats();
  if (all.some((x) => x === null)) throw new Error('a node did not answer /stats');
  return all as StatsDocument[];
}

const counter = (stats: StatsDocument[], k: 'shakes' | 'opens') => sum(stats.map((s) => s.cumulative[k] ?? 0));
const redisCalls = (stats: StatsDocument[], without: string[] = []) =>
  sum(stats.map((s) => (s.cluster?.store.calls ?? 0) - sum(without.map((fn) => s.cluster?.store.byFn[fn] ?? 0))));
const hits = (stats: StatsDocument[]) => sum(stats.map((s) => s.cumulative.hits ?? 0));

async function measure(config: string): Promise<Point> {
  const nodes = config === 'sqlite' ? 1 : Number(config);
  const children = new ChildSet();
  const collector = await PushCollector.start();
  const service = await startService({
    nodes,
    cluster: config !== 'sqlite',
    threads: 1,
    monitorUrl: collector.url,
    serverArgs: ['--max-messages-per-second', '1000'],
    nodeArgs: [],
    outDir: dir,
    children,
    log: (m) => note(`  ${config}: ${m}`),
  });
  const secretFile = path.join(mkdtempSync(path.join(tmpdir(), 'hongbao-bench-secret-')), 'secret');
  writeFileSync(secretFile, `${service.secret}\n`, { mode: 0o600 });
  const adminCall = (method: string, route: string, body?: unknown) =>
    httpJson(`${service.adminUrl(0)}${route}`, { method, body, token: service.adminToken, timeoutMs: 30_000 });
  const generator = (phase: string) =>
    startGenerator({
      wsUrl: service.wsUrl,
      connections: USERS,
      processes: 1,
      secretFile,
      collector,
      logDir: dir,
      label: `${config}-${phase}`,
      generator: 'native',
    });
  try {
    const nodePids = () => service.pids().nodes;
    const redisPids = () => service.pids().redis;
    // ---- idle, then shakes, on the same connections
    const g = await generator('shakes');
    let tallies: FinalTally[] = [];
    let shakes: Point['shakes'];
    let idleMsPerNodeSecond: number | null = null;
    try {
      if (IDLE > 0) {
        await sleep(WARMUP * 1000);
        const meter = new CpuMeter();
        meter.begin(nodePids());
        await sleep(IDLE * 1000);
        const used = meter.end();
        idleMsPerNodeSecond = round((sum([...used.values()]) * 1000) / nodes, 2);
      }
      await adminCall('POST', '/admin/supply', { total: 200 * (WARMUP + DURATION + 30), ratePerSecond: 200, rule: { kind: 'range', min: 1, max: 500 } });
      const meter = new CpuMeter();
      const before = { stats: [] as StatsDocument[] };
      const step = await runStep(g, collector, {
        qps: SHAKE_QPS,
        warmupSeconds: WARMUP,
        durationSeconds: DURATION,
        pids: Object.fromEntries(nodePids().map((pid, i) => [`node${i + 1}`, pid])),
        hongbaoServer: false,
        during: async (seconds) => {
          before.stats = await nodeStats(service);
          meter.begin(redisPids());
          await sleep(seconds * 1000 - 200);
        },
      });
      const redisCores = sum([...meter.end().values()]);
      const after = await nodeStats(service);
      // deltas between the same two reads: their ratio holds whatever the interval
      const shaken = counter(after, 'shakes') - counter(before.stats, 'shakes');
      const notMisses = ['hb_sup_hit', 'hb_sup_lease'];
      const cores = sum(
        Object.entries(step.cpu)
          .filter(([k]) => k.startsWith('node'))
          .map(([, v]) => v),
      );
      shakes = {
        servedPerSecond: step.answeredPerSecond.mean,
        p99Ms: step.latency.p99Ms,
        nodeCores: round(cores, 3),
        msCpuPer1000: round((cores * 1e6) / step.answeredPerSecond.mean, 2),
        redisCallsPer1000: round(((redisCalls(after) - redisCalls(before.stats)) * 1000) / Math.max(1, shaken), 3),
        missCallsPer1000: round(((redisCalls(after, notMisses) - redisCalls(before.stats, notMisses)) * 1000) / Math.max(1, shaken), 3),
        hitsPerSecond: round(((hits(after) - hits(before.stats)) * step.answeredPerSecond.mean) / Math.max(1, shaken)),
        redisCores: round(redisCores, 3),
      };
    } finally {
      tallies = await stopGenerator(g);
    }
    // ---- opens
    const g2 = await generator('opens');
    let opens: Point['opens'];
    try {
      const rate = OPEN_QPS / K;
      const start = Math.floor(Date.now() / 1000) + 1;
      const from = start + WARMUP;
      const to = from + DURATION;
      await sleep(start * 1000 - Date.now());
      await adminCall('POST', '/admin/campaign', {
        count: Math.ceil(rate * (WARMUP + DURATION + 1)),
        ratePerSecond: rate,
        recipientsPerPacket: K,
        userFrom: 1,
        userTo: USERS,
        rule: { kind: 'range', min: K, max: K * 200 },
      });
      await sleep(from * 1000 - Date.now());
      const s0 = await nodeStats(service);
      const meter = new CpuMeter();
      meter.begin([...nodePids(), ...redisPids()]);
      await sleep(to * 1000 - Date.now());
      const used = meter.end();
      const s1 = await nodeStats(service);
      await adminCall('DELETE', '/admin/campaign');
      await sleep(2500);
      const tallies2 = await stopGenerator(g2);
      tallies = [...tallies, ...tallies2];
      const opened = counter(s1, 'opens') - counter(s0, 'opens');
      const lat = (k: 'p50Ms' | 'p99Ms') => Math.max(...tallies2.map((t) => Number(t.openLatency?.[k] ?? Number.NaN)));
      opens = {
        perSecond: round(opened / DURATION),
        p50Ms: lat('p50Ms'),
        p99Ms: lat('p99Ms'),
        nodeCores: round(sum(nodePids().map((p) => used.get(p) ?? 0)), 3),
        redisCallsPerOpen: round((redisCalls(s1) - redisCalls(s0)) / Math.max(1, opened), 3),
        redisCores: round(sum(redisPids().map((p) => used.get(p) ?? 0)), 3),
      };
    } catch (err) {
      await stopGenerator(g2).catch(() => undefined);
      throw err;
    }
    const p: Point = { config, store: service.store, nodes, idleMsPerNodeSecond, shakes, opens, faults: runFaults(tallies), load: load() };
    note(
      `  ${config}: idle ${p.idleMsPerNodeSecond ?? '-'} ms/s per node; shakes ${p.shakes.servedPerSecond}/s at ${p.shakes.msCpuPer1000} ms CPU per 1,000 (${p.shakes.redisCallsPer1000} Redis calls), p99 ${p.shakes.p99Ms} ms; ` +
        `opens ${p.opens.perSecond}/s, p50 ${p.opens.p50Ms} ms, p99 ${p.opens.p99Ms} ms, ${p.opens.redisCallsPerOpen} Redis calls each; load ${p.load.join(' ')}`,
    );
    return p;
  } finally {
    await service.stopNodes();
    await service.close();
    children.killAll();
    collector.close();
    rmSync(path.dirname(secretFile), { recursive: true, force: true });
  }
}

// ---- the peer: Redis and a Lua grab script, driven by redis-benchmark
const GRAB = `if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return -1 end
local share = redis.call('RPOP', KEYS[1]) if not share then return -2 end
redis.call('HSET', KEYS[2], ARGV[1], share) return share`;

function peer(fsync: 'always' | 'everysec'): { grabsPerSecond: number; grabP50Ms: number; missesPerSecond: number } {
  const bin = redisBinaries();
  const data = mkdtempSync(path.join(tmpdir(), 'hongbao-bench-redis-'));
  const port = 20000 + Math.floor(Math.random() * 20000);
  const server = spawnSync(bin.server, [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    data,
    '--daemonize',
    'yes',
    '--appendonly',
    'yes',
    '--appendfsync',
    fsync,
    '--save',
    '',
  ]);
  if (server.status !== 0) throw new Error(`redis-server did not start: ${server.stderr}`);
  const cli = (...args: string[]) => execFileSync(bin.cli, ['-p', String(port), ...args], { encoding: 'utf8' });
  try {
    for (let i = 0; i < 100 && cli('PING').trim() !== 'PONG'; i++) spawnSync('sleep', ['0.05']);
    const n = 200_000;
    cli('EVAL', `for i = 1, ${n} do redis.call('RPUSH', KEYS[1], 100 + i % 900) end return 1`, '1', 'hb:shares');
    const rps = (out: string) => Number(/([\d.]+) requests per second/.exec(out)?.[1] ?? Number.NaN);
    const grab = execFileSync(
      bin.cli.replace(/redis-cli$/, 'redis-benchmark'),
      ['-p', String(port), '-c', '50', '-n', String(n), '-r', '100000000', '-q', 'EVAL', GRAB, '2', 'hb:shares', 'hb:opened', '__rand_int__'],
      { encoding: 'utf8' },
    );
    const miss = execFileSync(bin.cli.replace(/redis-cli$/, 'redis-benchmark'), ['-p', String(port), '-c', '50', '-n', String(n), '-q', 'RPOP', 'hb:empty'], {
      encoding: 'utf8',
    });
    return { grabsPerSecond: round(rps(grab)), grabP50Ms: Number(/p50=([\d.]+)/.exec(grab)?.[1] ?? Number.NaN), missesPerSecond: round(rps(miss)) };
  } finally {
    spawnSync(bin.cli, ['-p', String(port), 'SHUTDOWN', 'NOSAVE']);
    rmSync(data, { recursive: true, force: true });
  }
}

const points: Point[] = [];
for (const c of CONFIGS) points.push(await measure(c));
const peers = !v.skipPeer ? { always: peer('always'), everysec: peer('everysec') } : null;
if (peers) {
  note(
    `  peer (Redis + Lua grab, redis-benchmark -c 50): ${peers.always.grabsPerSecond} grabs/s with appendfsync always, ${peers.everysec.grabsPerSecond} with everysec; empty-list RPOP ${peers.always.missesPerSecond}/s`,
  );
}
const single = points.find((p) => p.config === 'sqlite');
printTable(
  'bench:cluster',
  points.map((p) => ({
    config: p.config === 'sqlite' ? '1 node, SQLite' : `${p.nodes} node(s), Redis Cluster`,
    'idle ms/s per node': p.idleMsPerNodeSecond ?? '-',
    'shakes/s': p.shakes.servedPerSecond,
    'ms CPU / 1000 shakes': p.shakes.msCpuPer1000,
    'x single': single ? round(p.shakes.msCpuPer1000 / single.shakes.msCpuPer1000, 2) : '-',
    'Redis calls / 1000 shakes (misses only)': `${p.shakes.redisCallsPer1000} (${p.shakes.missCallsPer1000})`,
    'shake p99 ms': p.shakes.p99Ms,
    'opens/s': p.opens.perSecond,
    'open p50 / p99 ms': `${p.opens.p50Ms} / ${p.opens.p99Ms}`,
    'Redis calls / open': p.opens.redisCallsPerOpen,
  })),
);
printJson({ bench: 'cluster', machine, users: USERS, shakeQps: SHAKE_QPS, openQps: OPEN_QPS, recipients: K, points, peers });
