// A local Redis Cluster the project starts for itself: N masters with R replicas each (3 + 3 by
// default) of Debian's `redis-server`, each in its own directory under `dir` on free loopback
// ports (port and port + 10000 for the cluster bus), AOF on, formed with `redis-cli --cluster
// create`, the hongbao function library loaded on every master. Never a system service.
//
// Settings that matter for money (docs/cluster.md): `min-replicas-to-write 1` (a master without a
// live replica refuses writes at once instead of taking one it may lose), a short
// `cluster-node-timeout` (a dead master's replica takes over within seconds) and
// `cluster-require-full-coverage no` (the slots of a master that is down are refused; all others
// go on). A `supervise`d cluster restarts an instance that died, so that it rejoins as the replica
// of whoever took over and its shard can accept writes again.
//
// Every instance runs at a higher CPU priority than the access nodes when the OS allows it
// (REDIS_NICE): each write waits for a replica's acknowledgement (WAIT 1, 500 ms), and with 56
// nodes and their clients all runnable on 2 cores an idle replica waited its turn long enough for
// the WAITs of a million-user run to time out (ids, notifications and leases refused, hits in doubt).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { type Child, ChildSet } from '../process/child.ts';
import { freePorts } from '../process/free-port.ts';
import { PriorityRaiser } from '../process/priority.ts';
import { LIBRARY_SOURCE } from './library.ts';

export interface RedisClusterOptions {
  dir: string;
  masters?: number;
  replicasPerMaster?: number;
  /** cluster-node-timeout: how long a master may be silent before its replica takes over. Default 2000. */
  nodeTimeoutMs?: number;
  /** Restart an instance that died (after this many ms; 0 = never). Default 1000. */
  restartDelayMs?: number;
  log?: (message: string) => void;
}

export interface RedisInstance {
  port: number;
  dir: string;
  child: Child | null;
}

const HOST = '127.0.0.1';
/** Redis Cluster's bus port is the client port + 10000 (its default). */
const BUS_PORT_OFFSET = 10_000;
/** The instances' nice value (the nodes run at 0): Redis is woken first when both are runnable. */
export const REDIS_NICE = -10;

/** The `redis-server` to run: REDIS_SERVER, else the one on PATH; a clear error if there is none. */
export function redisBinaries(): { server: string; cli: string } {
  const find = (name: string, env: string | undefined) => {
    if (env) return env;
    const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
    const found = r.stdout.trim();
    if (r.status !== 0 || !found) throw new Error(`${name} not found: install Debian's redis-server (apt-get install redis-server)`);
    return found;
  };
  return { server: find('redis-server', process.env.REDIS_SERVER), cli: find('redis-cli', process.env.REDIS_CLI) };
}

export class RedisCluster {
  readonly instances: RedisInstance[] = [];
  private readonly children = new ChildSet();
  private readonly bin = redisBinaries();
  private stopping = false;
  private readonly log: (message: string) => void;
  private readonly priority: PriorityRaiser;

  private constructor(private readonly o: Required<Omit<RedisClusterOptions, 'log'>> & Pick<RedisClusterOptions, 'log'>) {
    this.log = o.log ?? (() => undefined);
    this.priority = new PriorityRaiser('redis', REDIS_NICE, this.log);
  }

  /** Start, form and load a new cluster under `dir`. */
  static async start(options: RedisClusterOptions): Promise<RedisCluster> {
    const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as RedisClusterOptions;
    const c = new RedisCluster({ masters: 3, replicasPerMaster: 1, nodeTimeoutMs: 2000, restartDelayMs: 1000, ...given });
    try {
      await c.boot();
    } catch (err) {
      await c.stop();
      throw err;
    }
    return c;
  }

  /** host:port of every instance (any of them lets a client discover the cluster). */
  get urls(): string[] {
    return this.instances.map((i) => `redis://${HOST}:${i.port}`);
  }

  get pids(): number[] {
    return this.instances.flatMap((i) => (i.child?.running ? [i.child.pid] : []));
  }

