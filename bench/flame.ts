// Flamegraphs of the server under the same WebSocket load with the native and with the TS engine:
// `perf record -e cpu-clock -g` on the server process, node with --perf-basic-prof (JS frames get
// names) and the addon built with the release-with-debug profile (Rust frames get names). SVGs and
// folded stacks go to bench-out/flame/ (not committed). For each engine two steps at the same QPS:
// one measured without the profiler (throughput, CPU per 1,000 shakes), one profiled (shares).
//   npm run bench:flame -- [flags]   (--help lists them with their defaults)
// A config is ENGINE[:THREADS] (ts always runs one thread) or bare[:THREADS], the bare uWS server of
// bench:ceiling under the same load, to see what the real server adds. Table to stderr, one JSON line to stdout.
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseOrExit, Flags } from '../src/cli/flags.ts';
import { PushCollector } from '../src/monitor/push-collector.ts';
import { flameRenderer, fold, latestWinsPerfMap, parsePerfScript, renderSvg, shares, type Frame } from './lib/flamegraph.ts';
import { startHongbao, startSupply } from './lib/hongbao.ts';
import { runFaults, runStep, startGenerator, stopGenerator, type StepResult } from './lib/load.ts';
import { load, machineInfo } from './lib/machine.ts';
import { outDir, ROOT } from './lib/procs.ts';
import { hongbaoTarget, startBare } from './lib/target.ts';
import { median, note, printJson, printTable, round } from './lib/report.ts';
import type { FinalTally } from '../src/simulator/tally.ts';

const a = parseOrExit(
  'bench:flame',
  new Flags('npm run bench:flame -- [flags]', 'Flamegraphs of the server under the same WebSocket load, per engine (perf record -g).')
    .int('qps', 'offered shakes per second', { default: 30_000, min: 1 })
    .int('connections', 'WebSocket users', { default: 19_000, min: 1 })
    .int('client-procs', '`hongbao clients` processes', { default: 2, min: 1 })
    .list('configs', 'ENGINE[:THREADS] (ts always runs one thread) or bare[:THREADS]', { default: ['native', 'native:1', 'ts', 'bare'], value: 'C[,C...]' })
    .int('warmup', 'seconds before each measured window', { default: 5, min: 0, value: 'S' })
    .int('duration', 'seconds measured, and profiled', { default: 15, min: 1, value: 'S' })
    .int('repeats', 'rounds of every config', { default: 1, min: 1 })
    .int('frequency', 'perf sampling frequency (Hz)', { default: 499, min: 1 }),
);
const QPS = a.qps;
const CONNECTIONS = a.connections;
const PROCS = a.clientProcs;
const WARMUP = a.warmup;
const DURATION = a.duration;
const REPEATS = a.repeats;
const FREQ = a.frequency;
const CONFIGS = a.configs.map((c) => {
  const m = /^(native|ts|bare)(?::(\d+))?$/.exec(c);
  if (!m) throw new Error(`--configs: ENGINE[:THREADS] with ENGINE native, ts or bare, got "${c}"`);
  const kind = m[1] as 'ts' | 'native' | 'bare';
  return { name: c, engine: kind, threads: kind === 'ts' ? 1 : Number(m[2] ?? 2) };
});
const dir = outDir('flame');
const machine = machineInfo();

try {
  execFileSync('perf', ['--version'], { stdio: 'ignore' });
} catch {
  process.stderr.write('bench:flame needs perf (apt-get install linux-perf)\n');
  process.exit(1);
}

