// The monitor: alignment of pushes by second (unit), and a real monitor process fed over HTTP.
import test from 'ava';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Collector } from '../src/monitor/collector.ts';
import { hongbaoCommand, startReady } from '../src/process/child.ts';
import { encodeHistogram, latencyHistogram, recordMicros } from '../src/simulator/histogram.ts';
import { parseNetDev } from '../src/monitor/netdev.ts';
import { toCsv } from '../src/monitor/series-writer.ts';

const S = 1_764_086_400;

function hist(values: number[]): string {
  const h = latencyHistogram();
  for (const v of values) recordMicros(h, v);
  return encodeHistogram(h);
}

test('pushes from several processes arriving out of order, or late, are aligned by second and summed', (t) => {
  const c = new Collector(1000);
  t.true(c.add({ source: 'client', id: 'b', second: S + 1, counters: { sent: 7, hits: 1, hitCents: 50, targetQps: 20, connected: 5 } }), 'b@S+1');
  t.true(c.add({ source: 'client', id: 'a', second: S, counters: { sent: 10, hits: 0, hitCents: 0, targetQps: 20, connected: 5 } }), 'a@S');
  t.true(c.add({ source: 'server', id: 'srv', second: S, counters: { shakes: 19, hits: 2, connections: 10, totals: { shake: 1 } } }), 'srv@S');
  t.true(c.add({ source: 'client', id: 'b', second: S, counters: { sent: 9, hits: 2, hitCents: 120, targetQps: 20, connected: 5 } }), 'b@S');
  t.true(c.add({ source: 'client', id: 'a', second: S + 1, counters: { sent: 13, hits: 1, hitCents: 30, targetQps: 20, connected: 5 } }), 'a@S+1');
  t.true(c.add({ source: 'client', id: 'a', second: S + 3, counters: { sent: 20, targetQps: 20, connected: 5 } }), 'a@S+3');

  t.deepEqual(c.take((S + 1) * 1000 + 500), [], 'nothing is final before the lag has passed');
  const rows = c.take((S + 3) * 1000 + 100);
  t.deepEqual(
    rows.map((r) => r.second),
    [S, S + 1],
    'seconds S and S+1 are final, in order',
  );
  t.is(rows[0].client.sent, 19, 'sent summed over processes');
  t.is(rows[0].client.hitCents, 120, 'cents summed');
  t.is(rows[0].client.targetQps, 20, 'target QPS is the same for all: max, not sum');
  t.is(rows[0].client.connected, 10, 'connections summed');
  t.is(rows[0].client.processes, 2, 'two client processes');
  t.is(rows[0].server.shakes, 19, 'server counters');
  t.deepEqual(rows[0].serverTotals, { shake: 1 }, 'server totals kept whole, not summed');
  t.is(rows[1].server.processes, 0, 'a second without a server push shows 0 server processes');
  t.true(c.add({ source: 'client', id: 'c', second: S, counters: { sent: 1, connected: 1, targetQps: 20 } }), 'a late push is kept');
  t.is(c.late, 1, 'and counted as late');
  const revised = c.revisions();
  t.deepEqual(
    revised.map((r) => r.second),
    [S],
    'its second is recomputed',
  );
  t.is(revised[0].client.sent, 20, 'with the late process added to the sum');
  t.is(revised[0].client.processes, 3, 'three client processes now');
  t.deepEqual(c.revisions(), [], 'each revision is handed out once');
  t.false(c.add({ source: 'nobody', id: 'x', second: S + 9, counters: {} }), 'malformed push refused');

  const rest = c.takeUpTo();
  t.deepEqual(
    rest.map((r) => r.second),
    [S + 2, S + 3],
    'finish emits the gap second and the last one',
  );
  t.is(rest[0].client.processes, 0, 'the gap second is visible as no processes');
  t.is(rest[1].client.sent, 20, 'last second kept');
});

test('latency percentiles are merged exactly from the pushed histograms', (t) => {
  const c = new Collector(0);
  const fast = Array.from({ length: 900 }, () => 1000); // 1 ms
  const slow = Array.from({ length: 100 }, () => 50_000); // 50 ms
  c.add({ source: 'client', id: 'a', second: S, counters: { sent: 900, p99Ms: 1, histogram: hist(fast) } });
  c.add({ source: 'client', id: 'b', second: S, counters: { sent: 100, p99Ms: 50, histogram: hist(slow) } });
  const [row] = c.takeUpTo();
  t.is(row.client.p50Ms, 1, 'p50 of the union is 1 ms');
  t.true(Math.abs(row.client.p99Ms - 50) < 0.1, `p99 of the union is 50 ms (got ${row.client.p99Ms})`);
  t.true(Math.abs(row.client.p90Ms - 1) < 0.01, `p90 of the union is 1 ms, not the max of the processes (got ${row.client.p90Ms})`);
  t.is(row.client.latencyCount, 1000, 'every latency counted once');
});

