// `--redis-nat`: where to reach Redis instances instead of the addresses they announce (a NAT, a
// proxy). Its own module so that parsing the server's flags does not load the Redis client.

/** `host:port` as announced -> `host:port` to connect to (ioredis' natMap). */
export type NatMap = Record<string, { host: string; port: number }>;

export function parseNatMap(list: string[]): NatMap {
  const map: NatMap = {};
  for (const pair of list) {
    const m = /^([^=\s]+:\d+)=([^=\s:]+):(\d+)$/.exec(pair.trim());
    if (!m) throw new Error(`a NAT entry looks like HOST:PORT=HOST:PORT, got "${pair}"`);
    map[m[1]] = { host: m[2], port: Number(m[3]) };
  }
  return map;
}
