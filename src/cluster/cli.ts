// `hongbao cluster up | down`: a local cluster (a Redis Cluster and N access nodes on one public
// port) started and stopped by the project. `up` stays in the foreground as its supervisor
// (restarting what dies), prints one JSON ready line, and writes <dir>/cluster.json so that
// `down --dir <dir>` (from anywhere) can stop it; SIGINT/SIGTERM stop it too.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { mintToken } from '../auth/token.ts';
import { Flags, runCommand } from '../cli/flags.ts';
import { stopSignal } from '../process/signals.ts';
import { LocalCluster, pageLink } from './local-cluster.ts';

const upFlags = new Flags(
  'hongbao cluster up --dir DIR [flags]',
  'Starts a Redis Cluster (Debian redis-server, AOF on, free loopback ports) and N access nodes sharing\none public port, all under DIR; prints {"event":"ready",...} and supervises until stopped.',
)
  .string('dir', 'where the cluster keeps everything (Redis data, node journals, logs, secrets)', { required: true })
  .int('nodes', 'access nodes', { default: 3, min: 1, max: 200 })
  .int('port', 'public port of every node (0: a free one)', { default: 0, min: 0, max: 65535 })
  .int('masters', 'Redis masters', { default: 3, min: 3 })
  .int('replicas', 'replicas per master', { default: 1, min: 0, max: 5 })
  .int('node-timeout-ms', "Redis cluster-node-timeout: how soon a dead master's replica takes over", { default: 2000, min: 100 })
  .int('restart-delay-ms', 'restart a node or Redis instance that died after this long (0: never)', { default: 1000, min: 0 })
  .int('spare-user', 'the user of the sign-in link printed for a person (the page at /)', { default: 4_000_000_000, min: 1 })
  .string('monitor', 'every node pushes its per-second counters to URL/push', { value: 'URL' })
  .list('node-args', 'Node flags for the access node processes (e.g. --max-semi-space-size=1)', { value: 'F[,F]' });

const downFlags = new Flags('hongbao cluster down --dir DIR', 'Stops the cluster `hongbao cluster up --dir DIR` started.').string(
  'dir',
  'the directory given to `cluster up`',
  { required: true },
);

/** <dir>/cluster.json: what `down` stops and where `ledger check --cluster --dir` looks. */
export interface StateFile {
  supervisor: number;
  redis: number[];
  nodes: number[];
  redisUrls: string[];
  journals: string[];
}

const log = (m: string) => process.stderr.write(`hongbao cluster: ${m}\n`);

async function up(argv: string[]): Promise<number> {
  return runCommand('hongbao cluster up', upFlags, argv, async (v) => {
    const dir = path.resolve(v.dir);
    const stateFile = path.join(dir, 'cluster.json');
    if (existsSync(stateFile)) {
      const state = JSON.parse(readFileSync(stateFile, 'utf8')) as StateFile;
      if (alive(state.supervisor)) {
        log(`a cluster already runs in ${dir} (supervisor pid ${state.supervisor}); stop it with: hongbao cluster down --dir ${dir}`);
        return 1;
      }
    }
    const cluster = await LocalCluster.start({
      dir,
      nodes: v.nodes,
      port: v.port,
      masters: v.masters,
      replicasPerMaster: v.replicas,
      nodeTimeoutMs: v.nodeTimeoutMs,
      restartDelayMs: v.restartDelayMs,
      serverArgs: v.monitor ? ['--monitor', v.monitor] : [],
      nodeArgs: v.nodeArgs,
      log,
    }).catch((err: Error) => {
      log(`could not start: ${err.message}`);
      return null;
    });
    if (cluster === null) return 1;
    const writeState = () => {
      const p = cluster.pids();
      const state: StateFile = {
        supervisor: process.pid,
        redis: p.redis,
        nodes: p.nodes,
        redisUrls: cluster.redis.urls,
        journals: cluster.nodes.map((n) => path.join(n.dataDir, 'journal.db')),
      };
      writeFileSync(stateFile, `${JSON.stringify(state)}\n`);
    };
    writeState();
    const stateTimer = setInterval(writeState, 2000); // restarted processes get new pids
    const token = mintToken(cluster.secret, v.spareUser, Date.now() / 1000 + 86_400);
    const ready = {
      event: 'ready',
      pid: process.pid,
      dir,
      port: cluster.port,
      ws: cluster.wsUrl(),
      redis: cluster.redis.urls,
      nodes: cluster.nodes.map((n) => ({ name: n.name, pid: n.child?.pid ?? null, adminPort: n.adminPort, dataDir: n.dataDir })),
      secretFile: cluster.secretFile,
      adminTokenFile: cluster.adminTokenFile,
      page: pageLink(cluster.port, v.spareUser, token),
    };
    log(
      `${v.nodes} access node(s) on ws://127.0.0.1:${cluster.port}/ws, admin on ${cluster.nodes.map((n) => n.adminPort).join(', ')}; Redis ${cluster.redis.urls.join(' ')}`,
    );
    log(`the shake page, signed in as spare user ${v.spareUser}: ${ready.page}`);
    log(`stop with Ctrl-C or: hongbao cluster down --dir ${dir}`);
    const signalled = stopSignal();
    process.stdout.write(`${JSON.stringify(ready)}\n`);
    const signal = await signalled;
    log(`${signal}: stopping the nodes (their leases go back), then Redis`);
    clearInterval(stateTimer);
    await cluster.stop();
    rmSync(stateFile, { force: true });
    log('stopped');
    return 0;
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function down(argv: string[]): Promise<number> {
  return runCommand('hongbao cluster down', downFlags, argv, async (v) => {
    const stateFile = path.join(path.resolve(v.dir), 'cluster.json');
    if (!existsSync(stateFile)) {
      log(`no cluster runs in ${v.dir} (no ${stateFile})`);
      return 1;
    }
    const state = JSON.parse(readFileSync(stateFile, 'utf8')) as StateFile;
    if (alive(state.supervisor)) {
      process.kill(state.supervisor, 'SIGTERM');
      for (let waited = 0; alive(state.supervisor) && waited < 90_000; waited += 200) await new Promise((r) => setTimeout(r, 200));
    }
    // whatever is left (a supervisor that was killed, or did not finish): by pid, from its own list
    const left = [...state.nodes, ...state.redis].filter(alive);
    for (const pid of left) process.kill(pid, 'SIGKILL');
    rmSync(stateFile, { force: true });
    log(left.length > 0 ? `stopped; ${left.length} process(es) had to be killed` : 'stopped');
    return 0;
  });
}

export async function main(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'up') return up(rest);
  if (sub === 'down') return down(rest);
  process.stderr.write('usage: hongbao cluster up --dir DIR [--nodes N ...] | hongbao cluster down --dir DIR   (hongbao cluster up --help)\n');
  return sub === '--help' || sub === '-h' ? 0 : 2;
}
