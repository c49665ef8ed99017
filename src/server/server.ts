// The main thread: start-up in a checked order (engine kind, uWS binary, data dir and secrets,
// ports, ledger, engine rebuilt from the ledger, apps, admin API), the main-thread duties (supply
// clock, campaign, expiry sweeps, stats, monitor push, recovery after ledger failures) and the
// graceful shutdown.
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { randomInt } from 'node:crypto';
import { createEngine, engineKindFromEnv, type EngineKind } from '../engine/index.ts';
import { SplitMode, type Engine, type EngineOptions, type SupplyState, type Totals } from '../engine/types.ts';
import { openLedger, type SqliteLedger } from '../ledger/sqlite-ledger.ts';
import type { LedgerHealth } from '../ledger/types.ts';
import { mountAdminApi } from './admin-api.ts';
import { type AppHandle, startApps } from './apps.ts';
import { Campaign, type CampaignStatus } from './campaign.ts';
import { newControl, newCounters } from './counters.ts';
import { coverEntries, type CoverEntry } from './covers.ts';
import type { ServerFlags } from './flags.ts';
import { GroupMoves, Unavailable } from './groups.ts';
import { fixSemiSpace } from './heap-sizing.ts';
import type { AppConfig, ToApp } from './link.ts';
import { Metrics } from './metrics.ts';
import { MonitorPush } from './monitor-push.ts';
import { Recovery, type ServerState } from './recovery.ts';
import { loadOrCreateSecret } from './secrets.ts';
import { trackThreadGauges } from './thread-gauges.ts';
import { type CounterBlock, StatsAggregator } from './stats.ts';
import { SupplyClock, type SupplyControl } from './supply-clock.ts';
import { ClusterNode, type ClusterNodeStats } from '../cluster/node.ts';
import { loadUws } from './uws.ts';

/** A start-up failure: one clear line, non-zero exit. */
export class StartupError extends Error {}

export interface ReadyInfo {
  event: 'ready';
  pid: number;
  port: number;
  adminPort: number;
  host: string;
  adminHost: string;
  threads: number;
  engine: EngineKind;
  /** where the money lives: this server's SQLite ledger, or the Redis Cluster (a node's journal beside it) */
  store: 'sqlite' | 'redis-cluster';
  /** the access node's name in its cluster; null for the single server */
  node: string | null;
  db: string;
  secretFile: string | null;
  adminTokenFile: string | null;
}

/** The admin API's `GET /stats` answer (docs/admin-api.md). */
export interface StatsDocument {
  time: number;
  uptimeSeconds: number;
  engine: EngineKind;
  threads: number;
  state: ServerState;
  connections: number;
  loopDelayMs: number;
  heapMb: number[];
  heapUsedMb: number[];
  second: CounterBlock & { at: number };
  cumulative: CounterBlock;
  totals: Totals;
  supply: SupplyState | null;
  campaign: CampaignStatus | null;
  ledger: LedgerHealth;
  /** A cluster node's view of the cluster (null for the single server). */
  cluster: ClusterNodeStats | null;
}

export interface RunningServer {
  ready: ReadyInfo;
  /** The ledger (tools and tests, e.g. a disk that fills up: `setMaxPageCount`). */
  ledger: SqliteLedger;
  /** Stop accepting, finish pending batches, close the ledger. Idempotent. */
  shutdown(): Promise<void>;
}

/** Bind the port once with Node (no SO_REUSEPORT) to learn whether anyone holds it, and which port 0 gives. */
function probePort(host: string, port: number, what: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', (err: NodeJS.ErrnoException) => {
      const why =
        err.code === 'EADDRINUSE'
          ? 'is in use'
          : err.code === 'EADDRNOTAVAIL'
            ? 'is not an address of this machine'
            : `cannot be bound (${err.code ?? err.message})`;
      reject(new StartupError(`${what} port ${host}:${port} ${why}`));
    });
    s.listen({ host, port, exclusive: true }, () => {
      const actual = (s.address() as { port: number }).port;
      s.close(() => resolve(actual));
    });
  });
}

function splitModeOf(name: ServerFlags['splitMode']): 0 | 1 {
  return name === 'line-segment' ? SplitMode.LineSegment : SplitMode.DoubleMean;
}

