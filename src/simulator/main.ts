// `hongbao clients`: one coordinated simulator process (see --help).
import { parseArgs } from 'node:util';
import { readFileSync, writeFileSync } from 'node:fs';
import { closeControl, portOf, startControl } from './control.ts';
import { MonitorPusher } from '../monitor/push.ts';
import { MAX_TOTAL_USERS } from './schedule.ts';
import { createGenerator, GENERATORS, type GeneratorKind } from './generator.ts';
import { DEFAULT_USERS_PER_WORKER, MAX_USERS_PER_WORKER } from './native/coordinator.ts';

const HELP = `usage: hongbao clients --users FROM-TO [flags]

Simulates users FROM..TO (of --total) against --server, each with its own connection and token.
Every process derives from the shared clock which users shake in each second, so processes started
with disjoint ranges together send exactly --qps shakes per second, spread over the second.
Notified group packets are opened at once. Prints {"event":"ready",...} on stdout when its control
port listens, and its final tally (JSON) on stdout or in --out when stopped (SIGTERM, SIGINT,
POST /stop on the control port, or --duration).

Two generators answer the same control port and write the same tally:
  ts      every socket a Node socket in this process (~14 KB per connection, ~19,500 at most)
  native  this process coordinates; the sockets live in ceil(users / --users-per-worker) Rust
          worker processes (target/release/hongbao-loadgen, built by \`npm run build:native\`):
          one epoll thread each, a few dozen bytes per connection (docs/simulator.md)

flags:
  --server URL            WebSocket URL of the server (default ws://127.0.0.1:8080/ws)
  --users FROM-TO         user ids this process simulates, inclusive (required)
  --total N               users in the whole experiment, all processes together (default: TO)
  --qps N                 target shakes per second for the whole experiment (default 0)
  --secret-file PATH      server secret for minting user tokens (default: $HONGBAO_SECRET, else data/secret)
  --monitor URL           push per-second counters to URL/push
  --control-port N        HTTP control port on 127.0.0.1 (default 0: any free port)
                            GET /qps, GET /qps?qps=N[&at=UNIX_SECOND], GET /stats, POST /stop[?drainMs=N]
  --id NAME               name in the monitor and the tally (default clients-FROM-TO)
  --out FILE              write the final tally here instead of stdout
  --duration S            stop by itself after S seconds (default 0: run until stopped)
  --connect-concurrency N handshakes in flight at once (default 256; native: per worker)
  --users-per-address N   spread connections over 127.1.x.y source addresses, N users each (0: off);
                            "auto" (default): 4000 when the server is on loopback, else off. Fewer
                            sockets per source address keep the kernel's port search in connect()
                            cheap (19,000 users connect in ~5 s instead of ~14 s here)
  --generator ts|native   which generator holds the sockets (default: $HONGBAO_GENERATOR, else ts)
  --users-per-worker N    native: users per worker process (default ${DEFAULT_USERS_PER_WORKER}, at most ${MAX_USERS_PER_WORKER}:
                            20,000 open files per process here)
  --worker-tick-us N      native: a worker wakes at most once per N µs, reading the answers that came
                            meanwhile in one pass: fewer system calls, latencies read up to N µs
                            late (default 0: it wakes for every answer)
  --token-ttl S           lifetime of minted tokens in seconds (default 86400)
  --timeout-ms N          handshake + login deadline per connection (default 15000)
  --quiet                 no progress lines on stderr
  -h, --help              this text
`;

export function parseRange(text: string): { from: number; to: number } {
  const m = /^(\d+)-(\d+)$/.exec(text.trim());
  if (!m) throw new UsageError(`--users must look like FROM-TO, got "${text}"`);
  const from = Number(m[1]);
  const to = Number(m[2]);
  if (from < 1 || to < from) throw new UsageError(`--users ${text}: need 1 <= FROM <= TO`);
  return { from, to };
}

