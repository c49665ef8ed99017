// `hongbao server` flags: one table (src/cli/flags.ts) holds every flag, its default and its bounds,
// and prints --help; the checks that span flags, and the defaults computed at start (threads, the
// node id, the ledger file), come after it.
import { createHash } from 'node:crypto';
import { availableParallelism, hostname } from 'node:os';
import path from 'node:path';
import { FlagError, Flags } from '../cli/flags.ts';
import { parseNatMap } from '../cluster/nat.ts';
import { MAX_CEILING } from './counters.ts';
import { DEFAULT_LOOP_SAMPLE_MS, LOOP_SAMPLE_MS_RANGE } from './thread-gauges.ts';

const SPLIT_MODES = ['double-mean', 'line-segment'] as const;

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
  loopSampleMs: number;
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
  /** Run on a worker thread with a descriptor table of its own (src/server/private-fds.ts). */
  privateFds: boolean;
  help: boolean;
}

export { FlagError } from '../cli/flags.ts';

const FLAGS = new Flags(
  'hongbao server [flags]',
  `The access server: one WebSocket per user (binary protocol, docs/protocol.md), HTTP /v1/shake,
/v1/open, /v1/packets/:id, and the admin API (docs/admin-api.md) on its own port.`,
  `environment:
  HONGBAO_ENGINE=native|ts   packet engine (default native)
  HONGBAO_SECRET             token secret (else <data>/secret, generated with mode 0600)
  HONGBAO_ADMIN_TOKEN        admin token (else <data>/admin-token, generated with mode 0600)

On start it prints one JSON line on stdout: {"event":"ready","port":...,"adminPort":...}.
SIGINT/SIGTERM: stop accepting, finish pending batches, close the ledger, exit 0.`,
)
  .int('port', 'public port: WebSocket /ws, HTTP /v1/*, GET /health (0 = any free port)', { default: 8080, min: 0, max: 65535 })
  .string('host', 'public address to bind', { default: '0.0.0.0', value: 'ADDR' })
  .int('admin-port', 'admin API port (0 = any free port)', { default: 8081, min: 0, max: 65535 })
  .string('admin-host', 'admin API address', { default: '127.0.0.1', value: 'ADDR' })
  .string('data', 'data directory: hongbao.db, secret, admin-token', { default: './data', value: 'DIR' })
  .string('db', 'ledger database file (default <data>/hongbao.db)', { value: 'FILE' })
  .int('threads', 'worker threads, one uWS app each on the same port (default: available cores; always 1 with HONGBAO_ENGINE=ts)', { min: 1 })
  .int('shards', 'engine shards', { default: 64, min: 1 })
  .int('seed', 'engine seed, 32-bit (default: from the OS entropy)', { min: 0, max: 0xffffffff })
  .string('split-mode', 'how every group packet is split', { default: 'double-mean', choices: SPLIT_MODES, value: SPLIT_MODES.join('|') })
  .int('max-shakes-per-second', 'shake ceiling over all threads; above it shakes are answered Overloaded at once (0 = none)', {
    default: 0,
    min: 0,
    max: MAX_CEILING,
  })
  .int('max-payload', 'largest WebSocket message accepted; larger closes the connection', { default: 8192, min: 64, value: 'BYTES' })
  .int('max-messages-per-second', 'per connection; above it frames are answered Error RateLimited', { default: 50, min: 1 })
  .int('max-errors', 'Error frames a connection may earn per minute before it is closed with 4005', { default: 10, min: 1 })
  .int('backpressure-limit', 'outgoing buffer above which a slow reader is closed with 4008', { default: 65536, min: 1024, value: 'BYTES' })
  .int('idle-timeout', 'close silent connections after this (pings sent automatically); 0 or >= 8', { default: 120, min: 0, value: 'SECONDS' })
  .int('login-timeout-ms', 'a connection must log in within this, else 4003', { default: 10_000, min: 100, value: 'MS' })
  .int('packet-ttl-ms', 'expiry of group packets created over WebSocket (86400000 = 24 h)', { default: 86_400_000, min: 1, value: 'MS' })
  .int('expiry-sweep-ms', 'how often expired group packets are refunded', { default: 1000, min: 10, value: 'MS' })
  .int(
    'loop-sample-ms',
    'how often each thread samples its event-loop delay (each sample wakes an idle thread; a stall may be reported up to this much short)',
    { default: DEFAULT_LOOP_SAMPLE_MS, ...LOOP_SAMPLE_MS_RANGE, value: 'MS' },
  )
  .int(
    'retain-expired-ms',
    'an expired group packet stays in memory this long after its expiry (exact answers to late opens, details); then only the ledger has it (86400000 = 24 h)',
    { default: 86_400_000, min: 0, value: 'MS' },
  )
  .int(
    'semi-space-mb',
    'V8 semi-space of the app worker threads, fixed so their heaps do not swell and shrink with the load (0 = V8 sizes it; with one thread the app runs on the main thread, which keeps V8 sizing)',
    { default: 8, min: 0, max: 128, value: 'MB' },
  )
  .string('monitor', 'POST per-second counters to URL/push', { value: 'URL' })
  .list(
    'redis',
    'run as one access node of a cluster whose supply and group packets live on this Redis Cluster (redis://host:port of any of its instances; docs/cluster.md); the ledger is then the node journal <data>/journal.db',
    { value: 'URL[,URL...]' },
  )
  .list('redis-nat', 'reach the Redis instance announcing itself as H:P at the other H:P instead (NAT, a proxy); with --redis', { value: 'H:P=H:P[,...]' })
  .string('node-id', "this access node's name in the cluster, kept across restarts (default: host name and data directory)", { value: 'NAME' })
  .string('ready-file', 'write the ready JSON line there once listening (it is also printed on stdout)', { value: 'PATH' })
  .bool('allow-uws-fallback', 'start even if uWS fell back to its slow JavaScript implementation')
  .bool(
    'private-fds',
    "run on a worker thread with a descriptor table of its own: its sockets are then listed under /proc/PID/task/TID/fd, not in /proc/PID/fd (walked every second by this machine's agent; docs/server.md); the main thread runs the ledger writer",
  );