export async function startServer(flags: ServerFlags, log: (message: string) => void): Promise<RunningServer> {
  // -- engine kind and threads
  let kind: EngineKind;
  try {
    kind = engineKindFromEnv();
  } catch (err) {
    throw new StartupError((err as Error).message);
  }
  let threads = flags.threads;
  const notices: string[] = []; // said once started, so a start-up error stays a single line
  const clustered = flags.redis !== null;
  if (clustered && threads !== 1) {
    // one app per node: the cluster engine, the lease clock and the presence live on its one thread
    if (flags.threadsGiven) notices.push(`--redis: running ONE thread instead of ${threads} (a cluster scales by access nodes: run more of them)`);
    threads = 1;
  }
  if (kind === 'ts' && threads !== 1) {
    // Said only when asked for: the default (one thread per core) quietly becomes one.
    if (flags.threadsGiven) {
      notices.push(`HONGBAO_ENGINE=ts: running ONE thread instead of ${threads} (the TS engine lives in one JavaScript heap; threads cannot share it)`);
    }
    threads = 1;
  }

  // -- uWS: the native binary, or nothing
  const loaded = loadUws();
  if (!loaded.native) {
    if (!flags.allowUwsFallback) {
      throw new StartupError(
        `uWebSockets.js native binary not in use (${loaded.reason}); refusing to run on the slow fallback (--allow-uws-fallback to start anyway)`,
      );
    }
    notices.push(`WARNING: uWebSockets.js runs its JavaScript fallback (${loaded.reason}): numbers from this server are not benchmarks`);
  }
  const uws = loaded.uws;

  // -- data dir and secrets
  try {
    mkdirSync(flags.dataDir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new StartupError(`cannot create the data directory ${flags.dataDir}: ${(err as Error).message}`);
  }
  let secret: ReturnType<typeof loadOrCreateSecret>;
  let adminToken: ReturnType<typeof loadOrCreateSecret>;
  try {
    secret = loadOrCreateSecret(process.env.HONGBAO_SECRET, flags.dataDir, 'secret');
    adminToken = loadOrCreateSecret(process.env.HONGBAO_ADMIN_TOKEN, flags.dataDir, 'admin-token');
  } catch (err) {
    throw new StartupError((err as Error).message);
  }

  // -- ports (before the ledger, so a busy port fails fast); the access nodes of a cluster may share
  // one public port (SO_REUSEPORT), so a cluster node does not insist on having it alone
  const port = clustered && flags.port !== 0 ? flags.port : await probePort(flags.host, flags.port, 'public');
  const adminPort = await probePort(flags.adminHost, flags.adminPort, 'admin');
  if (port === adminPort) throw new StartupError(`public and admin ports are both ${port}`);

  // -- ledger, then the engine rebuilt from it
  let ledger: SqliteLedger;
  try {
    ledger = await openLedger(flags.dbFile, { kind: clustered ? 'journal' : 'engine' });
  } catch (err) {
    const why = (err as Error).message;
    throw new StartupError(why.includes(flags.dbFile) ? why : `cannot open the ledger ${flags.dbFile}: ${why}`);
  }
  const splitMode = splitModeOf(flags.splitMode);
  const engineOptions: EngineOptions = { shards: flags.shards, splitMode, ...(flags.seed !== undefined ? { seed: flags.seed } : {}) };
  const local = await createEngine(engineOptions, kind).catch(async (err: Error) => {
    await ledger.close();
    throw new StartupError(`cannot start the ${kind} engine: ${err.message}`);
  });
  let node: ClusterNode | null = null;
  if (flags.redis !== null) {
    try {
      node = await ClusterNode.connect({
        urls: flags.redis,
        natMap: flags.redisNat,
        node: flags.nodeId,
        local,
        ledger,
        journalFile: flags.dbFile,
        splitMode,
        retainExpiredMs: flags.retainExpiredMs,
        log,
      });
    } catch (err) {
      await ledger.close();
      throw new StartupError((err as Error).message);
    }
  }
  const engine: Engine = node?.engine ?? local;
  let covers: CoverEntry[];
  try {
    const snapshot = await ledger.loadSnapshot();
    await engine.reset(engineOptions);
    await engine.snapshotRestore(snapshot.engine);
    covers = coverEntries(snapshot);
    const t = await engine.totals();
    if (t.shake.created.count > 0 || t.groupPackets > 0) {
      notices.push(`engine rebuilt from the ledger: ${t.shake.created.count} shake packets (${t.shake.paid.count} won), ${t.groupPackets} group packets`);
    }
  } catch (err) {
    await ledger.close();
    throw new StartupError(`cannot rebuild the engine from ${flags.dbFile}: ${(err as Error).message}`);
  }

  // -- shared counters and the main-thread duties
  const control = newControl();
  const mainCounters = newCounters();
  const stats = new StatsAggregator();
  stats.add(mainCounters);
  let apps: AppHandle[] = [];
  const broadcast = (msg: ToApp, except?: number) => {
    for (const a of apps) if (a.index !== except) a.post(msg);
  };
  let drainSeq = 0;
  const recovery = new Recovery({
    ledger,
    engine,
    engineOptions,
    broadcastHealth: (state) => broadcast({ t: 'health', state }),
    drainApps: async () => {
      await Promise.all(
        apps
          .filter((a) => a.alive)
          .map((a) => {
            const id = ++drainSeq;
            const done = a.next(['drained', 'failed'], (m) => m.t === 'failed' || m.id === id);
            a.post({ t: 'drain', id });
            return done;
          }),
      );
    },
    restoredCovers: (entries) => broadcast({ t: 'covers', entries }),
    log,
  });
  const groups = new GroupMoves(engine, recovery, mainCounters, splitMode, (items) =>
    node ? void node.presence.notify(items, true) : broadcast({ t: 'notify', items }),
  );
  const supply: SupplyControl = node ? node.leaseClock(() => stats.connections(), mainCounters) : new SupplyClock(engine, recovery, mainCounters, log);
  const campaign = new Campaign(groups, flags.seed ?? randomInt(0, 2 ** 31), log);

  // -- apps
  const configs: AppConfig[] = Array.from({ length: threads }, (_, index) => {
    const counters = newCounters();
    stats.add(counters);
    return {
      index,
      host: flags.host,
      port,
      secret: secret.value,
      limits: { maxMessagesPerSecond: flags.maxMessagesPerSecond, maxErrors: flags.maxErrors, backpressureLimit: flags.backpressureLimit },
      maxPayload: flags.maxPayload,
      idleTimeout: flags.idleTimeout,
      loginTimeoutMs: flags.loginTimeoutMs,
      loopSampleMs: flags.loopSampleMs,
      packetTtlMs: flags.packetTtlMs,
      maxShakesPerSecond: flags.maxShakesPerSecond,
      engineKind: kind,
      engineOptions: { shards: flags.shards, splitMode, ...(flags.seed !== undefined ? { seed: flags.seed } : {}) },
      counters,
      control,
      covers,
      allowUwsFallback: flags.allowUwsFallback,
      journalRepeats: clustered,
    };
  });
  fixSemiSpace(flags.semiSpaceMb); // the app threads' isolates; the ledger writer's exists already
  apps = startApps({
    configs,
    inProcess: threads === 1,
    uws,
    engine,
    ledger,
    log,
    onDeath: (_index, reason) => {
      log(`${reason}: its commits in flight are unknown, so the engine is rebuilt from the ledger`);
      recovery.failed(reason);
    },
  });
  for (const a of apps) {
    a.on((msg) => {
      switch (msg.t) {
        case 'created':
          broadcast({ t: 'notify', items: msg.items }, a.index);
          void node?.presence.notify(msg.items, false);
          break;
        case 'login':
          broadcast({ t: 'login', user: msg.user, seq: msg.seq }, a.index);
          node?.presence.loggedIn(msg.user, msg.at);
          break;
        case 'commit-failed':
          recovery.failed(msg.message);
          break;
      }
    });
  }
  const started = await Promise.all(apps.map((a) => a.next(['ready', 'failed'])));
  const failed = started.find((m) => m.t === 'failed');
  const stopApps = async () => {
    for (const a of apps) a.stopping = true;
    const closed = apps.filter((a) => a.alive).map((a) => a.next(['closed', 'failed']));
    broadcast({ t: 'shutdown' });
    await Promise.all(closed);
    await Promise.all(apps.map((a) => a.stop()));
  };
  if (failed && failed.t === 'failed') {
    await stopApps();
    await ledger.close();
    throw new StartupError(failed.message);
  }

  // -- admin API on the main thread
  const metrics = new Metrics();
  const healthBody = () => {
    const h = ledger.health();
    const ok = recovery.state === 'healthy' && h.healthy;
    return { ok, body: { ok, state: recovery.state, rebuilds: recovery.rebuilds, ledger: h } };
  };
  const statsDocument = async (): Promise<StatsDocument> => {
    const r = stats.latest();
    return {
      time: Date.now(),
      uptimeSeconds: (Date.now() - stats.startedAt) / 1000,
      engine: kind,
      threads,
      state: recovery.state,
      connections: stats.connections(),
      loopDelayMs: r.loopDelayMs,
      heapMb: r.heapMb,
      heapUsedMb: r.heapUsedMb,
      second: { at: r.at, ...r.second },
      cumulative: r.cumulative,
      totals: await engine.totals(),
      supply: node ? await node.supplyState() : await engine.supplyState(),
      campaign: campaign.current(),
      ledger: ledger.health(),
      cluster: node?.stats() ?? null,
    };
  };
  const admin = uws.App();
  mountAdminApi(admin, {
    token: adminToken.value,
    splitMode: flags.splitMode,
    supply,
    campaign,
    groups,
    metrics,
    stats: statsDocument,
    health: healthBody,
    log,
  });
  let adminSocket: unknown = null;
  admin.listen(flags.adminHost, adminPort, (s) => {
    adminSocket = s || null;
  });
  if (!adminSocket) {
    await stopApps();
    await ledger.close();
    throw new StartupError(`admin port ${flags.adminHost}:${adminPort} cannot be bound`);
  }

  // -- clocks
  const monitor = flags.monitor ? new MonitorPush(flags.monitor, log, node ? flags.nodeId : null) : null;
  stats.onSecond((r) => {
    metrics.second(r);
    metrics.ledger(ledger.health(), recovery.state === 'healthy');
    Promise.resolve(engine.totals())
      .then((totals) => {
        metrics.engine(totals);
        monitor?.push({ ...r.second, connections: r.connections, loopDelayMs: r.loopDelayMs, heapMb: r.heapMb, heapUsedMb: r.heapUsedMb, totals }, r.at);
      })
      .catch(() => undefined);
  });
  stats.start();
  const stopGauges = trackThreadGauges(mainCounters, flags.loopSampleMs);
  supply.start();
  if (node)
    await node.start({
      deliver: (items) => broadcast({ t: 'notify', items }),
      kick: (user, at) => broadcast({ t: 'kick', user, at }),
      createsSettled: (made, voided) => campaign.settled(made, voided),
    });
  const sweeper = setInterval(() => {
    if (!recovery.canMove()) return;
    const now = Date.now();
    const evictBefore = now - flags.retainExpiredMs;
    groups
      .expire(now)
      .then(() => groups.evict(evictBefore))
      .then((evicted) => {
        if (evicted > 0) broadcast({ t: 'evict', beforeMs: evictBefore }); // their covers go too
      })
      .catch((err) => {
        if (!(err instanceof Unavailable)) log(`expiry sweep failed: ${(err as Error).message}`);
      });
  }, flags.expirySweepMs);
  sweeper.unref();

  const ready: ReadyInfo = {
    event: 'ready',
    pid: process.pid,
    port,
    adminPort,
    host: flags.host,
    adminHost: flags.adminHost,
    threads,
    engine: kind,
    store: node ? 'redis-cluster' : 'sqlite',
    node: node ? flags.nodeId : null,
    db: flags.dbFile,
    secretFile: secret.file,
    adminTokenFile: adminToken.file,
  };

  for (const n of notices) log(n);

  let closing: Promise<void> | null = null;
  const shutdown = () =>
    (closing ??= (async () => {
      log('shutting down: no new connections, finishing pending batches');
      recovery.close();
      campaign.stop();
      supply.stop();
      clearInterval(sweeper);
      stats.stop();
      monitor?.close();
      stopGauges();
      if (adminSocket) uws.us_listen_socket_close(adminSocket as never);
      adminSocket = null;
      await stopApps(); // each finishes its batches (answers go out once committed), then closes
      await recovery.idle();
      await node?.stop(); // unpaid leases back to the pool, doubts journaled, Redis closed
      await ledger.close();
      (admin as unknown as { close(): void }).close(); // idle admin keep-alives too (missing from the typings)
      log('ledger closed; bye');
    })());

  return { ready, ledger, shutdown };
}
