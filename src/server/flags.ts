// `hongbao server` flags: definitions, parsing, checks and the --help text, in one table.
import { createHash } from 'node:crypto';
import { availableParallelism, hostname } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parseNatMap } from '../cluster/nat.ts';
import { MAX_CEILING } from './counters.ts';

export interface ServerFlags {
  host: string;
  port: number;
  adminHost: string;
  adminPort: number;
  dataDir: string;
  dbFile: string;
  threads: number;
  /** True when --threads was given (a TS engine then says it overrides it). */
  threadsGiven: boolean;
  shards: number;
  seed: number | undefined;
  splitMode: 'double-mean' | 'line-segment';
  maxShakesPerSecond: number;
  maxPayload: number;
  maxMessagesPerSecond: number;
  maxErrors: number;
  backpressureLimit: number;
  idleTimeout: number;
  loginTimeoutMs: number;
  packetTtlMs: number;
  expirySweepMs: number;
  retainExpiredMs: number;
  semiSpaceMb: number;
  monitor: string | null;
  /** Cluster mode: Redis Cluster addresses (any of its instances); null: the single server. */
  redis: string[] | null;
  /** Cluster mode: this access node's name (stable across its restarts, unique in the cluster). */
  nodeId: string;
  /** Cluster mode: where to reach Redis instances instead of the addresses they announce. */
  redisNat: Record<string, { host: string; port: number }>;
  readyFile: string | null;
  allowUwsFallback: boolean;
  help: boolean;
}

export class FlagError extends Error {}

type Kind = 'int' | 'string' | 'bool';
interface FlagSpec {
  name: string;
  kind: Kind;
  value: string; // placeholder shown in --help
  help: string;
  min?: number;
}

const SPECS: FlagSpec[] = [
  { name: 'port', kind: 'int', value: 'N', help: 'public port: WebSocket /ws, HTTP /v1/*, GET /health (default 8080; 0 = any free port)', min: 0 },
  { name: 'host', kind: 'string', value: 'ADDR', help: 'public address to bind (default 0.0.0.0)' },
  { name: 'admin-port', kind: 'int', value: 'N', help: 'admin API port (default 8081; 0 = any free port)', min: 0 },
  { name: 'admin-host', kind: 'string', value: 'ADDR', help: 'admin API address (default 127.0.0.1)' },
  { name: 'data', kind: 'string', value: 'DIR', help: 'data directory: hongbao.db, secret, admin-token (default ./data)' },
  { name: 'db', kind: 'string', value: 'FILE', help: 'ledger database file (default <data>/hongbao.db)' },
  {
    name: 'threads',
    kind: 'int',
    value: 'N',
    help: 'worker threads, one uWS app each on the same port (default: available cores; always 1 with HONGBAO_ENGINE=ts)',
    min: 1,
  },
  { name: 'shards', kind: 'int', value: 'N', help: 'engine shards (default 64)', min: 1 },
  { name: 'seed', kind: 'int', value: 'N', help: 'engine seed, 32-bit (default: from the OS entropy)', min: 0 },
  { name: 'split-mode', kind: 'string', value: 'MODE', help: 'double-mean (default) or line-segment, for every group packet' },
  {
    name: 'max-shakes-per-second',
    kind: 'int',
    value: 'N',
    help: 'shake ceiling over all threads; above it shakes are answered Overloaded at once (default 0 = none)',
    min: 0,
  },
  { name: 'max-payload', kind: 'int', value: 'BYTES', help: 'largest WebSocket message accepted; larger closes the connection (default 8192)', min: 64 },
  { name: 'max-messages-per-second', kind: 'int', value: 'N', help: 'per connection; above it frames are answered Error RateLimited (default 50)', min: 1 },
  { name: 'max-errors', kind: 'int', value: 'N', help: 'Error frames a connection may earn per minute before it is closed with 4005 (default 10)', min: 1 },
  { name: 'backpressure-limit', kind: 'int', value: 'BYTES', help: 'outgoing buffer above which a slow reader is closed with 4008 (default 65536)', min: 1024 },
  {
    name: 'idle-timeout',
    kind: 'int',
    value: 'SECONDS',
    help: 'close silent connections after this (pings sent automatically); 0 or >= 8 (default 120)',
    min: 0,
  },
  { name: 'login-timeout-ms', kind: 'int', value: 'MS', help: 'a connection must log in within this, else 4003 (default 10000)', min: 100 },
  { name: 'packet-ttl-ms', kind: 'int', value: 'MS', help: 'expiry of group packets created over WebSocket (default 86400000 = 24 h)', min: 1 },
  { name: 'expiry-sweep-ms', kind: 'int', value: 'MS', help: 'how often expired group packets are refunded (default 1000)', min: 10 },
  {
    name: 'retain-expired-ms',
    kind: 'int',
    value: 'MS',
    help: 'an expired group packet stays in memory this long after its expiry (exact answers to late opens, details); then only the ledger has it (default 86400000 = 24 h)',
    min: 0,
  },
  {
    name: 'semi-space-mb',
    kind: 'int',
    value: 'MB',
    help: 'V8 semi-space of the app worker threads, fixed so their heaps do not swell and shrink with the load (default 8; 0 = V8 sizes it; with one thread the app runs on the main thread, which keeps V8 sizing)',
    min: 0,
  },
  { name: 'monitor', kind: 'string', value: 'URL', help: 'POST per-second counters to URL/push' },
  {
    name: 'redis',
    kind: 'string',
    value: 'URL[,URL...]',
    help: 'run as one access node of a cluster whose supply and group packets live on this Redis Cluster (redis://host:port of any of its instances; docs/cluster.md); the ledger is then the node journal <data>/journal.db',
  },
  {
    name: 'redis-nat',
    kind: 'string',
    value: 'H:P=H:P[,...]',
    help: 'reach the Redis instance announcing itself as H:P at the other H:P instead (NAT, a proxy); with --redis',
  },
  {
    name: 'node-id',
    kind: 'string',
    value: 'NAME',
    help: "this access node's name in the cluster, kept across restarts (default: host name and data directory)",
  },
  { name: 'ready-file', kind: 'string', value: 'PATH', help: 'write the ready JSON line there once listening (it is also printed on stdout)' },
  { name: 'allow-uws-fallback', kind: 'bool', value: '', help: 'start even if uWS fell back to its slow JavaScript implementation' },
  { name: 'help', kind: 'bool', value: '', help: 'show this help' },
];

