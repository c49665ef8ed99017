// A real Redis Cluster (3 masters + 3 replicas) in a temporary directory with a store connected to
// it, for tests that drive the cluster code without access nodes; always stopped and removed.
import { rmSync } from 'node:fs';
import { RedisCluster } from '../../src/cluster/redis-cluster.ts';
import { ClusterStore } from '../../src/cluster/store.ts';
import { tempDir } from './server.ts';

export async function withRedisStore<T>(prefix: string, use: (store: ClusterStore) => Promise<T>): Promise<T> {
  const dir = tempDir(prefix);
  const redis = await RedisCluster.start({ dir, nodeTimeoutMs: 1000, restartDelayMs: 0 });
  // WAIT up to 5 s, not the nodes' 500 ms: beside the other test files a replica may take longer to
  // acknowledge, and a write in doubt is not what these tests look at
  const store = await ClusterStore.connect(redis.urls, { waitMs: 5_000 });
  try {
    return await use(store);
  } finally {
    await store.close();
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
