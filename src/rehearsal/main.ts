// `hongbao rehearsal` (also `npm start`): the whole experiment end to end (see --help).
import path from 'node:path';
import { parseArgs } from 'node:util';
import { mkdirSync } from 'node:fs';
import { Rehearsal } from './run.ts';
import { defaultGroupTotal, defaultSupplyTotal, type RehearsalConfig } from './phases.ts';
import { ProgressPrinter } from './progress.ts';
import { summaryTable } from '../report/summary-table.ts';
import type { AmountRule } from '../engine/types.ts';

export const DEFAULTS = {
  users: 19_000,
  usersPerProcess: 19_000,
  qps1: 10_000,
  qps2: 20_000,
  phaseSeconds: 20,
  supplyRate: 200,
  groupRate: 200,
  recipients: 3,
  connectTimeout: 120,
  drainTimeout: 20,
};

const HELP = `usage: hongbao rehearsal [flags]        (npm start)

Runs the reference experiment on this machine: starts a monitor, a server and enough client
processes, then the phases
  connect   all users connect and log in
  step-1    offered load at --qps1
  supply    + shake packets at --supply-rate per second
  group     + group packets at --group-rate per second, --recipients each
  step-2    offered load at --qps2, both campaigns on
  drain     load 0, campaigns stopped, every unopened packet expired and refunded
then stops the server, reads its ledger, reconciles it with the clients' tallies to the cent, and
writes report.json, report.html, the plots, the time series and the ledger copy to --out.
Progress goes to stderr, the summary table too; report.json is printed on stdout.
Exits 0 when everything reconciles, 1 on any difference (named), 2 on bad flags.

Scaled to the reference (1M users on a bigger machine):
  hongbao rehearsal --users 1000000 --qps1 30000 --qps2 60000 --supply-total 40000 --group-total 20000 \\
    --phase-seconds 120

flags:
  --users N              simulated users (default ${DEFAULTS.users}: one server process here holds ~19,900 sockets)
  --users-per-process N  users per client process, < ~19,500 each with the ts generator (default ${DEFAULTS.usersPerProcess});
                         a native client process splits its users over worker processes itself
  --generator ts|native  the clients' generator (default: $HONGBAO_GENERATOR, else ts; docs/simulator.md)
  --qps1 N               shakes per second in step 1 (default ${DEFAULTS.qps1})
  --qps2 N               shakes per second in step 2 (default ${DEFAULTS.qps2})
  --phase-seconds S      length of each timed phase (default ${DEFAULTS.phaseSeconds}); per phase:
  --step1-seconds S  --supply-seconds S  --group-seconds S  --step2-seconds S
  --supply-rate N        shake packets released per second (default ${DEFAULTS.supplyRate})
  --supply-total N       shake packets in all (default: rate x seconds from supply to the end of step 2)
  --supply-cents MIN-MAX amount of each shake packet (default 1-500)
  --group-rate N         group packets created per second (default ${DEFAULTS.groupRate})
  --group-total N        group packets in all (default: rate x seconds from group to the end of step 2)
  --recipients N         recipients (= shares) per group packet (default ${DEFAULTS.recipients})
  --group-cents MIN-MAX  total of each group packet (default 300-5000)
  --threads N            server worker threads (default: the server's default)
  --connect-timeout S    (default ${DEFAULTS.connectTimeout})
  --drain-timeout S      wait for outstanding answers and opens (default ${DEFAULTS.drainTimeout})
  --out DIR              output folder (default ./rehearsal-<timestamp>)
  -h, --help             this text

environment: HONGBAO_ENGINE=native|ts selects the server's engine (default native).
`;

class FlagError extends Error {}

function int(name: string, raw: string | undefined, fallback: number, min = 0): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min) throw new FlagError(`--${name} must be an integer >= ${min}, got "${raw}"`);
  return n;
}

function rangeRule(name: string, raw: string | undefined, fallback: AmountRule): AmountRule {
  if (raw === undefined) return fallback;
  const m = /^(\d+)-(\d+)$/.exec(raw);
  if (!m || Number(m[1]) < 1 || Number(m[2]) < Number(m[1])) throw new FlagError(`--${name} must look like MIN-MAX cents, 1 <= MIN <= MAX`);
  return { kind: 'range', min: Number(m[1]), max: Number(m[2]) };
}

