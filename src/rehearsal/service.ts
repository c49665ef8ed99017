// What the rehearsal runs its load against: one `hongbao server` with its SQLite ledger (the
// embedded default), or a local cluster of N access nodes on a Redis Cluster (--nodes N). Both give
// the rehearsal the same handles: where users connect, the admin API of the first node, every
// node's stats, the processes to watch for memory, a stop that leaves the money readable, and the
// reconciliation's sources (the server's ledger, or Redis and every node's journal).
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { checkCluster } from '../cluster/cluster-check.ts';
import { LocalCluster } from '../cluster/local-cluster.ts';
import { type CheckReport, checkLedger } from '../ledger/check.ts';
import { type Child, type ChildSet, hongbaoCommand, tail } from '../process/child.ts';
import { httpJson } from '../process/http-json.ts';
import { type LedgerItems, readLedgerItems } from '../report/ledger-items.ts';
import type { StatsDocument } from '../server/server.ts';

/** Node 1 of a cluster takes the rehearsal's admin calls and runs its group campaign: its creates
 *  are several round trips each, and with every process runnable on 2 cores it got its turn so late
 *  that the campaign made 34–62 of its 200 packets a second (300,000-user version of the preset;
 *  194 at nice −10). Above the other nodes, below Redis (REDIS_NICE), whose WAITs everyone needs. */
const ADMIN_NODE_NICE = -5;

export interface ServiceOptions {
  /** access nodes: 1 is the single server (SQLite), more a cluster on Redis */
  nodes: number;
  /** a cluster even with one node (benches comparing a cluster node with the single server) */
  cluster?: boolean;
  threads: number | null;
  monitorUrl: string;
  serverArgs: string[];
  /** Node flags for the server processes */
  nodeArgs: string[];
  outDir: string;
  children: ChildSet;
  log(message: string): void;
}

export interface MoneySources {
  check: CheckReport;
  items: LedgerItems;
  /** files copied into the output folder, relative to it */
  files: string[];
}

export interface Service {
  readonly store: 'sqlite' | 'redis-cluster';
  readonly nodes: number;
  readonly wsUrl: string;
  readonly port: number;
  readonly secret: string;
  readonly adminToken: string;
  readonly engine: string;
  readonly threads: number;
  /** node names, in order */
  readonly names: string[];
  /** the admin API of node `i` (the first by default) */
  adminUrl(i?: number): string;
  /** every node's /stats (null for a node that did not answer) */
  stats(): Promise<Array<StatsDocument | null>>;
  pids(): { nodes: number[]; redis: number[] };
  /** Stop the nodes (the money stays readable); problems named. */
  stopNodes(): Promise<string[]>;
  money(): Promise<MoneySources>;
  /** Stop everything left (Redis) and remove temporary data. */
  close(): Promise<void>;
}

export async function startService(o: ServiceOptions): Promise<Service> {
  return (o.cluster ?? o.nodes > 1) ? ClusterService.start(o) : SingleService.start(o);
}

class SingleService implements Service {
  readonly store = 'sqlite';
  readonly nodes = 1;
  readonly names = ['server'];

  private constructor(
    private readonly o: ServiceOptions,
    private readonly child: Child,
    private readonly dataDir: string,
    readonly secret: string,
    readonly adminToken: string,
  ) {}

