// What a cluster survives, under real load (the simulator through the shared port, a supply and a
// campaign), against a real Redis Cluster: an access node killed (its users reconnect to the others,
// its leases come back), a Redis master killed (its replica takes over, nothing acknowledged is
// lost, what could not be confirmed is answered Unavailable and settled), and one node cut off
// Redis and healed (it moves no money meanwhile and recovers by itself). Longer: `npm run chaos --
// --nodes 3`.
import { rmSync } from 'node:fs';
import test from 'ava';
import { mintToken } from '../src/auth/token.ts';
import { checkCluster } from '../src/cluster/cluster-check.ts';
import { LocalCluster } from '../src/cluster/local-cluster.ts';
import { ShakeStatus } from '../src/engine/types.ts';
import { encodeCreate, encodeShake } from '../src/protocol/codec.ts';
import { CommonStatus } from '../src/protocol/codes.ts';
import { runClusterChaos } from '../scripts/reliability/cluster-chaos-run.ts';
import { randomSeed, sleep } from '../scripts/reliability/rng.ts';
import { TcpProxy } from '../scripts/reliability/tcp-proxy.ts';
import { tempDir, TestClient, type TestServer } from './helpers/server.ts';

for (const victims of ['node', 'master'] as const) {
  test.serial(
    `SIGKILL of a ${victims === 'node' ? 'random access node' : 'random Redis master'} under load: nothing told is lost, nothing paid twice`,
    async (t) => {
      t.timeout(180_000);
      const seed = randomSeed();
      const dir = tempDir('hongbao-cluster-chaos-');
      try {
        const r = await runClusterChaos({
          dir,
          nodes: 3,
          rounds: 2,
          victims,
          seed,
          users: 150,
          qps: 600,
          supplyTotal: 100_000,
          supplyRate: 200,
          campaignRate: 20,
          maxDelayMs: 2000,
          log: (l) => t.log(l),
        });
        t.log(
          `seed ${seed}: told ${r.told.hits} hits, ${r.told.shares} shares; Redis paid ${r.redis.shakePaid} hits, ${r.redis.shares} shares; untold ${r.untold}`,
        );
        t.is(r.failure, null, `every round recovered (seed ${seed})`);
        t.deepEqual(r.broken, [], 'every hit and share told is in the journals and in Redis, none paid twice, every packet balances');
        t.true(r.told.hits > 0 && r.told.shares > 0, 'clients were told hits and shares');
        t.is(r.rounds.length, 2, 'two kills survived');
        t.true(r.ok, 'the audit passes');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
}

test.serial('an access node cut off Redis moves no money (Unavailable), the others go on, and it recovers by itself when healed', async (t) => {
  t.timeout(180_000);
  const dir = tempDir('hongbao-cluster-cut-');
  const proxies: TcpProxy[] = [];
  const nat: string[] = [];
  const cluster = await LocalCluster.start({
    dir,
    nodes: 2,
    sharedPort: false,
    nodeTimeoutMs: 1000,
    restartDelayMs: 0,
    serverArgs: ['--shards', '1'],
    // node 2 reaches every Redis instance only through a proxy of the test's own
    beforeNodes: async (redis) => {
      for (const i of redis.instances) {
        const p = await TcpProxy.start({ host: '127.0.0.1', port: i.port });
        proxies.push(p);
        nat.push(`127.0.0.1:${i.port}=127.0.0.1:${p.port}`);
      }
    },
    serverArgsFor: (i) => (i === 1 ? ['--redis', proxies.map((p) => `redis://127.0.0.1:${p.port}`).join(','), '--redis-nat', nat.join(',')] : []),
  });
  try {
    const token = (u: number) => mintToken(cluster.secret, u, Date.now() / 1000 + 600);
    const on = (i: number) => ({ ws: cluster.wsUrl(i), token }) as unknown as TestServer;
    await fetch(`${cluster.adminUrl(0)}/admin/supply`, {
      method: 'POST',
      headers: { authorization: `Bearer ${cluster.adminToken}` },
      body: JSON.stringify({ total: 100_000, ratePerSecond: 50, rule: { kind: 'list', values: [3] } }),
    });
    const healthy = await TestClient.login(on(0), 1);
    const cut = await TestClient.login(on(1), 2);
    let request = 1;
    const shakeUntil = async (c: TestClient, want: (status: number) => boolean, ms: number) => {
      const seen: number[] = [];
      const deadline = Date.now() + ms;
      while (Date.now() < deadline) {
        const id = request++;
        c.send(encodeShake(id));
        const f = (await c.reply(id, 10_000)) as { status: number };
        seen.push(f.status);
        if (want(f.status)) return seen;
        await sleep(20);
      }
      return seen;
    };
    t.true((await shakeUntil(cut, (s) => s === ShakeStatus.Hit, 10_000)).includes(ShakeStatus.Hit), 'before the cut, node 2 pays hits');

    for (const p of proxies) p.cut();
    const during = await shakeUntil(cut, () => false, 5000);
    t.false(during.includes(ShakeStatus.Hit), `cut off, node 2 pays no hit (answers: ${[...new Set(during)].join(', ')})`);
    t.true(during.includes(CommonStatus.Unavailable), 'a shake that would hit is answered Unavailable');
    t.true(
      during.every((s) => s === ShakeStatus.Miss || s === CommonStatus.Unavailable),
      'every shake is answered at once, a miss or Unavailable (with one shard holding packets, every shake would hit)',
    );
    const id = request++;
    cut.send(encodeCreate(id, 100, 1, [1]));
    t.like(await cut.reply(id, 10_000), { status: CommonStatus.Unavailable }, 'a create on the cut node is Unavailable');
    t.true((await shakeUntil(healthy, (s) => s === ShakeStatus.Hit, 10_000)).includes(ShakeStatus.Hit), 'node 1 goes on paying hits meanwhile');

    for (const p of proxies) p.heal();
    t.true((await shakeUntil(cut, (s) => s === ShakeStatus.Hit, 30_000)).includes(ShakeStatus.Hit), 'healed, node 2 pays hits again by itself');
    // every master's connection comes back in its own time: a client retries an Unavailable create
    let created: { status: number } = { status: -1 };
    for (let tries = 0; tries < 30 && created.status !== 0; tries++) {
      const id2 = request++;
      cut.send(encodeCreate(id2, 100, 1, [1]));
      created = (await cut.reply(id2, 10_000)) as { status: number };
      if (created.status !== 0) await sleep(500);
    }
    t.is(created.status, 0, 'and creates packets again');
    healthy.close();
    cut.close();
    await cluster.stopNodes();
    const check = await checkCluster(cluster.redis.urls, cluster.journals());
    t.deepEqual(
      [...check.byCategory.identity, ...check.byCategory.lost, ...check.byCategory.twice],
      [],
      'nothing lost, nothing paid twice, everything balances',
    );
    t.deepEqual(check.byCategory.unsettled, [], 'every doubt was settled');
  } finally {
    await cluster.stop();
    for (const p of proxies) await p.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
