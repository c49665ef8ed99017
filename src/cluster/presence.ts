// Where users are, across access nodes (docs/cluster.md, "Notifications"): every login is recorded
// in the user directory on Redis (one hb_usr_login call per user bucket per turn), which answers
// the packets waiting in the user's inbox (sent to them at once) and the node the user was at
// before (which is told to close that older connection). The directory keeps the newest login: one
// recorded after a newer login of the same user elsewhere is not, and its own node closes it. A new
// group packet goes into each recipient's inbox and is published to the node each recipient is at,
// one message per node per batch, on that node's channel; each node subscribes to its own.
import type { NotifyItem } from '../server/batch/batcher.ts';
import { nodeChannel, userBucketKey, userBucketOf } from './keys.ts';
import { type Call, type ClusterStore, type NatMap, subscribe } from './store.ts';

/** How often a notification Redis did not record is tried in all, and how long apart (also the
 *  details read of a packet made after a doubt, node.ts). */
export const NOTIFY_TRIES = 10;
export const NOTIFY_RETRY_MS = 1000;

/** What nodes publish to each other on their channels. */
type NodeMessage = { t: 'notify'; items: NotifyItem[] } | { t: 'kick'; user: number; at: number };

export interface PresenceDeps {
  store: ClusterStore;
  urls: string[];
  natMap?: NatMap;
  node: string;
  /** Packets for users connected here (they are sent PacketNotify frames). */
  deliver(items: NotifyItem[]): void;
  /** `user` logged in on another node at `at`: close an older connection of theirs here. */
  kick(user: number, at: number): void;
  log(message: string): void;
}

export class Presence {
  private logins: Array<{ user: number; at: number }> = [];
  private scheduled = false;
  private unsubscribe: (() => Promise<void>) | null = null;
  readonly counts = { logins: 0, inboxDelivered: 0, published: 0, received: 0, kicks: 0, notifyRetries: 0, notifyLost: 0 };

  constructor(private readonly d: PresenceDeps) {}

  async start(): Promise<void> {
    this.unsubscribe = await subscribe(this.d.urls, nodeChannel(this.d.node), (m) => this.onMessage(m), this.d.log, this.d.natMap);
  }

  async stop(): Promise<void> {
    await this.unsubscribe?.();
    this.unsubscribe = null;
  }

  private onMessage(text: string): void {
    let m: NodeMessage;
    try {
      m = JSON.parse(text) as NodeMessage;
    } catch {
      this.d.log(`a message on ${nodeChannel(this.d.node)} that is not JSON was ignored`);
      return;
    }
    this.counts.received++;
    if (m.t === 'notify') this.d.deliver(m.items);
    else if (m.t === 'kick') {
      this.counts.kicks++;
      this.d.kick(m.user, m.at);
    }
  }

