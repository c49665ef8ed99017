// The user directory keeps each user's newest login, whichever order two nodes' records reach Redis
// in: a login recorded after a newer one of the same user elsewhere closes its own connection, and
// a newer login tells the older one's node to close it. Two presences (the part of an access node
// that records logins) on a real Redis Cluster; their kicks and deliveries are recorded, not acted on.
import { rmSync } from 'node:fs';
import test from 'ava';
import { userBucketKey, userBucketOf } from '../src/cluster/keys.ts';
import { Presence } from '../src/cluster/presence.ts';
import { RedisCluster } from '../src/cluster/redis-cluster.ts';
import { ClusterStore } from '../src/cluster/store.ts';
import type { NotifyItem } from '../src/server/batch/batcher.ts';
import { tempDir } from './helpers/server.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let dir: string;
let redis: RedisCluster;
let store: ClusterStore;
type Node = { presence: Presence; kicks: Array<{ user: number; at: number }>; delivered: NotifyItem[] };
const nodes: Record<'a' | 'b', Node> = {} as Record<'a' | 'b', Node>;

test.before(async () => {
  dir = tempDir('hongbao-presence-');
  redis = await RedisCluster.start({ dir, nodeTimeoutMs: 1000, restartDelayMs: 0 });
  store = await ClusterStore.connect(redis.urls);
  for (const name of ['a', 'b'] as const) {
    const n: Node = { presence: null as unknown as Presence, kicks: [], delivered: [] };
    n.presence = new Presence({
      store,
      urls: redis.urls,
      node: `node-${name}`,
      deliver: (items) => n.delivered.push(...items),
      kick: (user, at) => n.kicks.push({ user, at }),
      log: () => undefined,
    });
    await n.presence.start();
    nodes[name] = n;
  }
});

test.after.always(async () => {
  for (const n of Object.values(nodes)) await n.presence.stop();
  await store?.close();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const entryOf = async (user: number) => String(await store.cluster.hget(userBucketKey(userBucketOf(user)), String(user)));
const nodeOf = async (user: number) => (await entryOf(user)).split('@')[0];

async function until(what: () => boolean | Promise<boolean>, ms = 5000): Promise<boolean> {
  for (let waited = 0; waited < ms; waited += 20) {
    if (await what()) return true;
    await sleep(20);
  }
  return what();
}

test.serial('records crossed: a login recorded after a newer one elsewhere closes itself, and the newer stays recorded', async (t) => {
  const now = Date.now();
  nodes.b.presence.loggedIn(7, now);
  t.true(await until(async () => (await nodeOf(7)) === 'node-b'), 'the newer login (node b) is recorded first');
  nodes.a.presence.loggedIn(7, now - 50); // logged in earlier, recorded later
  t.true(await until(() => nodes.a.kicks.length > 0), 'node a closes its own, older connection');
  t.deepEqual(nodes.a.kicks, [{ user: 7, at: now }], 'closing what logged in there before the newer login');
  await sleep(300); // a kick published to node b would have arrived by now
  t.deepEqual(nodes.b.kicks, [], 'node b keeps the newer connection');
  t.is(await entryOf(7), `node-b@${now}`, 'the directory still names the newer login');
});

test.serial('in order: the newer login is recorded and tells the older one to close', async (t) => {
  const now = Date.now();
  nodes.a.presence.loggedIn(8, now - 50);
  t.true(await until(async () => (await nodeOf(8)) === 'node-a'), 'the older login (node a) is recorded');
  nodes.b.presence.loggedIn(8, now);
  t.true(await until(() => nodes.a.kicks.some((k) => k.user === 8)), 'node a hears that user 8 logged in elsewhere');
  t.deepEqual(
    nodes.a.kicks.filter((k) => k.user === 8),
    [{ user: 8, at: now }],
    'node a closes what logged in there before the newer login',
  );
  t.deepEqual(
    nodes.b.kicks.filter((k) => k.user === 8),
    [],
    'node b keeps its connection',
  );
  t.is(await entryOf(8), `node-b@${now}`, 'the directory names the newer login');
});

test.serial('a notification goes to the node of the newest login', async (t) => {
  const item: NotifyItem = { id: 900, sender: 1, shareCount: 1, totalCents: 100, expiresAt: Date.now() + 60_000, recipients: [7], cover: null };
  await nodes.a.presence.notify([item], true);
  t.true(await until(() => nodes.b.delivered.some((d) => d.id === 900)), 'node b, where user 7 logged in last, is told');
  t.false(
    nodes.a.delivered.some((d) => d.id === 900),
    'node a, whose login of user 7 was older, is not',
  );
});
