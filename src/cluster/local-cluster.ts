// A whole cluster on this machine, started by the project (`hongbao cluster up`, the rehearsal with
// --nodes, the cluster tests and benches): a Redis Cluster under <dir>/redis and N access nodes
// (`hongbao server --redis ...`), each with its own data directory <dir>/node-<i> and admin port,
// all on ONE public port (SO_REUSEPORT: the kernel spreads the users' connections over the nodes)
// and sharing the token secret and the admin token (<dir>/secret, <dir>/admin-token, mode 0600).
// A node that dies is restarted (same name, data and ports) unless restarts are off.
// Ports are picked free up front, so one can be taken before its node binds it: the running nodes'
// own connections (Redis, monitor) draw from the same ephemeral range; such a node is started on
// another admin port (seen once in 56 nodes at start-up).
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type Child, ChildFailed, ChildSet, hongbaoCommand } from '../process/child.ts';
import { freePort } from '../process/free-port.ts';
import { PriorityRaiser } from '../process/priority.ts';
import { RedisCluster } from './redis-cluster.ts';

export interface LocalClusterOptions {
  dir: string;
  nodes: number;
  /** public port of every node (0: a free one) */
  port?: number;
  /** false: each node gets a public port of its own (tests that must know where a user is) */
  sharedPort?: boolean;
  masters?: number;
  replicasPerMaster?: number;
  nodeTimeoutMs?: number;
  /** restart a node or a Redis instance that died after this long (0: never). Default 1000. */
  restartDelayMs?: number;
  /** more `hongbao server` flags for every node */
  serverArgs?: string[];
  /** and for node `index` only (e.g. a test's --redis-nat through its proxy) */
  serverArgsFor?: (index: number) => string[];
  /** called once Redis is up, before any node starts (e.g. to put a proxy in front of it) */
  beforeNodes?: (redis: RedisCluster) => Promise<void>;
  /** Node flags for the node processes (e.g. --max-semi-space-size) */
  nodeArgs?: string[];
  /** nice value of node 1, where a rehearsal sends its admin calls and runs its campaign (others: 0) */
  adminNodeNice?: number;
  env?: NodeJS.ProcessEnv;
  log?: (message: string) => void;
}

export interface NodeInfo {
  index: number;
  name: string;
  port: number;
  adminPort: number;
  dataDir: string;
  child: Child | null;
}

/** Environment every node starts with unless the caller's environment says otherwise. glibc gives
 *  each thread that allocates an arena of its own (up to 8 per core); a node's few threads (the main
 *  one, the ledger writer, V8's helpers) each kept a partly used one: one arena measured 7.6 MiB less
 *  RSS per node with 19,000 idle users (docs/benchmarks.md, bench:conns --targets node). */
const NODE_ENV_DEFAULTS = { MALLOC_ARENA_MAX: '1' };

/** Nodes started at the same time. */
const START_AT_ONCE = 4;
/** Admin ports tried for one start of a node before giving up. */
const PORT_TRIES = 5;

/** A secret kept in `file` (mode 0600), made once. */
function secretIn(file: string): string {
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const value = randomBytes(32).toString('base64url');
  writeFileSync(file, `${value}\n`, { mode: 0o600 });
  return value;
}

export class LocalCluster {
  readonly nodes: NodeInfo[] = [];
  private readonly children = new ChildSet();
  private stopping = false;
  port = 0;
  readonly secret: string;
  readonly adminToken: string;
  readonly secretFile: string;
  readonly adminTokenFile: string;
  private readonly log: (message: string) => void;
  private readonly adminPriority: PriorityRaiser | null;

  private constructor(
    private readonly o: LocalClusterOptions,
    readonly redis: RedisCluster,
  ) {
    this.log = o.log ?? (() => undefined);
    this.adminPriority = o.adminNodeNice === undefined ? null : new PriorityRaiser('node-1', o.adminNodeNice, this.log);
    this.secretFile = path.join(o.dir, 'secret');
    this.adminTokenFile = path.join(o.dir, 'admin-token');
    this.secret = secretIn(this.secretFile);
    this.adminToken = secretIn(this.adminTokenFile);
  }

