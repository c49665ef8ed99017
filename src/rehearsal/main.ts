// `hongbao rehearsal` (also `npm start`): the whole experiment end to end (see --help).
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { FlagError, Flags } from '../cli/flags.ts';
import type { AmountRule } from '../engine/types.ts';
import { summaryTable } from '../report/summary-table.ts';
import { defaultGenerator, GENERATORS, type GeneratorKind } from '../simulator/generator.ts';
import { DEFAULT_USERS_PER_WORKER, MAX_USERS_PER_WORKER } from '../simulator/native/coordinator.ts';
import { DEFAULT_LOOP_SAMPLE_MS, LOOP_SAMPLE_MS_RANGE } from '../server/thread-gauges.ts';
import { defaultGroupTotal, defaultSupplyTotal, type RehearsalConfig } from './phases.ts';
import { preflight } from './preflight.ts';
import { ProgressPrinter } from './progress.ts';
import { Rehearsal } from './run.ts';

/** The figures of a preset; every one may still be changed by its flag. */
interface Preset {
  users: number;
  usersPerProcess: number;
  nodes: number;
  qps1: number;
  qps2: number;
  phaseSeconds: number;
  supplyTotal?: number;
  groupTotal?: number;
  generator?: GeneratorKind;
  connectTimeout: number;
  drainTimeout: number;
  /** native generator: a worker wakes at most once per this many µs (`hongbao clients --worker-tick-us`) */
  workerTickUs?: number;
  /** Node flags of the server processes */
  nodeArgs?: string[];
  /** servers with `--private-fds` */
  privateFds?: boolean;
  /** servers' `--loop-sample-ms` (unset: theirs) */
  loopSampleMs?: number;
}

/** `default`: a few minutes on one machine, one server. `seed`: the reference experiment at full
 *  scale (docs/rehearsal.md): a million users over 56 access nodes on a Redis Cluster, driven by the
 *  native generator, 30,000 then 60,000 shakes/s, 40,000 shake packets and 20,000 group packets. */
export const PRESETS: Record<'default' | 'seed', Preset> = {
  default: { users: 19_000, usersPerProcess: 19_000, nodes: 1, qps1: 10_000, qps2: 20_000, phaseSeconds: 20, connectTimeout: 120, drainTimeout: 20 },
  seed: {
    users: 1_000_000,
    usersPerProcess: 250_000,
    nodes: 56,
    qps1: 30_000,
    qps2: 60_000,
    phaseSeconds: 120,
    supplyTotal: 40_000,
    groupTotal: 20_000,
    generator: 'native',
    connectTimeout: 300,
    // answers still queued when step 2 ends (it may outrun the machine) must reach the clients' tallies
    drainTimeout: 180,
    // a worker reads its ~570 answers a second in ≤ 500 passes instead of a wake-up each: 21–26 against
    // 27.5 ms of generator CPU per 1,000 shakes at 200,000 users; not shown to help at 1M (docs/rehearsal.md)
    workerTickUs: 2000,
    // 56 nodes of ~18,000 users each: a small young generation and V8's size-over-speed choices; a
    // node measured ~104 MiB RSS with its users at 1M (docs/rehearsal.md), CPU per shake the same
    // as without them at 200,000 users
    nodeArgs: ['--max-semi-space-size=1', '--optimize-for-size'],
    // the nodes' million sockets out of /proc/PID/fd, which this machine's agent walks every second
    // at ~0.23 µs a descriptor (docs/rehearsal.md)
    privateFds: true,
    // each node's loop-delay sampler wakes it 20 times a second at the servers' 50 ms: 56 nodes x 15
    // fewer wake-ups a second at 200 (a stall of the size seen there, 0.2-0.7 s, still shows)
    loopSampleMs: 200,
  },
};

