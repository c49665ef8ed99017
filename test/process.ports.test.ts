// The ports handed to children that must keep them across restarts (cluster nodes' admin ports,
// Redis instances) lie below the kernel's ephemeral range, where no outgoing connection can take
// them between the probe and the child's bind, and one process never hands out a port twice.
import { createServer, type Server } from 'node:net';
import test from 'ava';
import { ephemeralLow, freePort, freePorts } from '../src/process/free-port.ts';

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen({ host: '127.0.0.1', port, exclusive: true }, () => resolve(s));
  });
}

test('single ports: below the ephemeral range, never handed out twice, and bindable', async (t) => {
  const low = ephemeralLow();
  const seen = new Set<number>();
  for (let i = 0; i < 300; i++) {
    const p = await freePort();
    t.true(p >= 10_000 && p < low, `${p} lies in 10000..${low - 1}`);
    t.false(seen.has(p), `${p} handed out once`);
    seen.add(p);
  }
  const servers = await Promise.all([...seen].slice(0, 20).map(listen));
  t.is(servers.length, 20, 'the ports handed out can be bound');
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

test('ports with a partner (Redis and its bus port): both free, both below the ephemeral range', async (t) => {
  const low = ephemeralLow();
  const ports = await freePorts(6, 10_000);
  t.is(new Set(ports).size, 6, 'six distinct ports');
  const servers: Server[] = [];
  for (const p of ports) {
    t.true(p + 10_000 < low, `${p} and ${p + 10_000} lie below ${low}`);
    servers.push(await listen(p), await listen(p + 10_000));
  }
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

test('a port in use is passed over', async (t) => {
  // the port after the last one handed out is where this process looks next: a listener holds it
  const next = await freePort();
  const held = await listen(next + 1).catch(() => null);
  const p = await freePort();
  t.not(p, next, 'not the port handed out before');
  if (held) t.not(p, next + 1, 'not the port held by a listener');
  await new Promise((r) => (held ? held.close(r) : r(null)));
});
