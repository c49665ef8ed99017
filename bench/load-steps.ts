// `npm run bench:load -- [--users N] [--seconds S] [--threads N] QPS...`
// What offered load the machine carries: for each QPS, a fresh server and one simulator process
// holding --users connections; once all are logged in, S seconds of shakes at that rate; then the
// latency (from the intended send time), what was dropped, and the CPU each side used (from
// /proc/<pid>/stat). A table on stderr, one JSON line per step on stdout. Engine: HONGBAO_ENGINE.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import path from 'node:path';
import { parseOrExit, Flags } from '../src/cli/flags.ts';
import { randomBytes } from 'node:crypto';
import { hongbaoCommand, startReady } from '../src/process/child.ts';
import { httpJson } from '../src/process/http-json.ts';
import type { FinalTally } from '../src/simulator/tally.ts';
import { table } from '../src/report/summary-table.ts';

const values = parseOrExit(
  'bench:load',
  new Flags('npm run bench:load -- [flags] [QPS...]', 'What offered load the machine carries: a fresh server and one simulator process per QPS step.')
    .int('users', 'connections of the simulator', { default: 19_000, min: 1 })
    .int('seconds', 'seconds of shakes per step', { default: 15, min: 1, value: 'S' })
    .int('threads', "server threads (default: the server's)", { min: 1 })
    .positionals('qps', 'shakes per second, one step each', { default: [10_000, 20_000, 30_000], min: 1, value: 'QPS...' }),
);
const { users, seconds } = values;
const steps = values.qps;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ticks = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime, in 1/100 s
};

const rows: string[][] = [['QPS', 'sent/s', 'dropped', 'p50 ms', 'p99 ms', 'max ms', 'server CPU %', 'simulator CPU %', 'connect s', 'load']];
for (const qps of steps) {
  const dir = mkdtempSync(path.join(tmpdir(), 'hongbao-bench-load-'));
  const env = { ...process.env, HONGBAO_SECRET: randomBytes(24).toString('base64url'), HONGBAO_ADMIN_TOKEN: randomBytes(24).toString('base64url') };
  const serverArgs = ['server', '--port', '0', '--admin-port', '0', '--data', dir, ...(values.threads ? ['--threads', String(values.threads)] : [])];
  const server = await startReady({ name: 'server', ...hongbaoCommand(serverArgs), env, logFile: path.join(dir, 'server.log') });
  const clients = await startReady({
    name: 'clients',
    ...hongbaoCommand(['clients', '--server', `ws://127.0.0.1:${server.ready.port}/ws`, '--users', `1-${users}`, '--quiet']),
    env,
    logFile: path.join(dir, 'clients.log'),
  });
  const control = `http://127.0.0.1:${clients.ready.controlPort}`;
  const t0 = Date.now();
  while ((await httpJson<{ connected: number }>(`${control}/stats`)).connected < users) await sleep(200);
  const connectSeconds = (Date.now() - t0) / 1000;
  await httpJson(`${control}/qps?qps=${qps}`);
  await sleep(1500);
  const sent = async () => (await httpJson<{ counters: { sent: number } }>(`${control}/stats`)).counters.sent;
  const serverPid = server.pid;
  const clientsPid = clients.pid;
  const s0 = ticks(serverPid);
  const c0 = ticks(clientsPid);
  const sent0 = await sent();
  const w0 = Date.now();
  await sleep(seconds * 1000);
  const wall = (Date.now() - w0) / 1000;
  const sentPerSecond = Math.round((await sent()) - sent0) / wall;
  const serverCpu = Math.round((ticks(serverPid) - s0) / wall);
  const clientCpu = Math.round((ticks(clientsPid) - c0) / wall);
  const tally = await httpJson<FinalTally>(`${control}/stop?drainMs=5000`, { method: 'POST', timeoutMs: 60_000 });
  await clients.stop('SIGTERM', 10_000, 3000);
  await server.stop('SIGTERM', 30_000);
  rmSync(dir, { recursive: true, force: true });
  const l = tally.latency;
  const result = {
    qps,
    users,
    seconds,
    engine: server.ready.engine,
    threads: server.ready.threads,
    sentPerSecond: Math.round(sentPerSecond),
    dropped: tally.counters.dropped,
    p50Ms: l.p50Ms,
    p99Ms: l.p99Ms,
    maxMs: l.maxMs,
    serverCpuPercent: serverCpu,
    simulatorCpuPercent: clientCpu,
    connectSeconds,
    load: Number(loadavg()[0].toFixed(1)),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  rows.push([qps, result.sentPerSecond, result.dropped, l.p50Ms, l.p99Ms, l.maxMs, serverCpu, clientCpu, connectSeconds.toFixed(1), result.load].map(String));
}
process.stderr.write(`${table(rows)}\n`);