/** Every flag name, without the dashes. */
export const FLAG_NAMES: readonly string[] = FLAGS.names();

export function helpText(): string {
  return FLAGS.help();
}

/** Parse and check `argv`; a mistake is a FlagError naming the flag. */
export function parseFlags(argv: string[]): ServerFlags {
  const v = FLAGS.parse(argv);
  const dataDir = path.resolve(v.data);
  const redis = v.redis.length === 0 ? null : v.redis;
  for (const u of redis ?? []) if (!/^(redis:\/\/)?[^\s/:]+:\d+\/?$/.test(u)) throw new FlagError(`--redis addresses look like redis://host:port, got "${u}"`);
  let redisNat: ServerFlags['redisNat'] = {};
  try {
    redisNat = parseNatMap(v.redisNat);
  } catch (err) {
    throw new FlagError(`--redis-nat: ${(err as Error).message}`);
  }
  const nodeId = v.nodeId ?? `${hostname()}-${createHash('sha256').update(dataDir).digest('hex').slice(0, 8)}`;
  if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(nodeId)) throw new FlagError(`--node-id must be 1-64 letters, digits or _.:- , got "${nodeId}"`);
  if (v.idleTimeout > 0 && v.idleTimeout < 8) throw new FlagError(`--idle-timeout must be 0 or >= 8 (uWS aborts on 1..7), got ${v.idleTimeout}`);
  if (v.monitor !== undefined && !/^https?:\/\/[^\s]+$/.test(v.monitor)) throw new FlagError(`--monitor must be an http(s) URL, got "${v.monitor}"`);
  if (v.port !== 0 && v.port === v.adminPort) throw new FlagError('--port and --admin-port must differ');

  return {
    host: v.host,
    port: v.port,
    adminHost: v.adminHost,
    adminPort: v.adminPort,
    dataDir,
    dbFile: path.resolve(v.db ?? path.join(dataDir, redis ? 'journal.db' : 'hongbao.db')),
    threads: v.threads ?? availableParallelism(),
    threadsGiven: v.threads !== undefined,
    shards: v.shards,
    seed: v.seed,
    splitMode: v.splitMode,
    maxShakesPerSecond: v.maxShakesPerSecond,
    maxPayload: v.maxPayload,
    maxMessagesPerSecond: v.maxMessagesPerSecond,
    maxErrors: v.maxErrors,
    backpressureLimit: v.backpressureLimit,
    idleTimeout: v.idleTimeout,
    loginTimeoutMs: v.loginTimeoutMs,
    packetTtlMs: v.packetTtlMs,
    expirySweepMs: v.expirySweepMs,
    loopSampleMs: v.loopSampleMs,
    retainExpiredMs: v.retainExpiredMs,
    semiSpaceMb: v.semiSpaceMb,
    monitor: v.monitor ?? null,
    redis,
    nodeId,
    redisNat,
    readyFile: v.readyFile === undefined ? null : path.resolve(v.readyFile),
    allowUwsFallback: v.allowUwsFallback,
    privateFds: v.privateFds,
    help: v.help,
  };
}
