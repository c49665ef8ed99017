// A real Redis Cluster (3 masters + 3 replicas) in a temporary directory with a store connected to
// it, for tests that drive the cluster code without access nodes; always stopped and removed.
import { rmSync } from 'node:fs';
import { RedisCluster } from '../../src/cluster/redis-cluster.ts';
import { ClusterStore } from '../../src/cluster/store.ts';
import { tempDir } from './server.ts';

export async function withRedisStore<T>(prefix: string, use: (store: ClusterStore) => Promise<T>): Promise<T> {
  const dir = tempDir(prefix);
  const redis = await RedisCluster.start({ dir, nodeTimeoutMs: 1000, restartDelayMs: 0 });
  const store = await ClusterStore.connect(redis.urls);
  try {
    return await use(store);
  } finally {
    await store.close();
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
