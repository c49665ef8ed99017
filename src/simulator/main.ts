// `hongbao clients`: one coordinated simulator process (see --help).
import { readFileSync, writeFileSync } from 'node:fs';
import { FlagError, type FlagValues, Flags, runCommand } from '../cli/flags.ts';
import { closeControl, portOf, startControl } from './control.ts';
import { MonitorPusher } from '../monitor/push.ts';
import { MAX_TOTAL_USERS } from './schedule.ts';
import { createGenerator, defaultGenerator, GENERATORS, type GeneratorKind } from './generator.ts';
import { DEFAULT_USERS_PER_WORKER, MAX_USERS_PER_WORKER } from './native/coordinator.ts';

const flags = new Flags(
  'hongbao clients --users FROM-TO [flags]',
  `Simulates users FROM..TO (of --total) against --server, each with its own connection and token.
Every process derives from the shared clock which users shake in each second, so processes started
with disjoint ranges together send exactly --qps shakes per second, spread over the second.
Notified group packets are opened at once. Prints {"event":"ready",...} on stdout when its control
port listens, and its final tally (JSON) on stdout or in --out when stopped (SIGTERM, SIGINT,
POST /stop on the control port, or --duration).

Two generators answer the same control port and write the same tally:
  ts      every socket a Node socket in this process (~14 KB per connection, ~19,500 at most)
  native  this process coordinates; the sockets live in ceil(users / --users-per-worker) Rust
          worker processes (target/release/hongbao-loadgen, built by \`npm run build:native\`):
          one epoll thread each, a few dozen bytes per connection (docs/simulator.md)`,
  `control port (127.0.0.1): GET /qps, GET /qps?qps=N[&at=UNIX_SECOND], GET /stats, POST /stop[?drainMs=N]

--users-per-address: fewer sockets per source address keep the kernel's port search in connect()
cheap (19,000 users connect in ~5 s instead of ~14 s here); auto is 4000 when the server is on
loopback, else off.`,
)
  .string('server', 'WebSocket URL of the server', { default: 'ws://127.0.0.1:8080/ws', value: 'URL' })
  .range('users', 'user ids this process simulates, inclusive', { min: 1, required: true })
  .int('total', 'users in the whole experiment, all processes together (default: TO)', { min: 1, max: MAX_TOTAL_USERS })
  .int('qps', 'target shakes per second for the whole experiment', { default: 0, min: 0 })
  .string('secret-file', 'server secret for minting user tokens (default: $HONGBAO_SECRET, else data/secret)', { value: 'PATH' })
  .string('monitor', 'push per-second counters to URL/push', { value: 'URL' })
  .int('control-port', 'HTTP control port on 127.0.0.1 (0: any free port)', { default: 0, min: 0, max: 65535 })
  .string('id', 'name in the monitor and the tally (default clients-FROM-TO)', { value: 'NAME' })
  .string('out', 'write the final tally here instead of stdout', { value: 'FILE' })
  .int('duration', 'stop by itself after S seconds (0: run until stopped)', { default: 0, min: 0, value: 'S' })
  .int('connect-concurrency', 'handshakes in flight at once (native: per worker)', { default: 256, min: 1 })
  .intOr('users-per-address', 'spread connections over 127.1.x.y source addresses, N users each (0: off)', 'auto', { default: 'auto', min: 0 })
  .string('generator', 'which generator holds the sockets (default: $HONGBAO_GENERATOR, else native)', { choices: GENERATORS, value: GENERATORS.join('|') })
  .int('users-per-worker', 'native: users per worker process (20,000 open files per process here)', {
    default: DEFAULT_USERS_PER_WORKER,
    min: 1,
    max: MAX_USERS_PER_WORKER,
  })
  .int(
    'worker-tick-us',
    'native: a worker wakes at most once per N µs, reading the answers that came meanwhile in one pass: fewer system calls, latencies read up to N µs late (0: it wakes for every answer)',
    { default: 0, min: 0 },
  )
  .int('token-ttl', 'lifetime of minted tokens in seconds', { default: 86_400, min: 1, value: 'S' })
  .int('timeout-ms', 'handshake + login deadline per connection', { default: 15_000, min: 1 })
  .bool('quiet', 'no progress lines on stderr');

function readSecret(file: string | undefined): string {
  if (file) return readFileSync(file, 'utf8').trim();
  if (process.env.HONGBAO_SECRET) return process.env.HONGBAO_SECRET;
  return readFileSync('data/secret', 'utf8').trim();
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host.startsWith('127.') || host === '[::1]' || host === '::1';
}

async function run(values: FlagValues<typeof flags>): Promise<number> {
  const { from, to } = values.users;
  const total = values.total ?? to;
  if (to > total) throw new FlagError(`--users ${from}-${to} must lie inside 1..--total (${total} <= ${MAX_TOTAL_USERS})`);
  const generator = (values.generator as GeneratorKind | undefined) ?? defaultGenerator();
  if (!GENERATORS.includes(generator)) throw new FlagError(`--generator must be ts or native, got "${generator}"`);
  const usersPerWorker = values.usersPerWorker;
  if (generator === 'ts' && to - from + 1 > 19_500)
    process.stderr.write(`hongbao clients: warning: ${to - from + 1} connections in one process is above the ~19,900 open-file limit here\n`);
  const server = new URL(values.server);
  const target = {
    host: server.hostname,
    port: Number(server.port || (server.protocol === 'wss:' ? 443 : 80)),
    path: server.pathname + server.search,
    timeoutMs: values.timeoutMs,
  };
  const perAddress = values.usersPerAddress;
  const usersPerSourceAddress = perAddress === 'auto' ? (isLoopback(server.hostname) ? 4000 : 0) : perAddress;
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
      qps: values.qps,
      secret: readSecret(values.secretFile),
      tokenTtlSeconds: values.tokenTtl,
      connectConcurrency: values.connectConcurrency,
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
      tickMicros: values.workerTickUs,
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

  const control = await startControl(values.controlPort, {
    qps: () => sim.qps(),
    setQps: (qps, at) => sim.setQps(qps, at),
    stats: () => sim.stats(),
    stop,
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void stop(3000));
  await sim.start();
  const ready = { event: 'ready', id, pid: process.pid, controlPort: portOf(control), users: { from, to, total }, generator, workerPids: sim.pids };
  process.stdout.write(`${JSON.stringify(ready)}\n`);
  if (values.duration > 0) setTimeout(() => void stop(3000), values.duration * 1000).unref();
  const code = await done;
  await closeControl(control);
  pusher?.close();
  return code;
}

/** Flag mistakes exit 2 with the reason; everything else propagates (exit 1). */
export function main(argv: string[]): Promise<number> {
  return runCommand('hongbao clients', flags, argv, run);
}
