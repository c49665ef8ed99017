// Where things live in the Redis Cluster (docs/cluster.md, "Keys"). A hash tag in braces picks
// the slot: the supply is one slot, group packets spread over GROUP_BUCKETS slots (a packet and its
// bucket's expiry index together), users over USER_BUCKETS slots (directory and inboxes).

export const SUPPLY_KEY = '{hb:s}:cfg';
export const SUPPLY_HITS_KEY = '{hb:s}:hits';
/** A SUPPLY_HITS_KEY value: "user:cents:node:atMs" (hb_sup_hit, hongbao.lua). */
export function parseHit(value: string): { user: number; cents: number; node: string; at: number } {
  const f = value.split(':');
  return { user: Number(f[0]), cents: Number(f[1]), node: f.slice(2, -1).join(':'), at: Number(f[f.length - 1]) };
}
/** node -> "users:lastSeenMs", each node's heartbeat: the supply is split by these users. */
export const SUPPLY_NODES_KEY = '{hb:s}:nodes';
export const IDS_KEY = '{hb:ids}';
export const GROUP_BUCKETS = 64;
export const USER_BUCKETS = 1024;

export const groupBucketOf = (packetId: number) => packetId % GROUP_BUCKETS;
/** The key a bucket's functions are called with (its expiry index). */
export const groupBucketKey = (bucket: number) => `{hb:g:${bucket}}:due`;
export const groupKey = (packetId: number) => groupBucketKey(groupBucketOf(packetId));
export const packetMetaKey = (packetId: number) => `{hb:g:${groupBucketOf(packetId)}}:m:${packetId}`;
export const packetOpenedKey = (packetId: number) => `{hb:g:${groupBucketOf(packetId)}}:o:${packetId}`;

export const userBucketOf = (user: number) => user % USER_BUCKETS;
export const userBucketKey = (bucket: number) => `{hb:u:${bucket}}:d`;

/** The pub/sub channel of one access node: notifications for its users, and kicks. */
export const nodeChannel = (node: string) => `hb:n:${node}`;