  static async start(o: LocalClusterOptions): Promise<LocalCluster> {
    if (!Number.isInteger(o.nodes) || o.nodes < 1) throw new Error(`a cluster needs at least one access node, got ${o.nodes}`);
    mkdirSync(o.dir, { recursive: true, mode: 0o700 });
    const redis = await RedisCluster.start({
      dir: path.join(o.dir, 'redis'),
      masters: o.masters,
      replicasPerMaster: o.replicasPerMaster,
      nodeTimeoutMs: o.nodeTimeoutMs,
      restartDelayMs: o.restartDelayMs,
      log: o.log,
    });
    const c = new LocalCluster(o, redis);
    try {
      await o.beforeNodes?.(redis);
      c.port = o.port && o.port > 0 ? o.port : await freePort();
      for (let i = 0; i < o.nodes; i++) {
        const dataDir = path.join(o.dir, `node-${i + 1}`);
        mkdirSync(dataDir, { recursive: true, mode: 0o700 });
        const port = o.sharedPort === false ? await freePort() : c.port;
        c.nodes.push({ index: i, name: `node-${i + 1}`, port, adminPort: await freePort(), dataDir, child: null });
      }
      // the first node alone (its start-up settles the keys), then the rest a few at a time: a Node
      // process's start-up is mostly CPU, and 50 at once on two cores would each take a minute
      await c.launch(c.nodes[0]);
      const queue = c.nodes.slice(1);
      const starters = Array.from({ length: Math.min(START_AT_ONCE, queue.length) }, async () => {
        for (let n = queue.shift(); n !== undefined; n = queue.shift()) await c.launch(n);
      });
      await Promise.all(starters);
    } catch (err) {
      await c.stop();
      throw err;
    }
    return c;
  }

  /** The WebSocket URL of the cluster (its shared port), or of node `i`. */
  wsUrl(i?: number): string {
    return `ws://127.0.0.1:${i === undefined ? this.port : this.nodes[i].port}/ws`;
  }

  adminUrl(i: number): string {
    return `http://127.0.0.1:${this.nodes[i].adminPort}`;
  }

  private async launch(n: NodeInfo): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.launchOnce(n);
      } catch (err) {
        if (attempt >= PORT_TRIES || !(err instanceof ChildFailed) || !/admin port \S+ is in use/.test(err.message)) throw err;
        const taken = n.adminPort;
        n.adminPort = await freePort();
        this.log(`${n.name}: its admin port ${taken} was taken before it could bind it; starting it on ${n.adminPort}`);
      }
    }
  }

  private async launchOnce(n: NodeInfo): Promise<void> {
    const args = [
      'server',
      '--redis',
      this.redis.urls.join(','),
      '--node-id',
      n.name,
      '--port',
      String(n.port),
      '--admin-port',
      String(n.adminPort),
      '--data',
      n.dataDir,
      '--threads',
      '1',
      ...(this.o.serverArgs ?? []),
      ...(this.o.serverArgsFor?.(n.index) ?? []),
    ];
    const { command, args: argv } = hongbaoCommand(args, this.o.nodeArgs);
    const child = await this.children.start({
      name: n.name,
      command,
      args: argv,
      env: { ...NODE_ENV_DEFAULTS, ...process.env, ...this.o.env, HONGBAO_SECRET: this.secret, HONGBAO_ADMIN_TOKEN: this.adminToken },
      logFile: path.join(n.dataDir, 'server.log'),
      readyTimeoutMs: 60_000,
    });
    n.child = child;
    if (n.index === 0) this.adminPriority?.raise(child.pid);
    void child.exited.then((exit) => {
      if (this.stopping || n.child !== child) return;
      const delay = this.o.restartDelayMs ?? 1000;
      this.log(`${n.name} exited (${exit.status})${delay > 0 ? `; restarting it in ${delay} ms` : ''}`);
      if (delay > 0) setTimeout(() => void this.restart(n.index), delay).unref();
    });
  }

  /** Start node `i` again (same name, data and ports) if it is not running. */
  async restart(i: number): Promise<void> {
    const n = this.nodes[i];
    if (this.stopping || n.child?.running) return;
    try {
      await this.launch(n);
      this.log(`${n.name} restarted`);
    } catch (err) {
      this.log(`${n.name} restart failed: ${(err as Error).message}`);
    }
  }

  /** Kill node `i` (tests and chaos). */
  killNode(i: number, signal: NodeJS.Signals = 'SIGKILL') {
    const child = this.nodes[i].child;
    if (!child) throw new Error(`node ${i + 1} is not running`);
    return child.kill(signal);
  }

  /** Every pid this cluster runs now (for `cluster down` and the memory reports). */
  pids(): { redis: number[]; nodes: number[] } {
    return { redis: this.redis.pids, nodes: this.nodes.flatMap((n) => (n.child?.running ? [n.child.pid] : [])) };
  }

  /** Every node's journal file. */
  journals(): string[] {
    return this.nodes.map((n) => path.join(n.dataDir, 'journal.db'));
  }

  /** Stop the access nodes (each gives its unpaid leases back and settles its doubts) and keep Redis
   *  up: what a reconciliation of the cluster needs. */
  async stopNodes(): Promise<void> {
    this.stopping = true;
    await this.children.stopAll('SIGTERM', 30_000);
  }

  async stop(): Promise<void> {
    await this.stopNodes(); // nodes first: they give their leases back
    await this.redis.stop();
  }
}

/** A spare user's sign-in link to a node's shake page (docs/web.md): `#user=<id>&token=<token>`. */
export function pageLink(port: number, user: number, token: string): string {
  return `http://127.0.0.1:${port}/#user=${user}&token=${encodeURIComponent(token)}`;
}
