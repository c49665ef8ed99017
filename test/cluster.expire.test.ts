// A node's expiry sweep against a real Redis Cluster, with more packets due than its output holds:
// everything Redis expires and refunds comes back in the output (and so reaches the node's journal),
// every packet once, over as many calls as it takes; and so when the packets are named (forced).
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { ClusterEngine } from '../src/cluster/cluster-engine.ts';
import { GROUP_BUCKETS } from '../src/cluster/keys.ts';
import { createEngine } from '../src/engine/index.ts';
import { CreateStatus, SplitMode } from '../src/engine/types.ts';
import { withRedisStore } from './helpers/redis.ts';

test('an expiry sweep with more packets due than its output holds returns every refund Redis made, once', async (t) => {
  t.timeout(90_000);
  await withRedisStore('hongbao-cluster-expire-', async (store) => {
    const logs: string[] = [];
    const engine = new ClusterEngine({
      local: await createEngine({}, 'ts'),
      store,
      node: 'node-a',
      splitMode: SplitMode.DoubleMean,
      retainExpiredMs: 60_000,
      onDoubts: (d) => logs.push(`doubts: ${JSON.stringify(d)}`),
      log: (m) => logs.push(m),
    });
    // 300 packets of 300 cents for 3 recipients each, over the 64 buckets, all due in 300 ms
    const n = 300;
    const senders = Uint32Array.from({ length: n }, (_, i) => i + 1);
    const batch = {
      senders,
      totalCents: new Uint32Array(n).fill(300),
      shareCounts: new Uint32Array(n).fill(3),
      recipientOffsets: Uint32Array.from({ length: n + 1 }, (_, i) => 3 * i),
      recipients: Uint32Array.from({ length: 3 * n }, (_, k) => 1000 + k),
      expiresAt: new Float64Array(n).fill(Date.now() + 300),
    };
    const out = { status: new Uint8Array(n), packetIds: new Uint32Array(n) };
    await engine.createGroup(batch, out);
    t.true(
      out.status.every((s) => s === CreateStatus.Ok),
      `all ${n} created (statuses ${[...new Set(out.status)].join(', ')}; ${logs.join('; ')})`,
    );
    await sleep(400);

    // an output of 100: fewer than the packets due, and each round has more buckets than room left
    t.true(100 < n && 100 < 2 * GROUP_BUCKETS);
    const capacity = 100;
    const refunds = {
      packetIds: new Uint32Array(capacity),
      senders: new Uint32Array(capacity),
      cents: new Uint32Array(capacity),
      shares: new Uint32Array(capacity),
    };
    const returned: number[] = [];
    let cents = 0;
    for (let calls = 0; calls < 20; calls++) {
      const k = await engine.expire(Date.now(), refunds);
      t.true(k <= capacity, `a call writes at most its output's length (${k})`);
      returned.push(...refunds.packetIds.subarray(0, k));
      for (let i = 0; i < k; i++) cents += refunds.cents[i];
      if (k < capacity) break;
    }
    t.is(new Set(returned).size, returned.length, 'no packet returned twice');
    t.deepEqual(
      [...returned].sort((a, b) => a - b),
      [...out.packetIds].sort((a, b) => a - b),
      'every packet Redis expired came back',
    );
    t.is(cents, 300 * n, 'with all its cents refunded');
    t.is(await engine.expire(Date.now(), refunds), 0, 'and none is left due');

    // expiring named packets (not due) also stops at the output's length; the next call takes the rest
    const named = 150;
    const later = { ...batch, expiresAt: new Float64Array(n).fill(Date.now() + 3_600_000) };
    const out2 = { status: new Uint8Array(n), packetIds: new Uint32Array(n) };
    await engine.createGroup(later, out2);
    const force = out2.packetIds.subarray(0, named);
    const first = await engine.expire(Date.now(), refunds, force);
    const firstIds = [...refunds.packetIds.subarray(0, first)];
    const second = await engine.expire(Date.now(), refunds, force);
    const both = [...firstIds, ...refunds.packetIds.subarray(0, second)].sort((a, b) => a - b);
    t.deepEqual([first, second], [capacity, named - capacity], 'named packets: a full output, then the rest');
    t.deepEqual(
      both,
      [...force].sort((a, b) => a - b),
      'each named packet once',
    );
    t.deepEqual(logs, [], 'no doubt, no error');
  });
});
