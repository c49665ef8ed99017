// What turns a `hongbao server` into one access node of a cluster (`--redis`): the connection to
// the Redis Cluster, the cluster engine over the node's own engine, the lease clock that fills its
// shake buckets, the presence (logins, inboxes, notifications across nodes) and the settler of
// moves in doubt; started after the apps and stopped before the journal closes.
import type { Engine, SplitMode, SupplyState } from '../engine/types.ts';
import type { Ledger } from '../ledger/types.ts';
import type { NotifyItem } from '../server/batch/batcher.ts';
import { ClusterEngine } from './cluster-engine.ts';
import { LeaseClock, type LeaseState } from './lease-clock.ts';
import { NOTIFY_RETRY_MS, NOTIFY_TRIES, Presence } from './presence.ts';
import { Settler } from './settler.ts';
import { ClusterStore, type NatMap } from './store.ts';

const SUPPLY_READ_MS = 500;

export interface ClusterNodeOptions {
  urls: string[];
  natMap?: NatMap;
  node: string;
  local: Engine;
  ledger: Ledger;
  /** the journal's file, read once at start-up for what an earlier run of this node left untold */
  journalFile: string;
  splitMode: SplitMode;
  retainExpiredMs: number;
  log(message: string): void;
}

export interface ClusterNodeStats {
  node: string;
  liveNodes: string[];
  lease: LeaseState;
  store: ClusterStore['counts'];
  presence: Presence['counts'];
  doubts: Settler['counts'] & { pending: number };
}

export class ClusterNode {
  private lease: LeaseClock | null = null;
  private presenceReady: Presence | null = null;

  private constructor(
    private readonly o: ClusterNodeOptions,
    readonly store: ClusterStore,
    readonly engine: ClusterEngine,
    private readonly settler: Settler,
  ) {}

  static async connect(o: ClusterNodeOptions): Promise<ClusterNode> {
    let store: ClusterStore;
    try {
      store = await ClusterStore.connect(o.urls, { log: o.log, natMap: o.natMap });
    } catch (err) {
      throw new Error(`cannot join the cluster: ${(err as Error).message}`);
    }
    let settler: Settler | null = null;
    const engine = new ClusterEngine({
      local: o.local,
      store,
      node: o.node,
      splitMode: o.splitMode,
      retainExpiredMs: o.retainExpiredMs,
      onDoubts: (doubts) => settler?.add(doubts),
      log: o.log,
    });
    settler = new Settler(store, engine, o.ledger, o.node, o.log);
    await settler.adoptUntold(o.journalFile).catch((err: Error) => o.log(`an earlier run's untold hits not looked up: ${err.message}`));
    return new ClusterNode(o, store, engine, settler);
  }

  /** The node's supply clock: leases from the cluster's supply, weighted by `users()`. */
  leaseClock(users: () => number, counters: Float64Array): LeaseClock {
    this.lease ??= new LeaseClock(this.engine, this.store, this.o.node, users, counters, this.o.log);
    return this.lease;
  }

  get presence(): Presence {
    if (this.presenceReady === null) throw new Error('the cluster node was not started');
    return this.presenceReady;
  }

  /** `createsSettled` hears how this node's creates in doubt settled (those made are notified here too). */
  async start(to: {
    deliver(items: NotifyItem[]): void;
    kick(user: number, at: number): void;
    createsSettled?(made: number[], voided: number[]): void;
  }): Promise<void> {
    const presence = new Presence({
      store: this.store,
      urls: this.o.urls,
      natMap: this.o.natMap,
      node: this.o.node,
      deliver: to.deliver,
      kick: to.kick,
      log: this.o.log,
    });
    await presence.start();
    this.presenceReady = presence;
    this.settler.onCreatesSettled = (made, voided) => {
      if (made.length > 0) void this.notifyMade(presence, made).catch((err: Error) => this.o.log(`packets made after a doubt not notified: ${err.message}`));
      to.createsSettled?.(made, voided);
    };
    this.settler.start();
  }

  /** A packet made although its sender was answered Unavailable goes to its recipients like any new
   *  one (inbox and live notification); else it would only wait for its expiry and refund. */
  private async notifyMade(presence: Presence, packetIds: number[], tries = 1): Promise<void> {
    const found = await Promise.all(packetIds.map((id) => this.engine.details(id).catch(() => undefined)));
    const unread = packetIds.filter((_, k) => found[k] === undefined);
    if (unread.length > 0 && tries < NOTIFY_TRIES) {
      setTimeout(() => void this.notifyMade(presence, unread, tries + 1).catch(() => undefined), NOTIFY_RETRY_MS).unref();
    } else if (unread.length > 0) {
      this.o.log(`${unread.length} packet(s) made after a doubt not notified: their details could not be read in ${tries} tries`);
    }
    const items: NotifyItem[] = [];
    found.forEach((d) => {
      if (d && !d.expired)
        items.push({
          id: d.id,
          sender: d.sender,
          shareCount: d.shareCount,
          totalCents: d.totalCents,
          expiresAt: d.expiresAt,
          recipients: d.recipients,
          cover: d.cover ?? null,
        });
    });
    if (items.length > 0) await presence.notify(items, true);
  }

  /** The cluster's supply for /stats: from Redis, or as the lease clock last saw it when Redis has
   *  not answered within SUPPLY_READ_MS (a write's WAIT holds its connection while no replica
   *  acknowledges, and the read waits behind it: /stats then failed after the 2 s command timeout). */
  async supplyState(): Promise<SupplyState | null> {
    const seen = () => this.lease?.state.supply ?? null;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<SupplyState | null>((resolve) => {
      timer = setTimeout(() => resolve(seen()), SUPPLY_READ_MS);
    });
    try {
      return await Promise.race([this.engine.supplyState().catch(seen), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  stats(): ClusterNodeStats {
    return {
      node: this.o.node,
      liveNodes: this.engine.liveNodes,
      lease: this.lease?.state ?? { supply: null, liveNodes: [], leased: 0, reclaimedByThisNode: 0, calls: 0, failedCalls: 0, lastError: null },
      store: { ...this.store.counts, byFn: { ...this.store.counts.byFn } },
      presence: this.presenceReady
        ? { ...this.presenceReady.counts }
        : { logins: 0, inboxDelivered: 0, published: 0, received: 0, kicks: 0, notifyRetries: 0, notifyLost: 0 },
      doubts: { ...this.settler.counts, pending: this.settler.pending },
    };
  }

  /** After the apps stopped: leases back to the pool, doubts journaled, connections closed. */
  async stop(): Promise<void> {
    this.lease?.stop();
    const given = (await this.lease?.giveBack()) ?? 0;
    if (given > 0) this.o.log(`${given} unpaid shake packet(s) given back to the cluster's pool`);
    await this.settler.settle();
    this.settler.stop();
    await this.presenceReady?.stop();
    await this.store.close();
  }
}
