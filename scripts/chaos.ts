// `npm run chaos -- [--kills N] [--terms N] [--seed S] ...`: crash without loss (scripts/reliability/chaos-run.ts);
// with `--nodes N`, the same audit over N access nodes on a local Redis Cluster (cluster-chaos-run.ts).
// Progress and the summary on stderr, the result as JSON on stdout; exit 0 only if nothing was lost.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type FlagValues, Flags, runCommand } from '../src/cli/flags.ts';
import { runChaos } from './reliability/chaos-run.ts';
import { runClusterChaos } from './reliability/cluster-chaos-run.ts';
import { randomSeed } from './reliability/rng.ts';

const flags = new Flags(
  'npm run chaos -- [flags]',
  `Runs real load against a real server, kills it at random moments (SIGKILL), restarts it on the same
database, lets clients reconnect, and checks after every kill that every hit and share a client was
told about is in the ledger, nothing was paid twice, the supply paid at most its total, and
created = paid + remaining + refunded. Then the same with SIGTERM: exit 0, connections closed 1001.
With --nodes N: N access nodes on a local 3+3 Redis Cluster, and each of the --kills rounds kills a
random access node or a random Redis master (--victims); the audit runs once at the end, over every
node's journal, Redis and the clients' tallies.`,
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
  .int('threads', "server threads (default: the server's default)", { min: 1 })
  .int('nodes', 'access nodes on a local Redis Cluster (default: one single server)', { min: 1, value: 'N' })
  .string('victims', 'with --nodes: what a round kills', { choices: ['any', 'node', 'master'] as const, default: 'any', value: 'WHAT' });

process.exit(await runCommand('chaos', flags, process.argv.slice(2), run));

async function run(values: FlagValues<typeof flags>): Promise<number> {
  if (values.nodes !== undefined) return runOnCluster(values, values.nodes);
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

async function runOnCluster(values: FlagValues<typeof flags>, nodes: number): Promise<number> {
  const seed = values.seed ?? randomSeed();
  const dir = values.data ?? mkdtempSync(path.join(tmpdir(), 'hongbao-chaos-cluster-'));
  const log = (line: string) => process.stderr.write(`chaos: ${line}\n`);
  log(`seed ${seed}, ${values.kills} rounds killing ${values.victims === 'any' ? 'a node or a master' : `a ${values.victims}`}, ${nodes} nodes, dir ${dir}`);
  const started = Date.now();
  const r = await runClusterChaos({
    dir,
    nodes,
    rounds: values.kills,
    victims: values.victims,
    seed,
    users: values.users,
    qps: values.qps,
    supplyTotal: values.supplyTotal ?? 600 * values.kills,
    supplyRate: values.supplyRate,
    campaignRate: values.campaignRate,
    maxDelayMs: values.maxDelayMs,
    log,
  });
  const recovered = r.rounds.map((x) => x.recoveredMs).sort((a, b) => a - b);
  log(
    `${r.ok ? 'OK' : 'FAILED'} in ${Math.round((Date.now() - started) / 1000)} s: ${r.rounds.length}/${values.kills} rounds recovered` +
      (recovered.length > 0 ? ` (median ${recovered[recovered.length >> 1]} ms, slowest ${recovered[recovered.length - 1]} ms)` : '') +
      `; told ${r.told.hits} hits (${r.told.hitCents} cents), ${r.told.shares} shares (${r.told.shareCents} cents); ` +
      `Redis paid ${r.redis.shakePaid} hits, ${r.redis.shares} shares of ${r.redis.packets} packets; ` +
      `broken promises ${r.broken.length}, paid but never told ${r.untold}, unsettled doubts ${r.unsettled}`,
  );
  if (r.failure) log(`failure: ${r.failure}`);
  for (const b of r.broken) log(`broken: ${b}`);
  process.stdout.write(`${JSON.stringify(r)}\n`);
  return r.ok ? 0 : 1;
}
