// The access node's connection to the Redis Cluster: topology and connections by ioredis, batching
// by us. A batch of function calls is grouped by the master that owns each call's slot and sent as
// ONE pipeline per master, all masters at once (one round trip per batch); a pipeline that writes
// ends with `WAIT 1 <ms>` on the same connection, so its writes count only once a replica has them.
//
// Each call's outcome says whether its effects can be relied on:
//   ok                      done, and on a replica if it wrote;
//   refused (inDoubt false) Redis answered an error before running it (NOREPLICAS, MOVED,
//                           CLUSTERDOWN, a connection not up): nothing happened;
//   inDoubt                 it may have run: the reply was lost, the command timed out, or WAIT
//                           saw no replica in time (a failover could still lose it).
// Nothing is retried here: the caller decides (money moves are settled, docs/cluster.md).
import calculateSlot from 'cluster-key-slot';
import { Cluster, type Redis } from 'ioredis';
import type { NatMap } from './nat.ts';

export type { NatMap };

export type Arg = string | number;

export interface Call {
  /** A function of the hongbao library (FCALL), or a plain command (e.g. INCRBY). */
  fn: string;
  /** The one key it is routed by (every key it touches shares this key's slot). */
  key: string;
  args: Arg[];
  /** Writes: the pipeline waits for a replica. Plain commands give their name in `fn`. */
  write: boolean;
  plain?: boolean;
}

export type Outcome = { ok: true; value: unknown } | { ok: false; inDoubt: boolean; error: string };

export interface StoreOptions {
  natMap?: NatMap;
  /** Replicas a write must reach before it counts (WAIT n). Default 1. */
  replicas?: number;
  /** WAIT timeout, ms. Default 500. */
  waitMs?: number;
  /** A command not answered within this is in doubt. Default 2000. */
  commandTimeoutMs?: number;
  log?: (message: string) => void;
}

/** Errors Redis returns without running the command. */
const REFUSED = /^(NOREPLICAS|MOVED|ASK|CLUSTERDOWN|TRYAGAIN|LOADING|READONLY|MASTERDOWN|NOSCRIPT|ERR Function not found)/;
/** ioredis errors raised before the command was written to a socket. */
const NOT_SENT = /(Stream isn't writeable|enableOfflineQueue|None of startup nodes|Cluster isn't ready|Failed to refresh slots)/;

export function parseRedisUrls(list: string[]): Array<{ host: string; port: number }> {
  return list.map((raw) => {
    const u = new URL(raw.includes('://') ? raw : `redis://${raw}`);
    if (u.protocol !== 'redis:') throw new Error(`a Redis address must be redis://host:port, got "${raw}"`);
    return { host: u.hostname, port: Number(u.port || 6379) };
  });
}

export class ClusterStore {
  readonly replicas: number;
  private readonly waitMs: number;
  private readonly log: (message: string) => void;
  private refreshing = false;
  /** Round trips and calls (also by function), for bench:cluster and /stats. */
  readonly counts = { pipelines: 0, calls: 0, refused: 0, inDoubt: 0, byFn: {} as Record<string, number> };

  private constructor(
    readonly cluster: Cluster,
    o: StoreOptions,
  ) {
    this.replicas = o.replicas ?? 1;
    this.waitMs = o.waitMs ?? 500;
    this.log = o.log ?? (() => undefined);
  }

