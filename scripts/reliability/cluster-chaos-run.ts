// Cluster chaos: real load (the project's simulator over WebSocket through the cluster's shared
// port: shakes, and automatic opens of notified group packets from a campaign) on N access nodes and
// a 3+3 Redis Cluster, and rounds of killing a random access node or a random Redis master
// (SIGKILL), each followed by the cluster's own recovery (the supervisor restarts what died; a
// dead master's replica takes over first). At the end, with the nodes stopped and Redis up: what
// every client was told is in the journals and in Redis with the same cents, nothing is paid twice,
// nothing a journal told is missing from Redis, and the supply and every packet balance to the cent
// (`checkCluster`). What Redis paid that no journal has (a node killed between Redis and its journal:
// paid, never told) is counted and shown, not a failure.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { checkCluster } from '../../src/cluster/cluster-check.ts';
import { LocalCluster } from '../../src/cluster/local-cluster.ts';
import { Simulator } from '../../src/simulator/simulator.ts';
import type { FinalTally } from '../../src/simulator/tally.ts';
import { Rng, sleep } from './rng.ts';

export type Victim = 'node' | 'master';

export interface ClusterChaosOptions {
  dir: string;
  nodes: number;
  rounds: number;
  /** what a round kills: a random access node, a random Redis master, or either */
  victims: Victim | 'any';
  seed: number;
  users: number;
  qps: number;
  supplyTotal: number;
  supplyRate: number;
  campaignRate: number;
  /** longest wait between "recovered" and the next kill, ms */
  maxDelayMs: number;
  log(line: string): void;
}

export interface ClusterRound {
  round: number;
  victim: string;
  /** how long until every user was back and the cluster healthy */
  recoveredMs: number;
  unavailable: number;
  connectedAtKill: number;
}

export interface ClusterChaosResult {
  ok: boolean;
  seed: number;
  rounds: ClusterRound[];
  failure: string | null;
  told: { hits: number; hitCents: number; shares: number; shareCents: number };
  /** promises broken: told but missing (or different) in the journals or Redis, paid twice, identities */
  broken: string[];
  /** in Redis, in no journal: paid while a node died, never told (not a failure) */
  untold: number;
  unsettled: number;
  redis: { shakePaid: number; shakeCents: number; shares: number; packets: number };
}

async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number, stepMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) return false;
    await sleep(stepMs);
  }
  return true;
}