/** Every flag name, without the dashes. */
export const FLAG_NAMES: readonly string[] = SPECS.map((s) => s.name);

export function helpText(): string {
  const rows = SPECS.map((s) => `  --${s.name}${s.value ? ` ${s.value}` : ''}`);
  const width = Math.max(...rows.map((r) => r.length)) + 2;
  const lines = SPECS.map((s, i) => `${rows[i].padEnd(width)}${s.help}`);
  return [
    'usage: hongbao server [flags]',
    '',
    'The access server: one WebSocket per user (binary protocol, docs/protocol.md), HTTP /v1/shake,',
    '/v1/open, /v1/packets/:id, and the admin API (docs/admin-api.md) on its own port.',
    '',
    'flags:',
    ...lines,
    '',
    'environment:',
    '  HONGBAO_ENGINE=native|ts   packet engine (default native)',
    '  HONGBAO_SECRET             token secret (else <data>/secret, generated with mode 0600)',
    '  HONGBAO_ADMIN_TOKEN        admin token (else <data>/admin-token, generated with mode 0600)',
    '',
    'On start it prints one JSON line on stdout: {"event":"ready","port":...,"adminPort":...}.',
    'SIGINT/SIGTERM: stop accepting, finish pending batches, close the ledger, exit 0.',
    '',
  ].join('\n');
}

function toInt(spec: FlagSpec, raw: string): number {
  if (!/^\d+$/.test(raw)) throw new FlagError(`--${spec.name} must be a whole number, got "${raw}"`);
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < (spec.min ?? 0)) throw new FlagError(`--${spec.name} must be >= ${spec.min ?? 0}, got ${raw}`);
  return n;
}