  private async boot(): Promise<void> {
    const n = this.o.masters * (1 + this.o.replicasPerMaster);
    if (this.o.masters < 3) throw new Error('a Redis Cluster needs at least 3 masters');
    const ports = await freePorts(n, BUS_PORT_OFFSET, HOST);
    for (const port of ports) {
      const dir = path.join(this.o.dir, `redis-${port}`);
      mkdirSync(dir, { recursive: true });
      this.instances.push({ port, dir, child: null });
    }
    await Promise.all(this.instances.map((i) => this.launch(i)));
    const addrs = ports.map((p) => `${HOST}:${p}`);
    const create = spawnSync(this.bin.cli, ['--cluster', 'create', ...addrs, '--cluster-replicas', String(this.o.replicasPerMaster), '--cluster-yes'], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stdout.slice(-600)}${create.stderr.slice(-600)}`);
    await this.waitHealthy(30_000);
    for (const port of this.masterPorts()) this.cli(port, ['FUNCTION', 'LOAD', 'REPLACE', LIBRARY_SOURCE]);
    this.log(`redis cluster up: ${this.o.masters} masters + ${this.o.masters * this.o.replicasPerMaster} replicas on ports ${ports.join(', ')}`);
  }

  private async launch(i: RedisInstance): Promise<void> {
    const args = [
      '--port',
      String(i.port),
      '--bind',
      HOST,
      '--dir',
      i.dir,
      '--daemonize',
      'no',
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      'nodes.conf',
      '--cluster-node-timeout',
      String(this.o.nodeTimeoutMs),
      '--cluster-require-full-coverage',
      'no',
      '--appendonly',
      'yes',
      '--appendfsync',
      'everysec',
      '--save',
      '',
      '--min-replicas-to-write',
      '1',
      '--min-replicas-max-lag',
      '10',
      '--logfile',
      '',
    ];
    const child = await this.children.start({
      name: `redis-${i.port}`,
      command: this.bin.server,
      args,
      logFile: path.join(i.dir, 'redis.log'),
      readyTimeoutMs: 0,
    });
    i.child = child;
    this.priority.raise(child.pid);
    await this.waitPing(i.port, 10_000);
    void child.exited.then((exit) => {
      if (this.stopping || i.child !== child) return;
      this.log(`redis ${i.port} exited (${exit.status})${this.o.restartDelayMs > 0 ? `; restarting it in ${this.o.restartDelayMs} ms` : ''}`);
      if (this.o.restartDelayMs > 0) setTimeout(() => void this.relaunch(i), this.o.restartDelayMs).unref();
    });
  }

  private async relaunch(i: RedisInstance): Promise<void> {
    if (this.stopping || i.child?.running) return;
    try {
      await this.launch(i);
      this.log(`redis ${i.port} restarted; it rejoins the cluster from ${path.join(i.dir, 'nodes.conf')}`);
    } catch (err) {
      this.log(`redis ${i.port} restart failed: ${(err as Error).message}`);
    }
  }

  /** redis-cli against one instance; its reply as text (an error reply throws). */
  cli(port: number, args: string[]): string {
    const out = execFileSync(this.bin.cli, ['-h', HOST, '-p', String(port), ...args], { encoding: 'utf8', timeout: 10_000 }).trim();
    if (/^(ERR|NOREPLICAS|MOVED|ASK|CLUSTERDOWN|LOADING|READONLY|BUSY|WRONGTYPE|NOPERM)\b/.test(out)) {
      throw new Error(`redis ${port} ${args[0]} ${args[1] ?? ''}: ${out.slice(0, 300)}`);
    }
    return out;
  }

  private async waitPing(port: number, ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    for (;;) {
      const r = spawnSync(this.bin.cli, ['-h', HOST, '-p', String(port), 'PING'], { encoding: 'utf8', timeout: 2000 });
      if (r.stdout?.trim() === 'PONG') return;
      if (Date.now() > deadline) throw new Error(`redis on port ${port} did not answer PING within ${ms} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Wait until every live instance says cluster_state:ok and every master has its replicas. */
  async waitHealthy(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    for (;;) {
      if (this.healthy()) return;
      if (Date.now() > deadline) throw new Error(`the redis cluster is not healthy after ${ms} ms:\n${this.describe()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** Every instance up, cluster_state ok everywhere, each master with all its replicas connected. */
  healthy(): boolean {
    try {
      for (const i of this.instances) {
        if (!i.child?.running) return false;
        if (!this.cli(i.port, ['CLUSTER', 'INFO']).includes('cluster_state:ok')) return false;
      }
      for (const port of this.masterPorts()) {
        // a replica still syncing does not count towards min-replicas-to-write
        const online = (this.cli(port, ['INFO', 'replication']).match(/^slave\d+:.*state=online/gm) ?? []).length;
        if (online < this.o.replicasPerMaster) return false;
      }
      return true;
    } catch {
      return false;
    }
  }

  /** Ports of the instances that are masters now (it changes after a failover). */
  masterPorts(): number[] {
    const live = this.instances.find((i) => i.child?.running);
    if (!live) return [];
    const nodes = this.cli(live.port, ['CLUSTER', 'NODES']);
    return nodes
      .split('\n')
      .filter((l) => /\bmaster\b/.test(l) && !/\bfail\b/.test(l))
      .map((l) => Number(/:(\d+)@/.exec(l)?.[1]))
      .filter((p) => this.instances.some((i) => i.port === p));
  }

  describe(): string {
    const live = this.instances.find((i) => i.child?.running);
    try {
      return live ? this.cli(live.port, ['CLUSTER', 'NODES']) : '(no instance running)';
    } catch (err) {
      return `(CLUSTER NODES failed: ${(err as Error).message})`;
    }
  }

  /** Kill one instance (tests and chaos: a master dying). */
  kill(port: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<unknown> {
    const i = this.instances.find((x) => x.port === port);
    if (!i?.child) throw new Error(`no redis instance on port ${port}`);
    return i.child.kill(signal);
  }

  /** The last lines of an instance's log. */
  logOf(port: number): string {
    const file = path.join(this.instances.find((i) => i.port === port)?.dir ?? '', 'redis.log');
    return existsSync(file) ? readFileSync(file, 'utf8').split('\n').slice(-20).join('\n') : '(no log)';
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.children.stopAll('SIGTERM', 10_000);
  }
}
