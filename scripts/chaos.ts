// `npm run chaos -- [--kills N] [--terms N] [--seed S] ...`: crash without loss (scripts/reliability/chaos-run.ts).
// Progress and the summary on stderr, the result as JSON on stdout; exit 0 only if nothing was lost.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type FlagValues, Flags, runCommand } from '../src/cli/flags.ts';
import { runChaos } from './reliability/chaos-run.ts';
import { randomSeed } from './reliability/rng.ts';

const flags = new Flags(
  'npm run chaos -- [flags]',
  `Runs real load against a real server, kills it at random moments (SIGKILL), restarts it on the same
database, lets clients reconnect, and checks after every kill that every hit and share a client was
told about is in the ledger, nothing was paid twice, the supply paid at most its total, and
created = paid + remaining + refunded. Then the same with SIGTERM: exit 0, connections closed 1001.`,
)
  .int('kills', 'SIGKILL rounds', { default: 20, min: 0 })
  .int('terms', 'SIGTERM rounds after them', { default: 20, min: 0 })
  .int('seed', 'random seed for the moments and the side load (default: random, printed)', { min: 0, value: 'S' })
  .int('users', 'WebSocket users of the simulator', { default: 300, min: 1 })
  .int('qps', 'shakes per second over WebSocket', { default: 3000, min: 0 })
  .int('max-delay-ms', 'latest signal after the clients are back', { default: 2500, min: 0 })
  .int('supply-total', 'shake packets in the supply (default 600 x rounds)', { min: 0 })
  .int('supply-rate', 'shake packets released per second', { default: 400, min: 0 })
  .int('campaign-rate', 'group packets per second from the admin campaign', { default: 60, min: 0 })
  .string('data', 'data directory (default: a new temp dir)', { value: 'DIR' })
  .int('threads', "server threads (default: the server's default)", { min: 1 });

process.exit(await runCommand('chaos', flags, process.argv.slice(2), run));

async function run(values: FlagValues<typeof flags>): Promise<number> {
  const { kills, terms } = values;
  const seed = values.seed ?? randomSeed();
  const dataDir = values.data ?? mkdtempSync(path.join(tmpdir(), 'hongbao-chaos-'));
  const log = (line: string) => process.stderr.write(`chaos: ${line}\n`);
  log(`seed ${seed}, ${kills} SIGKILL + ${terms} SIGTERM rounds, data ${dataDir}, engine ${process.env.HONGBAO_ENGINE ?? 'native'}`);

  const started = Date.now();
  const result = await runChaos({
    dataDir,
    kills,
    terms,
    seed,
    users: values.users,
    qps: values.qps,
    maxDelayMs: values.maxDelayMs,
    supplyTotal: values.supplyTotal ?? 600 * (kills + terms),
    supplyRate: values.supplyRate,
    campaignRate: values.campaignRate,
    serverArgs: values.threads ? ['--threads', String(values.threads)] : [],
    log,
  });
  const f = result.final;
  log(
    `${result.ok ? 'OK' : 'FAILED'} in ${Math.round((Date.now() - started) / 1000)} s: ${result.killsSurvived}/${kills} kills survived, ` +
      `${result.termsClean}/${terms} clean SIGTERM drains` +
      (f
        ? `; told ${f.told.hits} hits (${f.told.hitCents} cents), ${f.told.shares} shares (${f.told.shareCents} cents), ${f.told.packets} packets; ` +
          `ledger ${f.ledger.hits} hits, ${f.ledger.shares} shares, ${f.ledger.packets} packets, supply released ${f.ledger.released}/${f.ledger.supplyTotal}; ` +
          `cents lost ${f.centsLost}, paid twice ${f.paidTwice}, ledger check ${f.check.ok ? 'balanced' : 'NOT balanced'}`
        : ''),
  );
  if (result.failure) log(`failure: ${result.failure}`);
  process.stdout.write(`${JSON.stringify({ ...result, final: f ? { ...f, check: { ok: f.check.ok, shake: f.check.shake, group: f.check.group } } : null })}\n`);
  return result.ok ? 0 : 1;
}