export function parseFlags(argv: string[]): ServerFlags {
  const options: Record<string, { type: 'string' | 'boolean' }> = {};
  for (const s of SPECS) options[s.name] = { type: s.kind === 'bool' ? 'boolean' : 'string' };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false }) as { values: Record<string, string | boolean | undefined> });
  } catch (err) {
    throw new FlagError((err as Error).message.split('\n')[0]);
  }
  const spec = (name: string) => {
    const found = SPECS.find((s) => s.name === name);
    if (found === undefined) throw new Error(`no flag spec named --${name}`);
    return found;
  };
  const int = (name: string, fallback: number) => (values[name] === undefined ? fallback : toInt(spec(name), values[name] as string));
  const str = (name: string, fallback: string) => {
    const v = values[name];
    if (v === undefined) return fallback;
    if (v === '') throw new FlagError(`--${name} must not be empty`);
    return v as string;
  };

  const dataDir = path.resolve(str('data', './data'));
  const redis =
    values.redis === undefined
      ? null
      : str('redis', '')
          .split(',')
          .map((u) => u.trim())
          .filter(Boolean);
  if (redis !== null) {
    if (redis.length === 0) throw new FlagError('--redis needs at least one address');
    for (const u of redis) if (!/^(redis:\/\/)?[^\s/:]+:\d+\/?$/.test(u)) throw new FlagError(`--redis addresses look like redis://host:port, got "${u}"`);
  }
  let redisNat: ServerFlags['redisNat'] = {};
  try {
    redisNat = values['redis-nat'] === undefined ? {} : parseNatMap(str('redis-nat', '').split(','));
  } catch (err) {
    throw new FlagError(`--redis-nat: ${(err as Error).message}`);
  }
  const nodeId = str('node-id', `${hostname()}-${createHash('sha256').update(dataDir).digest('hex').slice(0, 8)}`);
  if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(nodeId)) throw new FlagError(`--node-id must be 1-64 letters, digits or _.:- , got "${nodeId}"`);
  const splitMode = str('split-mode', 'double-mean');
  if (splitMode !== 'double-mean' && splitMode !== 'line-segment') {
    throw new FlagError(`--split-mode must be double-mean or line-segment, got "${splitMode}"`);
  }
  const idleTimeout = int('idle-timeout', 120);
  if (idleTimeout > 0 && idleTimeout < 8) throw new FlagError(`--idle-timeout must be 0 or >= 8 (uWS aborts on 1..7), got ${idleTimeout}`);
  const seed = values.seed === undefined ? undefined : int('seed', 0);
  if (seed !== undefined && seed > 0xffffffff) throw new FlagError(`--seed must fit in 32 bits, got ${seed}`);
  const semiSpaceMb = int('semi-space-mb', 8);
  if (semiSpaceMb > 128) throw new FlagError(`--semi-space-mb must be <= 128, got ${semiSpaceMb}`);
  const monitor = values.monitor === undefined ? null : str('monitor', '');
  if (monitor !== null && !/^https?:\/\/[^\s]+$/.test(monitor)) throw new FlagError(`--monitor must be an http(s) URL, got "${monitor}"`);
  const maxShakesPerSecond = int('max-shakes-per-second', 0);
  if (maxShakesPerSecond > MAX_CEILING) throw new FlagError(`--max-shakes-per-second must be <= ${MAX_CEILING}, got ${maxShakesPerSecond}`);
  const port = int('port', 8080);
  const adminPort = int('admin-port', 8081);
  if (port > 65535 || adminPort > 65535) throw new FlagError('ports must be <= 65535');
  if (port !== 0 && port === adminPort) throw new FlagError('--port and --admin-port must differ');

  return {
    host: str('host', '0.0.0.0'),
    port,
    adminHost: str('admin-host', '127.0.0.1'),
    adminPort,
    dataDir,
    dbFile: path.resolve(str('db', path.join(dataDir, redis ? 'journal.db' : 'hongbao.db'))),
    threads: int('threads', availableParallelism()),
    threadsGiven: values.threads !== undefined,
    shards: int('shards', 64),
    seed,
    splitMode,
    maxShakesPerSecond,
    maxPayload: int('max-payload', 8192),
    maxMessagesPerSecond: int('max-messages-per-second', 50),
    maxErrors: int('max-errors', 10),
    backpressureLimit: int('backpressure-limit', 65536),
    idleTimeout,
    loginTimeoutMs: int('login-timeout-ms', 10_000),
    packetTtlMs: int('packet-ttl-ms', 86_400_000),
    expirySweepMs: int('expiry-sweep-ms', 1000),
    retainExpiredMs: int('retain-expired-ms', 86_400_000),
    semiSpaceMb,
    monitor,
    redis,
    nodeId,
    redisNat,
    readyFile: values['ready-file'] === undefined ? null : path.resolve(str('ready-file', '')),
    allowUwsFallback: values['allow-uws-fallback'] === true,
    help: values.help === true,
  };
}
