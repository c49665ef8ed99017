// The supply's lease call (hb_sup_lease) against a real Redis Cluster with no access node calling
// it: amounts a node drew by a rule the supply no longer has (the admin changed it since that node's
// last call) are not released; the node is asked again, and the reply carries the rule to draw by.
import { rmSync } from 'node:fs';
import test from 'ava';
import { Cluster } from 'ioredis';
import { SUPPLY_KEY } from '../src/cluster/keys.ts';
import { RedisCluster } from '../src/cluster/redis-cluster.ts';
import { parseRedisUrls } from '../src/cluster/store.ts';
import { tempDir } from './helpers/server.ts';

test('amounts drawn by a rule the supply no longer has are not released: the caller is asked again with the new rule', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('hongbao-supply-');
  const redis = await RedisCluster.start({ dir, nodeTimeoutMs: 1000, restartDelayMs: 0 });
  const c = new Cluster(parseRedisUrls(redis.urls));
  try {
    const old = JSON.stringify({ kind: 'list', values: [9] });
    const rule = JSON.stringify({ kind: 'list', values: [5] });
    await c.call('FCALL', 'hb_sup_start', 1, SUPPLY_KEY, 2, 1, rule);
    await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 50)); // a new second: one packet is due
    const lease = (ruleText: string, ...cents: number[]) =>
      c.call('FCALL', 'hb_sup_lease', 1, SUPPLY_KEY, 'node-a', 1, 3000, ruleText, ...cents) as Promise<Array<string | number>>;

    const stale = await lease(old, 9, 9);
    t.true(Number(stale[0]) > 0, `drawn by the old rule: asked again (need ${stale[0]})`);
    t.is(stale[6], rule, 'with the rule to draw by');
    t.deepEqual(stale.slice(9), [], 'nothing released');
    t.is(await c.hget(SUPPLY_KEY, 'released'), '0');

    const fresh = await lease(rule, 5, 5);
    t.is(Number(fresh[0]), 0, 'drawn by the supply rule: done');
    t.deepEqual(fresh.slice(9), ['1:5'], "the second's packet, released to the only node, at the rule's 5 cents");
    t.like(await c.hgetall(SUPPLY_KEY), { released: '1', created: '1', createdCents: '5' });
  } finally {
    c.disconnect();
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