  /** Connects and waits for the slot map (a clear error if the cluster cannot be reached). */
  static async connect(urls: string[], o: StoreOptions = {}): Promise<ClusterStore> {
    const cluster = new Cluster(parseRedisUrls(urls), {
      natMap: o.natMap,
      enableOfflineQueue: false,
      scaleReads: 'master',
      slotsRefreshTimeout: 2000,
      // A failed call refreshes the slot map at once (refresh()); the periodic refresh, a new
      // connection and a CLUSTER SLOTS each time, is only a safety net: on ~56 nodes every 2 s it
      // was a fifth of an idle node's CPU.
      slotsRefreshInterval: 15_000,
      clusterRetryStrategy: (times) => Math.min(100 * times, 2000),
      // Node connections queue commands while not connected; `run` only sends to a master whose
      // connection is ready, so a queued (never sent) command is one that raced a disconnect.
      redisOptions: {
        // a command sent once is never sent again by the client: a retry is the caller's decision
        autoResendUnfulfilledCommands: false,
        maxRetriesPerRequest: 0,
        commandTimeout: o.commandTimeoutMs ?? 2000,
        connectTimeout: 2000,
      },
    });
    cluster.on('error', () => undefined); // per-command outcomes carry the errors
    const store = new ClusterStore(cluster, o);
    const deadline = Date.now() + 10_000;
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no slot map')), 10_000);
        cluster.once('ready', () => {
          clearTimeout(timer);
          resolve();
        });
      });
      // every master connected before the first batch, so that it is not refused for a lazy connection
      for (;;) {
        const masters = cluster.nodes('master');
        for (const m of masters) if (m.status === 'wait') m.connect().catch(() => undefined);
        if (masters.length > 0 && masters.every((m) => m.status === 'ready')) break;
        if (Date.now() > deadline) throw new Error('masters not connected');
        await new Promise((r) => setTimeout(r, 20));
      }
    } catch (err) {
      cluster.disconnect();
      throw new Error(`the Redis Cluster at ${urls.join(',')} did not answer within 10 s (${(err as Error).message})`);
    }
    return store;
  }

  /** The master that owns `key`'s slot now, or null while the slot has none (a failover). */
  private masterFor(key: string): Redis | null {
    const owners = this.cluster.slots[calculateSlot(key)];
    const master = owners?.[0];
    if (!master) return null;
    return this.cluster.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === master) ?? null;
  }

  /** Run a batch: one pipeline per master, in parallel. Outcomes in the order of `calls`. */
  async run(calls: Call[]): Promise<Outcome[]> {
    const out: Outcome[] = new Array(calls.length);
    const byMaster = new Map<Redis, number[]>();
    calls.forEach((c, i) => {
      const m = this.masterFor(c.key);
      // ioredis opens node connections lazily: a new master (after a failover) is connected here and
      // used once ready; meanwhile its calls are refused, untouched
      if (m !== null && m.status === 'wait') m.connect().catch(() => undefined);
      if (m === null || m.status !== 'ready') {
        out[i] = { ok: false, inDoubt: false, error: `no master ready for slot ${calculateSlot(c.key)}` };
        return;
      }
      const list = byMaster.get(m);
      if (list) list.push(i);
      else byMaster.set(m, [i]);
    });
    await Promise.all([...byMaster].map(([master, indexes]) => this.pipeline(master, indexes, calls, out)));
    for (const o of out) {
      if (o.ok) continue;
      if (o.inDoubt) this.counts.inDoubt++;
      else this.counts.refused++;
      if (/MOVED|ASK|no master ready|CLUSTERDOWN|Connection is closed|Stream isn't writeable/.test(o.error)) this.refresh();
    }
    this.counts.calls += calls.length;
    for (const c of calls) this.counts.byFn[c.fn] = (this.counts.byFn[c.fn] ?? 0) + 1;
    return out;
  }

  private async pipeline(master: Redis, indexes: number[], calls: Call[], out: Outcome[]): Promise<void> {
    const p = master.pipeline();
    let writes = false;
    for (const i of indexes) {
      const c = calls[i];
      if (c.plain) p.call(c.fn, c.key, ...c.args);
      else p.call('FCALL', c.fn, 1, c.key, ...c.args);
      writes ||= c.write;
    }
    if (writes && this.replicas > 0) p.call('WAIT', this.replicas, this.waitMs);
    this.counts.pipelines++;
    let results: Array<[Error | null, unknown]> | null;
    try {
      results = (await p.exec()) as Array<[Error | null, unknown]> | null;
    } catch (err) {
      const message = (err as Error).message;
      for (const i of indexes) out[i] = { ok: false, inDoubt: !NOT_SENT.test(message), error: message };
      return;
    }
    if (results === null) {
      for (const i of indexes) out[i] = { ok: false, inDoubt: true, error: 'pipeline aborted' };
      return;
    }
    let replicated = true;
    if (writes && this.replicas > 0) {
      const [err, acked] = results[results.length - 1];
      replicated = err === null && Number(acked) >= this.replicas;
    }
    indexes.forEach((i, k) => {
      const [err, value] = results[k];
      if (err) {
        const message = err.message;
        out[i] = { ok: false, inDoubt: !(REFUSED.test(message) || NOT_SENT.test(message)), error: message };
      } else if (calls[i].write && !replicated) {
        out[i] = { ok: false, inDoubt: true, error: `no replica acknowledged the write within ${this.waitMs} ms` };
      } else {
        out[i] = { ok: true, value };
      }
    });
  }

  /** A single call, for the rare paths (admin, start-up). Throws unless ok. */
  async one(call: Call): Promise<unknown> {
    const [o] = await this.run([call]);
    if (!o.ok) throw new StoreError(o.error, o.inDoubt);
    return o.value;
  }

  publish(channel: string, message: string): Promise<unknown> {
    return this.cluster.publish(channel, message);
  }

  /** Ask ioredis for a fresh slot map (after MOVED or a lost master), at most one at a time. */
  private refresh(): void {
    if (this.refreshing) return;
    this.refreshing = true;
    this.cluster.refreshSlotsCache(() => {
      this.refreshing = false;
    });
  }

  async close(): Promise<void> {
    await this.cluster.quit().catch(() => this.cluster.disconnect());
  }
}

/** A store call that did not succeed: `inDoubt` says whether it may have run anyway. */
export class StoreError extends Error {
  override readonly name = 'StoreError';
  constructor(
    message: string,
    readonly inDoubt: boolean,
  ) {
    super(message);
  }
}

/** A subscriber connection (pub/sub needs its own). Messages of `channel` go to `onMessage`. */
export async function subscribe(
  urls: string[],
  channel: string,
  onMessage: (message: string) => void,
  log: (m: string) => void,
  natMap?: NatMap,
): Promise<() => Promise<void>> {
  const sub = new Cluster(parseRedisUrls(urls), {
    natMap,
    clusterRetryStrategy: (times) => Math.min(100 * times, 2000),
    slotsRefreshInterval: 30_000, // a subscription moves by itself when its connection drops
    redisOptions: { connectTimeout: 2000 },
  });
  sub.on('error', () => undefined);
  sub.on('message', (ch: string, message: string) => {
    if (ch === channel) onMessage(message);
  });
  sub.on('+node', () => undefined);
  await sub.subscribe(channel).catch((err: Error) => {
    log(`subscribe ${channel} failed: ${err.message}`);
    throw err;
  });
  return async () => {
    await sub.quit().catch(() => sub.disconnect());
  };
}