const flags = new Flags(
  'hongbao rehearsal [flags]        (npm start)',
  `Runs the reference experiment on this machine: starts a monitor, the service (one server, or a
Redis Cluster and --nodes access nodes) and enough client processes, then the phases
  connect   all users connect and log in
  step-1    offered load at --qps1
  supply    + shake packets at --supply-rate per second
  group     + group packets at --group-rate per second, --recipients each
  step-2    offered load at --qps2, both campaigns on
  drain     load 0, campaigns stopped, every unopened packet expired and refunded
then stops the service, reads its money (the server's ledger, or Redis and every node's journal),
reconciles it with the clients' tallies to the cent, and writes report.json, report.html, the plots
and the time series to --out. Progress goes to stderr, the summary table too; report.json is
printed on stdout. Exits 0 when everything reconciles, 1 on any difference (named), 2 on bad flags.

Presets (--preset; each figure still a flag):
  default  ${PRESETS.default.users.toLocaleString('en-US')} users, one server, ${PRESETS.default.qps1.toLocaleString('en-US')} then ${PRESETS.default.qps2.toLocaleString('en-US')} shakes/s, ${PRESETS.default.phaseSeconds} s a phase (about two minutes)
  seed     the reference at full scale: ${PRESETS.seed.users.toLocaleString('en-US')} users over ${PRESETS.seed.nodes} access nodes on a Redis Cluster,
           ${PRESETS.seed.qps1.toLocaleString('en-US')} then ${PRESETS.seed.qps2.toLocaleString('en-US')} shakes/s, 40,000 shake packets and 20,000 group packets at 200/s,
           ${PRESETS.seed.phaseSeconds} s a phase (see docs/rehearsal.md for its time and memory)

environment: HONGBAO_ENGINE=native|ts selects the servers' engine (default native).`,
)
  .string('preset', 'the figures to start from', { default: 'default', choices: ['default', 'seed'] })
  .int('users', 'simulated users (default: the preset)', { min: 2 })
  .int('users-per-process', 'users per client process (a ts one holds < ~19,500 sockets; a native one spreads over workers)', { min: 1 })
  .int('nodes', 'access nodes: 1 is the single server with its SQLite ledger; more share a Redis Cluster the rehearsal starts', {
    min: 1,
    max: 200,
  })
  .int('qps1', 'shakes per second in step 1', { min: 0 })
  .int('qps2', 'shakes per second in step 2', { min: 0 })
  .int('phase-seconds', 'length of each timed phase; per phase: --step1-seconds --supply-seconds --group-seconds --step2-seconds', { min: 1 })
  .int('step1-seconds', 'step 1 alone', { min: 0, value: 'S' })
  .int('supply-seconds', 'the supply phase alone', { min: 0, value: 'S' })
  .int('group-seconds', 'the group phase alone', { min: 0, value: 'S' })
  .int('step2-seconds', 'step 2 alone', { min: 0, value: 'S' })
  .int('supply-rate', 'shake packets released per second', { default: 200, min: 1 })
  .int('supply-total', 'shake packets in all (default: the rate from the supply phase to the end of step 2)', { min: 1 })
  .string('supply-cents', 'amount of each shake packet', { default: '1-500', value: 'MIN-MAX' })
  .int('group-rate', 'group packets created per second', { default: 200, min: 1 })
  .int('group-total', 'group packets in all (default: the rate from the group phase to the end of step 2)', { min: 1 })
  .int('recipients', 'recipients (= shares) per group packet', { default: 3, min: 1 })
  .string('group-cents', 'total of each group packet', { default: '300-5000', value: 'MIN-MAX' })
  .string('generator', 'which generator holds the client sockets (default: the preset, else $HONGBAO_GENERATOR, else native)', { choices: GENERATORS })
  .int('threads', 'server worker threads (single server only; default: the server default)', { min: 1 })
  .int('connect-timeout', 'seconds for every user to connect (default: the preset)', { min: 1, value: 'S' })
  .int('drain-timeout', 'wait for outstanding answers and opens (default: the preset)', { min: 1, value: 'S' })
  .int('worker-tick-us', 'native generator: a worker wakes at most once per N µs (default: the preset; seed: 2000)', { min: 0, value: 'N' })
  .int('users-per-worker', `native generator: users per worker process (default: the clients' own, ${DEFAULT_USERS_PER_WORKER.toLocaleString('en-US')})`, {
    min: 1,
    max: MAX_USERS_PER_WORKER,
    value: 'N',
  })
  .int('spare-user', 'a user no client simulates, for a person on the shake page (its sign-in link is printed; 0: none)', {
    min: 0,
    value: 'ID',
  })
  .string(
    'server-fds',
    "private: every server runs with --private-fds (its sockets in a thread's own descriptor table); shared: without (default: the preset; seed: private)",
    {
      choices: ['private', 'shared'],
    },
  )
  .int('loop-sample-ms', `servers' event-loop delay sampling interval (default: the preset; seed: 200; else the servers' ${DEFAULT_LOOP_SAMPLE_MS})`, {
    ...LOOP_SAMPLE_MS_RANGE,
    value: 'MS',
  })
  .list('node-args', 'Node flags for the server processes (default: the preset; seed: --max-semi-space-size=1,--optimize-for-size)', { value: 'F[,F]' })
  .string('out', 'output folder (default ./rehearsal-<timestamp>)', { value: 'DIR' })
  .bool('force', 'start a large run even when the preflight check finds it will not fit or finds leftovers of an earlier run');

/** From this many users on, a run checks the machine first (src/rehearsal/preflight.ts). */
const LARGE_RUN_USERS = 200_000;

function rangeRule(name: string, raw: string): AmountRule {
  const m = /^(\d+)-(\d+)$/.exec(raw);
  if (!m || Number(m[1]) < 1 || Number(m[2]) < Number(m[1])) throw new FlagError(`--${name} must look like MIN-MAX cents, 1 <= MIN <= MAX`);
  return { kind: 'range', min: Number(m[1]), max: Number(m[2]) };
}

function timestamp(): string {
  return new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
}

