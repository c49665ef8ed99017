// Fills this access node's shake buckets from the cluster's supply (docs/cluster.md, "Supply").
// While a supply is active, twice a second, at fixed points of the wall-clock second, it calls
// hb_sup_lease with the node's logged-in users (its heartbeat and its weight in the fair split); the
// first call of each second also carries amounts drawn by the node's engine for fresh packets. The
// first call of each second anywhere releases that second's packets over the live nodes, and each
// node picks its part up on its next call, within that second. Without one, the call is only the
// heartbeat, once a second. The admin's supply calls go to Redis too (`begin`, `end`).
import type { AmountRule, SupplyOptions, SupplyState } from '../engine/types.ts';
import { C } from '../server/counters.ts';
import { Unavailable } from '../server/groups.ts';
import type { SupplyControl } from '../server/supply-clock.ts';
import type { ClusterEngine } from './cluster-engine.ts';
import { SUPPLY_KEY } from './keys.ts';
import type { ClusterStore } from './store.ts';

/** Where in each second the node calls (ms) while a supply is active. Every node's first call
 *  comes at the same point, so the call that releases the second's packets comes first and the
 *  others pick their parts up at once; the second call serves a node whose first was late or failed.
 *  Each call costs an idle node ~1 ms of CPU (56 nodes: four a second were 0.16 cores more than one,
 *  docs/rehearsal.md). */
const PHASES_MS = [50, 550];
/** ... and while none is: the heartbeat alone. Every call is a round trip through ioredis, dear on
 *  ~56 mostly idle nodes (four a second were a third of an idle node's CPU). A supply begun
 *  elsewhere is seen within a second: its first release is made by the first call of the next
 *  second anywhere, which is this phase on every idle node. */
const IDLE_PHASES_MS = [50];
/** A node not heard from for this long is dead: its unpaid leases go back to the pool. */
export const DEFAULT_DEAD_MS = 3000;

export interface LeaseState {
  /** the supply as the last call saw it, null before any */
  supply: SupplyState | null;
  liveNodes: string[];
  leased: number;
  reclaimedByThisNode: number;
  calls: number;
  failedCalls: number;
  lastError: string | null;
}

export class LeaseClock implements SupplyControl {
  private timer: NodeJS.Timeout | null = null;
  private rule: AmountRule | null = null;
  /** the rule as Redis holds it (JSON): sent with the amounts drawn by it, so that a supply changed
   *  since the last call is not released with the old rule's amounts */
  private ruleText = '';
  private rate = 0;
  private first = true;
  readonly state: LeaseState = { supply: null, liveNodes: [], leased: 0, reclaimedByThisNode: 0, calls: 0, failedCalls: 0, lastError: null };

  constructor(
    private readonly engine: ClusterEngine,
    private readonly store: ClusterStore,
    private readonly node: string,
    /** this node's logged-in users now */
    private readonly users: () => number,
    private readonly counters: Float64Array,
    private readonly log: (message: string) => void,
    private readonly deadMs = DEFAULT_DEAD_MS,
  ) {}