function timestamp(): string {
  return new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
}

export function parseConfig(argv: string[]): { config: RehearsalConfig; out: string } | 'help' {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: Object.fromEntries(
        [
          'users',
          'users-per-process',
          'qps1',
          'qps2',
          'phase-seconds',
          'step1-seconds',
          'supply-seconds',
          'group-seconds',
          'step2-seconds',
          'supply-rate',
          'supply-total',
          'supply-cents',
          'group-rate',
          'group-total',
          'recipients',
          'group-cents',
          'threads',
          'connect-timeout',
          'drain-timeout',
          'generator',
          'out',
        ]
          .map((n) => [n, { type: 'string' as const }])
          .concat([['help', { type: 'boolean' as const, short: 'h' } as never]]),
      ),
    }) as { values: Record<string, string | boolean | undefined> });
  } catch (err) {
    throw new FlagError((err as Error).message.split('\n')[0]);
  }
  if (values.help) return 'help';
  const s = (k: string) => values[k] as string | undefined;
  const phaseSeconds = int('phase-seconds', s('phase-seconds'), DEFAULTS.phaseSeconds, 1);
  const partial = {
    users: int('users', s('users'), DEFAULTS.users, 1),
    usersPerProcess: int('users-per-process', s('users-per-process'), DEFAULTS.usersPerProcess, 1),
    qps1: int('qps1', s('qps1'), DEFAULTS.qps1),
    qps2: int('qps2', s('qps2'), DEFAULTS.qps2),
    step1Seconds: int('step1-seconds', s('step1-seconds'), phaseSeconds),
    supplySeconds: int('supply-seconds', s('supply-seconds'), phaseSeconds),
    groupSeconds: int('group-seconds', s('group-seconds'), phaseSeconds),
    step2Seconds: int('step2-seconds', s('step2-seconds'), phaseSeconds),
    supplyRate: int('supply-rate', s('supply-rate'), DEFAULTS.supplyRate, 1),
    groupRate: int('group-rate', s('group-rate'), DEFAULTS.groupRate, 1),
    recipients: int('recipients', s('recipients'), DEFAULTS.recipients, 1),
  };
  const generator = s('generator') ?? process.env.HONGBAO_GENERATOR;
  if (generator !== undefined && generator !== 'ts' && generator !== 'native') throw new FlagError(`--generator must be ts or native, got "${generator}"`);
  if (generator !== 'native' && partial.usersPerProcess > 19_500)
    throw new FlagError('--users-per-process must stay below ~19,500 (20,000 open files per process here)');
  if (partial.recipients >= partial.users) throw new FlagError('--recipients must be below --users');
  const groupRule = rangeRule('group-cents', s('group-cents'), { kind: 'range', min: 300, max: 5000 });
  if (groupRule.kind === 'range' && groupRule.min < partial.recipients)
    throw new FlagError('--group-cents MIN must be at least --recipients (1 cent per share)');
  const threadsRaw = s('threads');
  const config: RehearsalConfig = {
    ...partial,
    ...(generator ? { generator } : {}),
    supplyTotal: int('supply-total', s('supply-total'), defaultSupplyTotal(partial), 1),
    supplyRule: rangeRule('supply-cents', s('supply-cents'), { kind: 'range', min: 1, max: 500 }),
    groupTotal: int('group-total', s('group-total'), defaultGroupTotal(partial), 1),
    groupRule,
    connectTimeoutSeconds: int('connect-timeout', s('connect-timeout'), DEFAULTS.connectTimeout, 1),
    drainTimeoutSeconds: int('drain-timeout', s('drain-timeout'), DEFAULTS.drainTimeout, 1),
    threads: threadsRaw === undefined ? null : int('threads', threadsRaw, 1, 1),
  };
  return { config, out: path.resolve(s('out') ?? `rehearsal-${timestamp()}`) };
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
    process.stdout.write(HELP);
    return 0;
  }
  const { config, out } = parsed;
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