function intFlag(name: string, value: string | undefined, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min}, got "${value}"`);
  return n;
}

function readSecret(file: string | undefined): string {
  if (file) return readFileSync(file, 'utf8').trim();
  if (process.env.HONGBAO_SECRET) return process.env.HONGBAO_SECRET;
  return readFileSync('data/secret', 'utf8').trim();
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host.startsWith('127.') || host === '[::1]' || host === '::1';
}

async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      server: { type: 'string', default: 'ws://127.0.0.1:8080/ws' },
      users: { type: 'string' },
      total: { type: 'string' },
      qps: { type: 'string' },
      'secret-file': { type: 'string' },
      monitor: { type: 'string' },
      'control-port': { type: 'string' },
      id: { type: 'string' },
      out: { type: 'string' },
      duration: { type: 'string' },
      'connect-concurrency': { type: 'string' },
      'users-per-address': { type: 'string', default: 'auto' },
      'token-ttl': { type: 'string' },
      generator: { type: 'string' },
      'users-per-worker': { type: 'string' },
      'worker-tick-us': { type: 'string' },
      'timeout-ms': { type: 'string' },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (!values.users) {
    process.stderr.write(`hongbao clients: --users FROM-TO is required\n\n${HELP}`);
    return 2;
  }
  const { from, to } = parseRange(values.users);
  const total = intFlag('total', values.total, to, 1);
  if (to > total || total > MAX_TOTAL_USERS) throw new UsageError(`--users ${from}-${to} must lie inside 1..--total (${total} <= ${MAX_TOTAL_USERS})`);
  const generator = (values.generator ?? process.env.HONGBAO_GENERATOR ?? 'ts') as GeneratorKind;
  if (!GENERATORS.includes(generator)) throw new UsageError(`--generator must be ts or native, got "${generator}"`);
  const usersPerWorker = intFlag('users-per-worker', values['users-per-worker'], DEFAULT_USERS_PER_WORKER, 1);
  if (usersPerWorker > MAX_USERS_PER_WORKER) throw new UsageError(`--users-per-worker must be at most ${MAX_USERS_PER_WORKER}, got ${usersPerWorker}`);
  if (generator === 'ts' && to - from + 1 > 19_500)
    process.stderr.write(`hongbao clients: warning: ${to - from + 1} connections in one process is above the ~19,900 open-file limit here\n`);
  const server = new URL(values.server ?? 'ws://127.0.0.1:8080/ws');
  const target = {
    host: server.hostname,
    port: Number(server.port || (server.protocol === 'wss:' ? 443 : 80)),
    path: server.pathname + server.search,
    timeoutMs: intFlag('timeout-ms', values['timeout-ms'], 15_000, 1),
  };
  const perAddressFlag = values['users-per-address'] ?? 'auto';
  const usersPerSourceAddress = perAddressFlag === 'auto' ? (isLoopback(server.hostname) ? 4000 : 0) : intFlag('users-per-address', perAddressFlag, 0);
  const id = values.id ?? `clients-${from}-${to}`;
  const quiet = values.quiet;
  const log = (line: string) => process.stderr.write(`[${id}] ${line}\n`);
  const pusher = values.monitor ? new MonitorPusher(values.monitor) : null;

  const sim = createGenerator(
    generator,
    {
      id,
      target,
      from,
      to,
      total,
      qps: intFlag('qps', values.qps, 0),
      secret: readSecret(values['secret-file']),
      tokenTtlSeconds: intFlag('token-ttl', values['token-ttl'], 86_400, 1),
      connectConcurrency: intFlag('connect-concurrency', values['connect-concurrency'], 256, 1),
      usersPerSourceAddress,
      log,
      onSecond(second, counters) {
        void pusher?.push({ source: 'client', id, second, counters: { ...counters } });
        if (!quiet && second % 5 === 0) {
          log(
            `${new Date(second * 1000).toISOString().slice(11, 19)} connected ${counters.connected} sent ${counters.sent}/s ` +
              `hits ${counters.hits} misses ${counters.misses} overloaded ${counters.overloaded} opens ${counters.opens} ` +
              `p50 ${counters.p50Ms} ms p99 ${counters.p99Ms} ms`,
          );
        }
      },
    },
    {
      usersPerWorker,
      tickMicros: intFlag('worker-tick-us', values['worker-tick-us'], 0),
      onFailure(err) {
        log(`${err.message}; exiting`);
        process.exit(1);
      },
    },
  );

  let finished: Promise<unknown> | null = null;
  let exitNow: (code: number) => void = () => {};
  const done = new Promise<number>((resolve) => (exitNow = resolve));
  const stop = (drainMs: number) => {
    finished ??= sim.stop(drainMs).then((tally) => {
      const text = JSON.stringify(tally);
      if (values.out) writeFileSync(values.out, `${text}\n`);
      else process.stdout.write(`${text}\n`);
      setImmediate(() => exitNow(0));
      return tally;
    });
    return finished;
  };

  const control = await startControl(intFlag('control-port', values['control-port'], 0), {
    qps: () => sim.qps(),
    setQps: (qps, at) => sim.setQps(qps, at),
    stats: () => sim.stats(),
    stop,
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void stop(3000));
  await sim.start();
  const ready = { event: 'ready', id, pid: process.pid, controlPort: portOf(control), users: { from, to, total }, generator, workerPids: sim.pids };
  process.stdout.write(`${JSON.stringify(ready)}\n`);
  const duration = intFlag('duration', values.duration, 0);
  if (duration > 0) setTimeout(() => void stop(3000), duration * 1000).unref();
  const code = await done;
  await closeControl(control);
  pusher?.close();
  return code;
}

class UsageError extends Error {}

/** Flag mistakes exit 2 with the reason; everything else propagates (exit 1). */
export async function main(argv: string[]): Promise<number> {
  try {
    return await run(argv);
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`hongbao clients: ${(err as Error).message} (hongbao clients --help)\n`);
      return 2;
    }
    throw err;
  }
}