export function parseConfig(argv: string[]): { config: RehearsalConfig; out: string; force: boolean } | 'help' {
  const v = flags.parse(argv);
  if (v.help) return 'help';
  const preset = PRESETS[v.preset as keyof typeof PRESETS];
  const phaseSeconds = v.phaseSeconds ?? preset.phaseSeconds;
  const users = v.users ?? preset.users;
  const partial = {
    users,
    usersPerProcess: v.usersPerProcess ?? Math.min(preset.usersPerProcess, users),
    qps1: v.qps1 ?? preset.qps1,
    qps2: v.qps2 ?? preset.qps2,
    step1Seconds: v.step1Seconds ?? phaseSeconds,
    supplySeconds: v.supplySeconds ?? phaseSeconds,
    groupSeconds: v.groupSeconds ?? phaseSeconds,
    step2Seconds: v.step2Seconds ?? phaseSeconds,
    supplyRate: v.supplyRate,
    groupRate: v.groupRate,
    recipients: v.recipients,
  };
  let generator: GeneratorKind;
  try {
    generator = (v.generator as GeneratorKind | undefined) ?? preset.generator ?? defaultGenerator();
  } catch (err) {
    throw new FlagError((err as Error).message);
  }
  if (generator !== 'native' && partial.usersPerProcess > 19_500) {
    throw new FlagError('--users-per-process must stay below ~19,500 with the ts generator (20,000 open files per process here)');
  }
  if (partial.recipients >= partial.users) throw new FlagError('--recipients must be below --users');
  const groupRule = rangeRule('group-cents', v.groupCents);
  if (groupRule.kind === 'range' && groupRule.min < partial.recipients)
    throw new FlagError('--group-cents MIN must be at least --recipients (1 cent per share)');
  const nodes = v.nodes ?? preset.nodes;
  if (nodes > 1 && v.threads !== undefined) throw new FlagError('--threads is for the single server; a cluster runs one thread per node');
  const config: RehearsalConfig = {
    ...partial,
    generator,
    ...(generator === 'native' && (v.workerTickUs ?? preset.workerTickUs) !== undefined ? { workerTickUs: v.workerTickUs ?? preset.workerTickUs } : {}),
    ...(generator === 'native' && v.usersPerWorker !== undefined ? { usersPerWorker: v.usersPerWorker } : {}),
    supplyTotal: v.supplyTotal ?? preset.supplyTotal ?? defaultSupplyTotal(partial),
    supplyRule: rangeRule('supply-cents', v.supplyCents),
    groupTotal: v.groupTotal ?? preset.groupTotal ?? defaultGroupTotal(partial),
    groupRule,
    connectTimeoutSeconds: v.connectTimeout ?? preset.connectTimeout,
    drainTimeoutSeconds: v.drainTimeout ?? preset.drainTimeout,
    threads: v.threads ?? null,
    nodes,
    spareUser: v.spareUser ?? users + 1,
    nodeArgs: v.nodeArgs.length > 0 ? v.nodeArgs : (preset.nodeArgs ?? []),
    privateFds: v.serverFds === undefined ? (preset.privateFds ?? false) : v.serverFds === 'private',
    ...((v.loopSampleMs ?? preset.loopSampleMs) !== undefined ? { loopSampleMs: v.loopSampleMs ?? preset.loopSampleMs } : {}),
  };
  return { config, out: path.resolve(v.out ?? `rehearsal-${timestamp()}`), force: v.force };
}

export async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseConfig>;
  try {
    parsed = parseConfig(argv);
  } catch (err) {
    if (err instanceof FlagError) {
      process.stderr.write(`hongbao rehearsal: ${err.message} (hongbao rehearsal --help)\n`);
      return 2;
    }
    throw err;
  }
  if (parsed === 'help') {
    process.stdout.write(flags.help());
    return 0;
  }
  const { config, out, force } = parsed;
  // A large run first checks that it fits (memory, open files) and that no earlier run is still alive.
  if (config.users >= LARGE_RUN_USERS) {
    const check = preflight(config.users, config.nodes);
    process.stderr.write(`preflight: needs about ${check.neededMiB} MiB, ${check.availableMiB} MiB available; fs.file-max ${check.fileMax}\n`);
    if (check.problems.length > 0 && !force) {
      process.stderr.write(`hongbao rehearsal: will not start:\n${check.problems.map((p) => `- ${p}`).join('\n')}\n(--force starts anyway)\n`);
      return 1;
    }
  }
  mkdirSync(out, { recursive: true });
  const printer = new ProgressPrinter();
  const rehearsal = new Rehearsal(config, out, printer);
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
    printer.note('hongbao rehearsal: interrupted, stopping every process');
    rehearsal.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const report = await rehearsal.run();
    process.stderr.write(`\n${summaryTable(report)}`);
    process.stderr.write(`report: ${path.join(out, 'report.html')}\n`);
    process.stdout.write(`${JSON.stringify(report)}\n`);
    return report.ok ? 0 : 1;
  } catch (err) {
    if (interrupted) return 130;
    const why = rehearsal.diagnose();
    printer.note(`hongbao rehearsal: ${err instanceof Error ? err.message : String(err)}${why ? `\n${why}` : ''}`);
    return 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
