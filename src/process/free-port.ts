// Free TCP ports on 127.0.0.1 for children that must come back on the same port after a restart
// (port 0 would give them another one). They are picked below the kernel's ephemeral range: a port
// from that range (what port 0 hands out) can be taken between the probe and the child's bind by
// any outgoing connection on the machine, and a test run or a cluster opens thousands of them.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

const LOWEST = 10_000;
/** Where this process looks next: a random start, then onwards, so that two processes picking ports
 *  at once rarely meet and one process never hands out a port twice (it may not be bound yet). */
let cursor = Math.floor(Math.random() * 1e9);

/** The first port of `net.ipv4.ip_local_port_range` (32768 when it cannot be read). */
export function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 0 ? low : 32768;
  } catch {
    return 32768;
  }
}

function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen({ host, port, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/**
 * `count` distinct free ports p below the ephemeral range; with `partner`,
 * p + partner must be free too (Redis Cluster's bus port is p + 10000). When that range is too
 * narrow (the ephemeral range widened to start low), ports come from anywhere below 65536.
 */
export async function freePorts(count: number, partner = 0, host = '127.0.0.1'): Promise<number[]> {
  let top = ephemeralLow() - partner;
  if (top - LOWEST < count * 100) top = 65536 - partner;
  const span = top - LOWEST;
  const ports: number[] = [];
  for (let k = 0; k < span && ports.length < count; k++) {
    const p = LOWEST + (cursor++ % span);
    if ((await portFree(host, p)) && (partner === 0 || (await portFree(host, p + partner)))) ports.push(p);
  }
  if (ports.length < count) throw new Error(`no ${count} free ports between ${LOWEST} and ${top + partner} on ${host}`);
  return ports;
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return (await freePorts(1, 0, host))[0];
}
