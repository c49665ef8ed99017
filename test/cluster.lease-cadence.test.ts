// The lease clock's cadence against a real Redis Cluster: with no supply active its call is only
// the node's heartbeat, once a second; once a supply is active it calls twice a second and
// picks up its part of every release; when the supply stops it goes back to the heartbeat. The
// node's engine is a stand-in that draws fixed amounts and keeps the packets it is given.
import test from 'ava';
import type { ClusterEngine } from '../src/cluster/cluster-engine.ts';
import { SUPPLY_KEY } from '../src/cluster/keys.ts';
import { LeaseClock } from '../src/cluster/lease-clock.ts';
import { newCounters } from '../src/server/counters.ts';
import { withRedisStore } from './helpers/redis.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('the lease clock beats once a second without a supply, twice with one, and once again after it stops', async (t) => {
  t.timeout(90_000);
  await withRedisStore('hongbao-lease-cadence-', async (store) => {
    const adopted: number[] = [];
    const engine = {
      liveNodes: [] as string[],
      drawAmounts: (_rule: unknown, out: Uint32Array) => out.fill(5),
      adoptShakePackets: async (ids: Uint32Array) => void adopted.push(...ids),
      withdrawShakePackets: async () => 0,
    };
    const log = (m: string) => t.log(m);
    const clock = new LeaseClock(engine as unknown as ClusterEngine, store, 'node-a', () => 10, newCounters(), log);
    const callsOver = async (ms: number) => {
      const before = clock.state.calls;
      await sleep(ms);
      return clock.state.calls - before;
    };
    try {
      clock.start();
      await sleep(1200); // the first beat
      t.deepEqual(engine.liveNodes, ['node-a'], 'the heartbeat makes the node live');
      const idle = await callsOver(4000);
      t.true(idle >= 2 && idle <= 5, `no supply: about one call a second (${idle} in 4 s)`);

      await store.cluster.call('FCALL', 'hb_sup_start', 1, SUPPLY_KEY, 1000, 8, JSON.stringify({ kind: 'list', values: [5] }));
      await sleep(1500); // seen at the next beat
      const active = await callsOver(4000);
      t.true(active >= 7 && active <= 10, `a supply active: two calls a second (${active} in 4 s)`);
      t.true(adopted.length >= 16, `its part of each second's release picked up (${adopted.length} packets)`);

      await store.cluster.call('FCALL', 'hb_sup_stop', 1, SUPPLY_KEY);
      await sleep(1500);
      const after = await callsOver(4000);
      t.true(after >= 2 && after <= 5, `stopped: about one call a second again (${after} in 4 s)`);
      t.is(clock.state.failedCalls, 0);
    } finally {
      clock.stop();
    }
  });
});