  static async start(o: ServiceOptions): Promise<SingleService> {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'hongbao-rehearsal-data-'));
    const secret = randomBytes(32).toString('base64url');
    const adminToken = randomBytes(24).toString('base64url');
    const args = ['server', '--port', '0', '--admin-port', '0', '--data', dataDir, '--monitor', o.monitorUrl, ...o.serverArgs];
    if (o.threads !== null) args.push('--threads', String(o.threads));
    const { command, args: argv } = hongbaoCommand(args, o.nodeArgs);
    try {
      const child = await o.children.start({
        name: 'server',
        command,
        args: argv,
        env: { ...process.env, HONGBAO_SECRET: secret, HONGBAO_ADMIN_TOKEN: adminToken },
        logFile: path.join(o.outDir, 'logs', 'server.log'),
      });
      return new SingleService(o, child, dataDir, secret, adminToken);
    } catch (err) {
      rmSync(dataDir, { recursive: true, force: true });
      throw err;
    }
  }

  private get ready() {
    if (!this.child.ready) throw new Error('the server has no ready line');
    return this.child.ready;
  }

  get port(): number {
    return Number(this.ready.port);
  }

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  get engine(): string {
    return String(this.ready.engine);
  }

  get threads(): number {
    return Number(this.ready.threads);
  }

  adminUrl(): string {
    return `http://127.0.0.1:${Number(this.ready.adminPort)}`;
  }

  async stats(): Promise<Array<StatsDocument | null>> {
    return [await httpJson<StatsDocument>(`${this.adminUrl()}/stats`, { token: this.adminToken, timeoutMs: 15_000 }).catch(() => null)];
  }

  pids() {
    return { nodes: this.child.running ? [this.child.pid] : [], redis: [] };
  }

  async stopNodes(): Promise<string[]> {
    const exit = await this.child.stop('SIGTERM', 60_000);
    return exit.status === 0 ? [] : [`the server exited with ${exit.status}; log ${this.child.logFile}:\n${tail(this.child.logFile)}`];
  }

  async money(): Promise<MoneySources> {
    const copy = path.join(this.o.outDir, 'ledger.db');
    await copyDatabase(path.join(this.dataDir, 'hongbao.db'), copy);
    return { check: checkLedger(copy), items: readLedgerItems(copy), files: ['ledger.db'] };
  }

  async close(): Promise<void> {
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

class ClusterService implements Service {
  readonly store = 'redis-cluster';

  private constructor(
    private readonly o: ServiceOptions,
    private readonly cluster: LocalCluster,
    private readonly dir: string,
  ) {}

  static async start(o: ServiceOptions): Promise<ClusterService> {
    const dir = mkdtempSync(path.join(tmpdir(), 'hongbao-rehearsal-cluster-'));
    try {
      const cluster = await LocalCluster.start({
        dir,
        nodes: o.nodes,
        restartDelayMs: 1000,
        serverArgs: ['--monitor', o.monitorUrl, ...o.serverArgs],
        nodeArgs: o.nodeArgs,
        adminNodeNice: ADMIN_NODE_NICE,
        log: (m) => o.log(`cluster: ${m}`),
      });
      return new ClusterService(o, cluster, dir);
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  get nodes(): number {
    return this.cluster.nodes.length;
  }

  get names(): string[] {
    return this.cluster.nodes.map((n) => n.name);
  }

  get port(): number {
    return this.cluster.port;
  }

  get wsUrl(): string {
    return this.cluster.wsUrl();
  }

  get secret(): string {
    return this.cluster.secret;
  }

  get adminToken(): string {
    return this.cluster.adminToken;
  }

  get engine(): string {
    return String(this.cluster.nodes[0].child?.ready?.engine ?? 'native');
  }

  get threads(): number {
    return 1;
  }

  adminUrl(i = 0): string {
    return this.cluster.adminUrl(i);
  }

  stats(): Promise<Array<StatsDocument | null>> {
    return Promise.all(
      this.cluster.nodes.map((_, i) => httpJson<StatsDocument>(`${this.adminUrl(i)}/stats`, { token: this.adminToken, timeoutMs: 15_000 }).catch(() => null)),
    );
  }

  pids() {
    return this.cluster.pids();
  }

  async stopNodes(): Promise<string[]> {
    await this.cluster.stopNodes();
    return this.cluster.nodes
      .filter((n) => n.child && n.child.proc.exitCode !== 0)
      .map((n) => `${n.name} exited with ${n.child?.proc.exitCode ?? n.child?.proc.signalCode}; log ${n.child?.logFile}:\n${tail(n.child?.logFile)}`);
  }

  async money(): Promise<MoneySources> {
    const { report, items } = await checkCluster(this.cluster.redis.urls, this.cluster.journals());
    // a copy of every node's journal beside the report (Redis stops with the cluster)
    mkdirSync(path.join(this.o.outDir, 'journals'), { recursive: true });
    const files: string[] = [];
    for (const [i, journal] of this.cluster.journals().entries()) {
      const name = `journals/${this.cluster.nodes[i].name}.db`;
      await copyDatabase(journal, path.join(this.o.outDir, name));
      files.push(name);
    }
    return { check: report, items, files };
  }

  async close(): Promise<void> {
    await this.cluster.stop();
    // the nodes' logs beside the clients' (the cluster's folder goes): doubts, refused calls, recoveries
    mkdirSync(path.join(this.o.outDir, 'logs'), { recursive: true });
    for (const n of this.cluster.nodes) {
      const log = n.child?.logFile;
      if (log && existsSync(log)) copyFileSync(log, path.join(this.o.outDir, 'logs', `${n.name}.log`));
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A consistent single-file copy of a SQLite database (its WAL folded in). */
async function copyDatabase(from: string, to: string): Promise<void> {
  rmSync(to, { force: true });
  const db = new Database(from, { readonly: true, fileMustExist: true });
  try {
    await db.backup(to);
  } finally {
    db.close();
  }
}