test('/proc/net/dev parsing sums packets over every interface, loopback included', (t) => {
  const text = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 1000      10    0    0    0     0          0         0     1000      10    0    0    0     0       0          0
  eth0: 5000      40    0    0    0     0          0         0     3000      25    0    0    0     0       0          0
`;
  t.deepEqual(parseNetDev(text), { rxPackets: 50, txPackets: 35 }, 'rx and tx packets summed');
  t.deepEqual(
    toCsv([{ second: S, client: { processes: 1, sent: 5 }, server: { processes: 0 }, net: { rxPackets: 1, txPackets: 2, packets: 3 } }]).split('\n')[0],
    'second,time,client.processes,client.sent,server.processes,net.rxPackets,net.txPackets,net.packets',
    'CSV columns are the flattened row',
  );
});

test('a monitor process aligns live pushes, writes JSONL and CSV, and renders the plots on finish', async (t) => {
  const out = mkdtempSync(path.join(tmpdir(), 'hongbao-monitor-'));
  t.teardown(() => rmSync(out, { recursive: true, force: true }));
  const child = await startReady({
    name: 'hongbao monitor',
    ...hongbaoCommand(['monitor', '--port', '0', '--out', out, '--lag-ms', '300', '--quiet']),
    keepStderr: true,
  });
  t.teardown(() => child.kill());
  const { ready } = child;
  t.is(typeof ready.port, 'number', 'its ready line names its port');
  const base = `http://127.0.0.1:${ready.port}`;
  const post = async (p: string, body: unknown) => (await fetch(base + p, { method: 'POST', body: JSON.stringify(body) })).json();

  const first = Math.floor(Date.now() / 1000);
  await post('/phase', { name: 'warm-up', second: first });
  for (let i = 0; i < 3; i++) {
    const second = first + i;
    while (Date.now() < (second + 1) * 1000) await new Promise((r) => setTimeout(r, 20));
    // pushed just after the second ended, like the clients and the server do
    await post('/push', [
      { source: 'client', id: 'c1', second, counters: { sent: 100 + i, hits: 1, targetQps: 200, connected: 3, histogram: hist([2000]) } },
      { source: 'client', id: 'c2', second, counters: { sent: 100 - i, hits: 0, targetQps: 200, connected: 3, histogram: hist([4000]) } },
      { source: 'server', id: 'server', second, counters: { shakes: 200, hits: 1, released: 2, connections: 6 } },
    ]);
  }
  await new Promise((r) => setTimeout(r, 500)); // the first second is written by now
  await post('/push', { source: 'client', id: 'late', second: first, counters: { sent: 5, targetQps: 200, connected: 1 } });
  const finished = (await post('/finish', {})) as { rows: number; late: number; plots: Array<{ svg: string; png: string | null }> };
  t.is(finished.late, 1, 'one late push');
  const rows = readFileSync(path.join(out, 'series.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  const mine = rows.filter((r) => r.second >= first && r.second < first + 3);
  t.is(mine.length, 3, 'one row per pushed second');
  for (const r of mine) {
    const late = r.second === first ? 5 : 0;
    t.is(r.client.sent, 200 + late, `second ${r.second}: clients summed to ${200 + late} (late push included)`);
    t.is(r.client.processes, late ? 3 : 2, 'every client process in the row');
    t.is(r.server.shakes, 200, 'server aligned with the clients');
    t.true(Math.abs(r.client.p99Ms - 4) < 0.01, `merged p99 is 4 ms (got ${r.client.p99Ms})`);
  }
  t.true(existsSync(path.join(out, 'series.csv')), 'CSV written');
  t.is(finished.plots.length, 7, 'seven plots');
  for (const p of finished.plots) {
    t.true(readFileSync(p.svg, 'utf8').startsWith('<svg'), `${path.basename(p.svg)} is an SVG`);
  }
  t.is((await child.exited).code, 0, `the monitor exits 0 after finish; its stderr:\n${child.stderr()}`);
});