// The addon with symbols, built into bench-out/ so the release addon in native/node stays as it is.
function debugAddon(): string {
  note('building the addon with the release-with-debug profile (cargo, into bench-out/target) ...');
  execFileSync('cargo', ['build', '--profile', 'release-with-debug', '-p', 'hongbao-node', '--target-dir', path.join(ROOT, 'bench-out/target')], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const so = path.join(ROOT, 'bench-out/target/release-with-debug/libhongbao_node.so');
  const node = path.join(dir, 'hongbao-release-with-debug.node');
  copyFileSync(so, node);
  return node;
}
const addon = CONFIGS.some((c) => c.engine === 'native') ? debugAddon() : '';
note('building the flamegraph renderer (native/flame, inferno) ...');
const renderer = flameRenderer(ROOT);

note(
  `bench:flame: ${QPS}/s over ${CONNECTIONS} connections (${PROCS} client processes), configs ${CONFIGS.map((c) => c.name).join(', ')}, ${WARMUP} s warm-up + ${DURATION} s per step, perf at ${FREQ} Hz; load ${machine.loadAtStart.join(' ')}`,
);

const engineFrame = (engine: 'ts' | 'native' | 'bare') => (f: Frame) =>
  engine === 'native' ? f.dso.includes('hongbao-release-with-debug') || f.dso.includes('hongbao.linux') : engine === 'ts' && f.sym.includes('/src/engine/');

function run(cmd: string, args: string[]): Promise<number> {
  return new Promise((resolve) => spawn(cmd, args, { stdio: ['ignore', 'ignore', 'ignore'] }).on('exit', (code) => resolve(code ?? 1)));
}

interface Result {
  config: string;
  repeat: number;
  measured: StepResult;
  profiled: StepResult;
  samples: number;
  engineShare: number;
  selfShares: Record<string, number>;
  svg: string;
  faults: Record<string, number>;
}
const results: Result[] = [];
const collector = await PushCollector.start();

for (let rep = 0; rep < REPEATS; rep++) {
  const configs = rep % 2 ? [...CONFIGS].reverse() : CONFIGS;
  for (const cfg of configs) {
    const label = `${cfg.name.replace(':', '-')}-r${rep + 1}`;
    const perfArgs = ['--perf-basic-prof', '--interpreted-frames-native-stack'];
    const h =
      cfg.engine === 'bare'
        ? await startBare({ threads: cfg.threads, outDir: dir, label, nodeArgs: perfArgs })
        : hongbaoTarget(
            await startHongbao({
              engine: cfg.engine,
              threads: cfg.threads,
              monitorUrl: collector.url,
              outDir: dir,
              label,
              nodeArgs: perfArgs,
              env: cfg.engine === 'native' ? { NAPI_RS_NATIVE_LIBRARY_PATH: addon } : {},
            }),
          );
    try {
      if (h.hongbao) await startSupply(h.hongbao, 200, 2 * (WARMUP + DURATION) + 120);
      const g = await startGenerator({ wsUrl: h.wsUrl, connections: CONNECTIONS, processes: PROCS, secretFile: h.secretFile, collector, logDir: dir, label });
      note(`  ${label}: ${g.connected} connected in ${g.connectSeconds.toFixed(1)} s`);
      let measured: StepResult;
      let profiled: StepResult;
      const perfData = path.join(dir, `${label}.perf.data`);
      let tallies: FinalTally[] = [];
      try {
        measured = await runStep(g, collector, {
          qps: QPS,
          warmupSeconds: WARMUP,
          durationSeconds: DURATION,
          pids: { server: h.pid },
          hongbaoServer: cfg.engine !== 'bare',
        });
        note(`  ${label} measured: ${measured.answeredPerSecond.mean}/s, p99 ${measured.latency.p99Ms} ms, server ${measured.cpu.server} cores`);
        profiled = await runStep(g, collector, {
          qps: QPS,
          warmupSeconds: 1,
          durationSeconds: DURATION,
          pids: { server: h.pid },
          hongbaoServer: cfg.engine !== 'bare',
          during: (s) => run('perf', ['record', '-e', 'cpu-clock', '-F', String(FREQ), '-g', '-p', String(h.pid), '-o', perfData, '--', 'sleep', String(s)]),
        });
      } finally {
        tallies = await stopGenerator(g);
      }
      note(`  ${label} profiled: ${profiled.answeredPerSecond.mean}/s; reading the profile ...`);
      const mapFile = `/tmp/perf-${h.pid}.map`;
      if (existsSync(mapFile)) writeFileSync(mapFile, latestWinsPerfMap(readFileSync(mapFile, 'utf8')));
      const script = execFileSync('perf', ['script', '-i', perfData, '--no-inline', '-F', 'comm,pid,tid,time,event,ip,sym,dso'], {
        maxBuffer: 1 << 30,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      const samples = parsePerfScript(script).filter((s) => s.pid === h.pid);
      const isEngine = engineFrame(cfg.engine);
      const sh = shares(samples, isEngine);
      rmSync(mapFile, { force: true });
      rmSync(perfData, { force: true });
      const root = fold(samples, isEngine, (s) => (s.tid === s.pid ? 'main thread' : `thread ${s.tid}`));
      const title = `${cfg.engine === 'bare' ? 'bare uWS server' : `hongbao server, ${cfg.engine} engine`}, ${cfg.threads} thread(s), ${QPS} shakes/s offered over ${CONNECTIONS} connections; ${samples.length} samples at ${FREQ} Hz`;
      const svg = path.join(dir, `${label}.svg`);
      renderSvg(renderer, root, title, { folded: path.join(dir, `${label}.folded`), palette: path.join(dir, `${label}.palette`), svg });
      const selfShares = Object.fromEntries(Object.entries(sh.self).map(([k, v]) => [k, round(v / Math.max(1, sh.samples), 3)]));
      results.push({
        config: cfg.name,
        repeat: rep,
        measured,
        profiled,
        samples: sh.samples,
        engineShare: sh.inEngine / Math.max(1, sh.samples),
        selfShares,
        svg: path.relative(ROOT, svg),
        faults: runFaults(tallies),
      });
    } finally {
      await h.stop();
    }
  }
}
collector.close();

const rows = CONFIGS.map((cfg) => {
  const rs = results.filter((r) => r.config === cfg.name);
  const m = (f: (r: Result) => number) => median(rs.map(f));
  return {
    config: `${cfg.engine === 'bare' ? 'bare uWS' : cfg.engine}, ${cfg.threads} thread(s)`,
    'shakes/s': Math.round(m((r) => r.measured.answeredPerSecond.mean)),
    'p99 ms': m((r) => r.measured.latency.p99Ms),
    'server cores': round(
      m((r) => r.measured.cpu.server),
      2,
    ),
    'ms CPU/1k shakes': round(
      m((r) => (r.measured.cpu.server * 1e6) / r.measured.answeredPerSecond.mean),
      1,
    ),
    'in engine %': round(
      m((r) => r.engineShare * 100),
      1,
    ),
    'self js %': round(
      m((r) => (r.selfShares.js ?? 0) * 100),
      1,
    ),
    'self uws %': round(
      m((r) => (r.selfShares.uws ?? 0) * 100),
      1,
    ),
    'self v8/node %': round(
      m((r) => (r.selfShares['v8/node'] ?? 0) * 100),
      1,
    ),
    'self kernel %': round(
      m((r) => (r.selfShares.kernel ?? 0) * 100),
      1,
    ),
    samples: m((r) => r.samples),
  };
});
printTable(
  `bench:flame — ${QPS}/s offered; throughput and CPU from the unprofiled step, shares from the profiled one; flamegraphs in bench-out/flame/*.svg; load now ${load().join(' ')}`,
  rows,
);
for (const r of results) note(`${r.config} r${r.repeat + 1}: ${r.svg}; self shares ${JSON.stringify(r.selfShares)}`);
printJson({
  bench: 'flame',
  machine,
  loadAtEnd: load(),
  settings: {
    qps: QPS,
    connections: CONNECTIONS,
    clientProcesses: PROCS,
    configs: CONFIGS,
    warmup: WARMUP,
    duration: DURATION,
    repeats: REPEATS,
    frequency: FREQ,
    addon: existsSync(addon) ? path.relative(ROOT, addon) : null,
  },
  rows,
  results,
});