  /** A user logged in here at `at` (ms): recorded (and their inbox read) with the other logins of this turn. */
  loggedIn(user: number, at: number): void {
    this.logins.push({ user, at });
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const batch = this.logins;
      this.logins = [];
      void this.recordLogins(batch).catch((err: Error) => this.d.log(`login directory: ${err.message}`));
    });
  }

  private async recordLogins(batch: Array<{ user: number; at: number }>): Promise<void> {
    const byBucket = new Map<number, Array<{ user: number; at: number }>>();
    for (const login of batch) {
      const b = userBucketOf(login.user);
      const list = byBucket.get(b);
      if (list) list.push(login);
      else byBucket.set(b, [login]);
    }
    const buckets = [...byBucket];
    const now = Date.now();
    const results = await this.d.store.run(
      buckets.map(([b, logins]) => ({
        fn: 'hb_usr_login',
        key: userBucketKey(b),
        args: [this.d.node, now, ...logins.flatMap((l) => [l.user, l.at])],
        write: true,
      })),
    );
    const kicks: Array<{ node: string; user: number; at: number }> = [];
    const waiting: NotifyItem[] = [];
    buckets.forEach(([, logins], k) => {
      const r = results[k];
      if (!r.ok) return; // the user is still served here; their inbox is read at their next login
      const v = (r.value as Array<string | number>).map(String);
      let at = 0;
      for (const { user, at: loginAt } of logins) {
        const before = v[at++];
        const beforeAt = Number(v[at++]);
        const recorded = v[at++] === '1';
        const n = Number(v[at++]);
        for (let j = 0; j < n; j++) {
          const packetId = Number(v[at++]);
          const [sender, shareCount, totalCents, expiresAt] = v[at++].split(':').map(Number);
          waiting.push({ id: packetId, sender, shareCount, totalCents, expiresAt, recipients: [user], cover: null });
        }
        if (!recorded) {
          // a newer login of this user on `before` was recorded first: this connection is the older one
          if (before !== this.d.node) {
            this.counts.kicks++;
            this.d.kick(user, beforeAt);
          }
        } else if (before && before !== this.d.node) kicks.push({ node: before, user, at: loginAt });
      }
    });
    this.counts.logins += batch.length;
    if (waiting.length > 0) {
      this.counts.inboxDelivered += waiting.length;
      this.d.deliver(waiting);
    }
    await Promise.all(
      kicks.map((k) => this.d.store.publish(nodeChannel(k.node), JSON.stringify({ t: 'kick', user: k.user, at: k.at } satisfies NodeMessage))),
    ).catch((err: Error) => this.d.log(`kick not published: ${err.message}`));
  }

  /** A notification Redis did not record (refused, or timed out on a saturated machine): tried again
   *  a second later, up to NOTIFY_TRIES times and while the packet lasts. Recording it twice is
   *  harmless (the inbox is keyed by packet; a recipient told twice opens once, then hears Repeat). */
  private again(item: NotifyItem, localToo: boolean, tries: number, error: string): void {
    if (tries + 1 >= NOTIFY_TRIES || item.expiresAt <= Date.now()) {
      this.counts.notifyLost++;
      this.d.log(`notification of packet ${item.id} not recorded after ${tries + 1} tries (${error}): its recipients see it by id only`);
      return;
    }
    this.counts.notifyRetries++;
    setTimeout(() => void this.notify([item], localToo, tries + 1), NOTIFY_RETRY_MS).unref();
  }

  /** New packets (committed): into every recipient's inbox, and to the node each recipient is at.
   *  `localToo` false when this node's own recipients were already told (a packet made here over
   *  WebSocket); true for the admin's and the campaign's packets. */
  async notify(items: NotifyItem[], localToo: boolean, tries = 0): Promise<void> {
    const calls: Call[] = [];
    const who: Array<{ item: NotifyItem; users: number[] }> = [];
    for (const item of items) {
      const byBucket = new Map<number, number[]>();
      for (const u of item.recipients) {
        const b = userBucketOf(u);
        const list = byBucket.get(b);
        if (list) list.push(u);
        else byBucket.set(b, [u]);
      }
      const info = `${item.sender}:${item.shareCount}:${item.totalCents}:${item.expiresAt}`;
      for (const [b, users] of byBucket) {
        calls.push({ fn: 'hb_usr_notify', key: userBucketKey(b), args: [item.id, info, item.expiresAt, ...users], write: true });
        who.push({ item, users });
      }
    }
    const results = await this.d.store.run(calls);
    const perNode = new Map<string, Map<number, NotifyItem>>();
    results.forEach((r, k) => {
      if (!r.ok) {
        this.again({ ...who[k].item, recipients: who[k].users }, localToo, tries, r.error);
        return;
      }
      const nodes = (r.value as string[]).map(String);
      who[k].users.forEach((user, j) => {
        const node = nodes[j];
        if (!node || (node === this.d.node && !localToo)) return;
        const items = perNode.get(node) ?? new Map<number, NotifyItem>();
        const item = who[k].item;
        const entry = items.get(item.id) ?? { ...item, recipients: [] };
        entry.recipients.push(user);
        items.set(item.id, entry);
        perNode.set(node, items);
      });
    });
    const local = perNode.get(this.d.node);
    if (local) {
      perNode.delete(this.d.node);
      this.d.deliver([...local.values()]);
    }
    await Promise.all(
      [...perNode].map(([node, byId]) => {
        this.counts.published++;
        const items = [...byId.values()];
        return this.d.store.publish(nodeChannel(node), JSON.stringify({ t: 'notify', items } satisfies NodeMessage)).catch((err: Error) => {
          for (const item of items) this.again(item, localToo, tries, `not published: ${err.message}`);
        });
      }),
    );
  }
}