export async function runClusterChaos(o: ClusterChaosOptions): Promise<ClusterChaosResult> {
  const rng = new Rng(o.seed);
  mkdirSync(o.dir, { recursive: true });
  const cluster = await LocalCluster.start({
    dir: o.dir,
    nodes: o.nodes,
    nodeTimeoutMs: 1000,
    // after a master's replica took over (node timeout + an election), so it comes back as a replica
    restartDelayMs: 2500,
    serverArgs: ['--max-messages-per-second', '1000'],
    log: (m) => o.log(`cluster: ${m}`),
  });
  const rounds: ClusterRound[] = [];
  let failure: string | null = null;
  let tally: FinalTally | null = null;
  const admin = (method: string, route: string, body?: unknown) =>
    fetch(`${cluster.adminUrl(0)}${route}`, {
      method,
      headers: { authorization: `Bearer ${cluster.adminToken}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    }).catch(() => null);
  const sim = new Simulator({
    id: 'chaos',
    target: { host: '127.0.0.1', port: cluster.port, path: '/ws', timeoutMs: 15_000 },
    from: 1,
    to: o.users,
    total: o.users,
    qps: o.qps,
    secret: cluster.secret,
    tokenTtlSeconds: 86_400,
    connectConcurrency: 64,
    usersPerSourceAddress: 0,
  });
  try {
    sim.start();
    if (!(await waitFor(() => sim.connected === o.users, 60_000))) throw new Error(`only ${sim.connected} of ${o.users} users connected`);
    await admin('POST', '/admin/supply', { total: o.supplyTotal, ratePerSecond: o.supplyRate, rule: { kind: 'range', min: 1, max: 500 } });
    await admin('POST', '/admin/campaign', {
      count: 1_000_000,
      ratePerSecond: o.campaignRate,
      recipientsPerPacket: 3,
      userFrom: 1,
      userTo: o.users,
      rule: { kind: 'range', min: 300, max: 3000 },
      expiresInMs: 86_400_000,
    });
    for (let round = 1; round <= o.rounds; round++) {
      await sleep(rng.range(200, o.maxDelayMs));
      const kind: Victim = o.victims === 'any' ? (rng.chance(0.5) ? 'node' : 'master') : o.victims;
      const before = sim.tally.counters.unavailable;
      const connectedAtKill = sim.connected;
      let victim: string;
      if (kind === 'node') {
        const i = rng.int(cluster.nodes.length);
        victim = cluster.nodes[i].name;
        await cluster.killNode(i);
      } else {
        const masters = cluster.redis.masterPorts();
        const port = masters[rng.int(masters.length)];
        victim = `redis master ${port}`;
        await cluster.redis.kill(port);
      }
      const killedAt = Date.now();
      o.log(`round ${round}: killed ${victim} (${connectedAtKill} users connected)`);
      const back = await waitFor(() => sim.connected === o.users && cluster.nodes.every((n) => n.child?.running) && cluster.redis.healthy(), 60_000, 200);
      if (!back) throw new Error(`round ${round}: not recovered within 60 s after killing ${victim}:\n${cluster.redis.describe()}`);
      const r: ClusterRound = { round, victim, recoveredMs: Date.now() - killedAt, unavailable: sim.tally.counters.unavailable - before, connectedAtKill };
      rounds.push(r);
      o.log(`round ${round}: recovered in ${r.recoveredMs} ms; ${r.unavailable} answers Unavailable meanwhile`);
    }
    await admin('DELETE', '/admin/campaign');
    await admin('DELETE', '/admin/supply');
    await sleep(1500);
  } catch (err) {
    failure = (err as Error).message;
  }
  try {
    tally = await sim.stop(10_000);
    await sleep(2500); // a node's settler looks its doubts up every 2 s
    await cluster.stopNodes();
    const check = await checkCluster(cluster.redis.urls, cluster.journals());
    const broken = [...check.byCategory.identity, ...check.byCategory.lost, ...check.byCategory.twice];
    // what clients were told: in the journals (and so, by the check, in Redis) with the same cents
    const toldHits = new Map<number, [number, number]>();
    for (const [id, user, cents] of tally.shake.packets) {
      const seen = toldHits.get(id);
      if (seen && (seen[0] !== user || seen[1] !== cents)) broken.push(`shake packet ${id} told to user ${seen[0]} and to user ${user}`);
      toldHits.set(id, [user, cents]);
      const j = check.journaled.hits.get(id);
      if (!j || j[0] !== user || j[1] !== cents)
        broken.push(`shake packet ${id}: user ${user} was told ${cents} cents; the journals say ${JSON.stringify(j ?? null)}`);
    }
    for (const [id, user, cents] of tally.group.shares) {
      const j = check.journaled.shares.get(`${id}:${user}`);
      if (j !== cents) broken.push(`group packet ${id}: user ${user} was told a share of ${cents} cents; the journals say ${j ?? 'nothing'}`);
    }
    const report = check.report;
    return {
      ok: failure === null && broken.length === 0 && report.shake.balanced && report.group.balanced,
      seed: o.seed,
      rounds,
      failure,
      told: { hits: tally.counters.hits, hitCents: tally.counters.hitCents, shares: tally.counters.opens, shareCents: tally.counters.openCents },
      broken: broken.slice(0, 50),
      untold: check.byCategory.untold.length,
      unsettled: check.byCategory.unsettled.length,
      redis: { shakePaid: report.shake.paid.count, shakeCents: report.shake.paid.cents, shares: report.group.paid.count, packets: report.groupPackets },
    };
  } finally {
    await cluster.stop();
  }
}

/** Where the chaos run keeps its cluster (kept for a look after a failure). */
export function chaosDir(root: string, seed: number): string {
  return path.join(root, `cluster-chaos-${seed}`);
}