  start(): void {
    if (this.timer) return;
    this.arm();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private arm(): void {
    const now = Date.now();
    const inSecond = now % 1000;
    const phases = this.state.supply?.active ? PHASES_MS : IDLE_PHASES_MS;
    const next = phases.find((p) => p > inSecond) ?? phases[0] + 1000;
    // the next phase is picked after the call, from what it said of the supply; a call slower than
    // a phase (a failover) skips the phases it overlaps
    const timer = setTimeout(() => {
      void this.tick(next % 1000 === phases[0]).finally(() => {
        if (this.timer === timer) this.arm(); // not stopped meanwhile
      });
    }, next - inSecond);
    timer.unref();
    this.timer = timer;
  }

  /** Admin: a new supply, cluster-wide, from the next second on. */
  async begin(opts: SupplyOptions): Promise<SupplyState | null> {
    try {
      await this.engine.startSupply(opts);
      return await this.engine.supplyState();
    } catch (err) {
      throw new Unavailable(`the cluster's supply could not be started: ${(err as Error).message}`);
    }
  }

  async end(): Promise<SupplyState | null> {
    try {
      await this.engine.stopSupply();
      return await this.engine.supplyState();
    } catch (err) {
      throw new Unavailable(`the cluster's supply could not be stopped: ${(err as Error).message}`);
    }
  }

  private draws(n: number): number[] {
    if (this.rule === null || n <= 0) return [];
    const out = new Uint32Array(n);
    this.engine.drawAmounts(this.rule, out);
    return Array.from(out);
  }

  /** `first`: the second's first call, the one that may release it, so it brings drawn amounts
   *  (~rate of them: later calls would only make them to be thrown away; a later call that does
   *  release, because every first call was late, is asked for them and calls again). */
  private async tick(first: boolean): Promise<void> {
    let need = await this.lease(first && this.rate > 0 ? Math.ceil(this.rate) + 1 : 0);
    if (need > 0) need = await this.lease(need); // the rate or the rule was new to this node: once more, drawn by the reply's rule
    if (need > 0) this.log(`supply lease: Redis asked for ${need} amounts twice; this second's release is left to another node`);
  }

  /** One hb_sup_lease call; returns how many drawn amounts Redis asked for (0: done). */
  private async lease(draws: number): Promise<number> {
    this.state.calls++;
    const [r] = await this.store.run([
      { fn: 'hb_sup_lease', key: SUPPLY_KEY, args: [this.node, this.users(), this.deadMs, this.ruleText, ...this.draws(draws)], write: true },
    ]);
    if (!r.ok) {
      this.state.failedCalls++;
      if (this.state.lastError === null) this.log(`supply lease failed (${r.error}); shakes go on from what this node holds`);
      this.state.lastError = r.error;
      return 0;
    }
    if (this.state.lastError !== null) this.log('supply lease works again');
    this.state.lastError = null;
    const v = (r.value as Array<string | number>).map(String);
    const [need, reclaimed, rejoined, active, total, rate, rule, released, nodes] = v;
    if (rejoined === '1' && !this.first) await this.dropAll();
    this.first = false;
    this.rate = Number(rate);
    this.rule = rule ? (JSON.parse(rule) as AmountRule) : null;
    this.ruleText = rule;
    this.state.supply = this.rule
      ? { total: Number(total), ratePerSecond: this.rate, released: Number(released), rule: this.rule, active: active === '1' }
      : null;
    this.state.liveNodes = nodes ? nodes.split(',') : [];
    this.engine.liveNodes = this.state.liveNodes;
    this.state.reclaimedByThisNode += Number(reclaimed);
    const packets = v.slice(9);
    if (packets.length > 0) {
      const ids = new Uint32Array(packets.length);
      const cents = new Uint32Array(packets.length);
      let sum = 0;
      packets.forEach((p, i) => {
        const [id, c] = p.split(':');
        ids[i] = Number(id);
        cents[i] = Number(c);
        sum += cents[i];
      });
      await this.engine.adoptShakePackets(ids, cents);
      this.state.leased += packets.length;
      this.counters[C.released] += packets.length;
      this.counters[C.releasedCents] += sum;
    }
    return Number(need);
  }

  /** This node was taken for dead (cut off from Redis too long): its leases were given back to the
   *  pool, so the packets its buckets still hold are no longer its to pay. */
  private async dropAll(): Promise<void> {
    const out = { ids: new Uint32Array(1024), cents: new Uint32Array(1024) };
    let dropped = 0;
    for (;;) {
      const n = await this.engine.withdrawShakePackets(out);
      dropped += n;
      if (n < out.ids.length) break;
    }
    this.log(`this node was taken for dead and its leases given back: ${dropped} packet(s) dropped from its buckets`);
  }

  /** Shutdown: every unpaid lease back to the pool for the other nodes. */
  async giveBack(): Promise<number> {
    try {
      return Number(await this.store.one({ fn: 'hb_sup_return', key: SUPPLY_KEY, args: [this.node], write: true }));
    } catch (err) {
      this.log(`leases not given back (${(err as Error).message}); the other nodes take them back when this node is seen dead`);
      return 0;
    }
  }
}
