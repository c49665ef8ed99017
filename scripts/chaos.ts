// `npm run chaos -- [--kills N] [--terms N] [--seed S] ...`: crash without loss (scripts/reliability/chaos-run.ts).
// Progress and the summary on stderr, the result as JSON on stdout; exit 0 only if nothing was lost.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runChaos } from './reliability/chaos-run.ts';
import { randomSeed } from './reliability/rng.ts';

const HELP = `usage: npm run chaos -- [flags]

Runs real load against a real server, kills it at random moments (SIGKILL), restarts it on the same
database, lets clients reconnect, and checks after every kill that every hit and share a client was
told about is in the ledger, nothing was paid twice, the supply paid at most its total, and
created = paid + remaining + refunded. Then the same with SIGTERM: exit 0, connections closed 1001.

  --kills N          SIGKILL rounds (default 20)
  --terms N          SIGTERM rounds after them (default 20)
  --seed S           random seed for the moments and the side load (default: random, printed)
  --users N          WebSocket users of the simulator (default 300)
  --qps N            shakes per second over WebSocket (default 3000)
  --max-delay-ms N   latest signal after the clients are back (default 2500)
  --supply-total N   shake packets in the supply (default 600 x rounds)
  --supply-rate N    shake packets released per second (default 400)
  --campaign-rate N  group packets per second from the admin campaign (default 60)
  --data DIR         data directory (default: a new temp dir)
  --threads N        server threads (default: the server's default)
`;

const { values } = parseArgs({
  options: {
    kills: { type: 'string', default: '20' },
    terms: { type: 'string', default: '20' },
    seed: { type: 'string' },
    users: { type: 'string', default: '300' },
    qps: { type: 'string', default: '3000' },
    'max-delay-ms': { type: 'string', default: '2500' },
    'supply-total': { type: 'string' },
    'supply-rate': { type: 'string', default: '400' },
    'campaign-rate': { type: 'string', default: '60' },
    data: { type: 'string' },
    threads: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  process.stdout.write(HELP);
  process.exit(0);
}
const int = (name: string, v: string | undefined, fallback: number) => {
  const n = v === undefined ? fallback : Number(v);
  if (!Number.isSafeInteger(n) || n < 0) {
    process.stderr.write(`chaos: --${name} must be a whole number, got ${v}\n`);
    process.exit(2);
  }
  return n;
};
const kills = int('kills', values.kills, 20);
const terms = int('terms', values.terms, 20);
const seed = int('seed', values.seed, randomSeed());
const dataDir = values.data ?? mkdtempSync(path.join(tmpdir(), 'hongbao-chaos-'));
const log = (line: string) => process.stderr.write(`chaos: ${line}\n`);
log(`seed ${seed}, ${kills} SIGKILL + ${terms} SIGTERM rounds, data ${dataDir}, engine ${process.env.HONGBAO_ENGINE ?? 'native'}`);

const started = Date.now();
const result = await runChaos({
  dataDir,
  kills,
  terms,
  seed,
  users: int('users', values.users, 300),
  qps: int('qps', values.qps, 3000),
  maxDelayMs: int('max-delay-ms', values['max-delay-ms'], 2500),
  supplyTotal: int('supply-total', values['supply-total'], 600 * (kills + terms)),
  supplyRate: int('supply-rate', values['supply-rate'], 400),
  campaignRate: int('campaign-rate', values['campaign-rate'], 60),
  serverArgs: values.threads ? ['--threads', values.threads] : [],
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
process.exit(result.ok ? 0 : 1);
