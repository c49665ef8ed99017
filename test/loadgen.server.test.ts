// The native generator against a real `hongbao server`: `hongbao clients --generator native` over
// two worker processes connects its users, shakes at a rate while a supply pays out, opens the group
// packets a campaign notifies, pushes one record a second to a monitor, and its final tally matches
// the server's ledger to the cent, item by item (the rehearsal's reconciliation); and a coordinator
// starved for longer than its final timeout still collects its workers' final reports.
import test from 'ava';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { checkLedger } from '../src/ledger/check.ts';
import { readLedgerItems } from '../src/report/ledger-items.ts';
import { reconcile } from '../src/report/reconcile.ts';
import { decodeHistogram } from '../src/simulator/histogram.ts';
import type { FinalTally } from '../src/simulator/tally.ts';
import type { GeneratorStats } from '../src/simulator/generator.ts';
import { PushCollector } from '../src/monitor/push-collector.ts';
import type { ClientSecondCounters } from '../src/monitor/push.ts';
import { hongbaoCommand, startReady } from '../src/process/child.ts';
import { fdTargets } from './helpers/proc.ts';
import { type StatsDocument, startServer } from './helpers/server.ts';

const USERS = 300;
const QPS = 600;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Sockets among the descriptors listed in a /proc fd directory. */
const socketsIn = (fdDir: string) => fdTargets(fdDir).filter((x) => x.startsWith('socket:')).length;

async function json<T>(url: string, init: RequestInit = {}): Promise<T> {
  const res = await fetch(url, init);
  const text = await res.text();
  if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${url}: ${res.status} ${text}`);
  return JSON.parse(text) as T;
}

test('native generator: shakes and opens against a real server reconcile with its ledger to the cent', async (t) => {
  const server = await startServer({ args: ['--threads', '1'] });
  t.teardown(() => server.stop('SIGKILL'));
  const monitor = await PushCollector.start({ keepRecords: true });
  t.teardown(() => monitor.close());

  const args = ['clients', '--generator', 'native', '--server', server.ws, '--users', `1-${USERS}`, '--users-per-worker', '150'];
  const clients = await startReady({
    name: 'hongbao clients',
    ...hongbaoCommand([...args, '--monitor', monitor.url, '--id', 'native-test', '--quiet']),
    env: { ...process.env, HONGBAO_SECRET: server.secret },
    keepStderr: true,
  });
  t.teardown(() => clients.kill());
  const stderr = () => clients.stderr();
  const ready = clients.ready as unknown as { controlPort: number; workerPids: number[]; generator: string };
  t.is(ready.generator, 'native', 'the native generator runs');
  t.is(ready.workerPids.length, 2, 'two workers of 150 users');
  const control = `http://127.0.0.1:${ready.controlPort}`;

  const getStats = () => json<GeneratorStats>(`${control}/stats`);
  let stats = await getStats();
  for (const deadline = Date.now() + 15_000; stats.connected < USERS && Date.now() < deadline; stats = await getStats()) await sleep(100);
  t.is(stats.connected, USERS, `all ${USERS} users logged in`);
  // the users' sockets are in each worker thread's own descriptor table, not the process's (the
  // machine's agent walks /proc/<pid>/fd every second: sys::private_fd_table)
  for (const pid of ready.workerPids) {
    const inTasks = readdirSync(`/proc/${pid}/task`).reduce((n, tid) => n + socketsIn(`/proc/${pid}/task/${tid}/fd`), 0);
    t.true(socketsIn(`/proc/${pid}/fd`) < 10, `worker ${pid}: its users' sockets are not in /proc/${pid}/fd`);
    t.true(inTasks >= 150, `worker ${pid}: its 150 users' sockets are in a thread's table (${inTasks} sockets)`);
  }

  const post = (route: string, body: unknown) => server.adminFetch('POST', route, body);
  t.is((await post('/admin/supply', { total: 150, ratePerSecond: 50, rule: { kind: 'range', min: 1, max: 500 } })).status, 200, 'a supply runs');
  const campaign = { count: 30, ratePerSecond: 15, recipientsPerPacket: 3, userFrom: 1, userTo: USERS, rule: { kind: 'range', min: 3, max: 900 } };
  t.is((await post('/admin/campaign', campaign)).status, 200, 'a campaign of group packets runs');
  const start = Math.floor(Date.now() / 1000) + 1;
  await json<unknown>(`${control}/qps?qps=${QPS}&at=${start}`);
  await json<unknown>(`${control}/qps?qps=0&at=${start + 4}`);
  await sleep((start + 4) * 1000 - Date.now() + 300);

  // drain: no more money moves, every answer and open is in, then expire what is left unopened
  await server.adminFetch('DELETE', '/admin/supply');
  await server.adminFetch('DELETE', '/admin/campaign');
  await sleep(1000);
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; await sleep(100)) {
    stats = await getStats();
    if (stats.inFlight === 0 && stats.pendingOpens === 0) break;
  }
  t.is(stats.inFlight, 0, 'nothing in flight before the stop');
  t.is(stats.pendingOpens, 0, 'every notified packet opened before the stop');
  await post('/admin/expire', {});
  await sleep(300);
  const serverStats = (await server.adminFetch<StatsDocument>('GET', '/stats')).body;

  const tally = await json<FinalTally>(`${control}/stop?drainMs=3000`, { method: 'POST' });
  t.is((await clients.exited).code, 0, `hongbao clients exits 0 after /stop; its stderr:\n${stderr()}`);
  t.false(/do not add up|exited with/.test(stderr()), `the workers' reports add up to their totals:\n${stderr()}`);
  t.is((await server.stop()).code, 0, 'the server stopped cleanly');

  const db = path.join(server.dataDir, 'hongbao.db');
  const reconciliation = reconcile({ check: checkLedger(db), items: readLedgerItems(db), serverTotals: serverStats.totals ?? null, tallies: [tally] });
  t.true(reconciliation.ok, `reconciled to the cent: ${reconciliation.differences.join('; ')}`);

  const c = tally.counters;
  t.is(c.sent, 4 * QPS, `exactly ${4 * QPS} shakes sent in the four seconds`);
  t.is(c.hits + c.misses + c.overloaded + c.unavailable + c.errors, c.sent, 'every shake answered');
  t.is(tally.latency.count, c.sent, 'one latency per shake');
  t.true(c.hits > 0 && tally.shake.packets.length === c.hits, `hits tallied item by item (${c.hits})`);
  t.true(tally.group.shares.length > 0 && c.opens === tally.group.shares.length, `shares tallied item by item (${c.opens})`);
  t.is(tally.group.notified.length, 30, 'every group packet of the campaign was notified');
  for (const k of ['errors', 'lost', 'unmatched', 'dropped', 'disconnects', 'connectFailures'] as const) t.is(c[k], 0, `no ${k}`);
  t.is(c.connects, USERS, 'one login per user');

  await sleep(500); // the last second's push
  const pushes = monitor.records.filter((r) => r.id === 'native-test').map((r) => ({ ...r, counters: r.counters as Partial<ClientSecondCounters> }));
  const seconds = new Set(pushes.map((r) => r.second));
  t.is(seconds.size, pushes.length, 'one push per second (the workers merged into one record)');
  const sum = (k: 'sent' | 'hits') => pushes.reduce((s, r) => s + Number(r.counters[k] ?? 0), 0);
  t.is(sum('sent'), c.sent, 'the pushed seconds add up to the shakes sent');
  t.is(sum('hits'), c.hits, 'and to the hits');
  const histogramCount = pushes.reduce((s, r) => s + (r.counters.histogram ? decodeHistogram(r.counters.histogram).totalCount : 0), 0);
  t.is(histogramCount, c.sent, 'the merged per-second histograms hold every shake latency');
  const full = pushes.filter((r) => r.second >= start && r.second < start + 4);
  t.deepEqual(
    full.map((r) => r.counters.sent),
    [QPS, QPS, QPS, QPS],
    'each of the four seconds sent exactly the rate',
  );
});

test('a coordinator starved past the final timeout still takes its workers’ final reports', async (t) => {
  const server = await startServer({ args: ['--threads', '1'] });
  t.teardown(() => server.stop('SIGKILL'));
  const users = 40;
  const args = ['clients', '--generator', 'native', '--server', server.ws, '--users', `1-${users}`, '--users-per-worker', '20', '--quiet'];
  const clients = await startReady({
    name: 'hongbao clients',
    ...hongbaoCommand(args),
    env: { ...process.env, HONGBAO_SECRET: server.secret },
    keepStderr: true,
  });
  t.teardown(() => clients.kill());
  const control = `http://127.0.0.1:${(clients.ready as unknown as { controlPort: number }).controlPort}`;
  for (const deadline = Date.now() + 15_000; (await json<GeneratorStats>(`${control}/stats`)).connected < users && Date.now() < deadline; ) await sleep(100);

  // The server stopped, so the workers' closes go unanswered and each final report comes ~2 s after
  // the close command; meanwhile the coordinator is stopped for longer than its final timeout (15 s),
  // as a coordinator starved by a saturated machine is. It wakes with its timer due and the reports
  // unread in its pipes: it must read them, not kill the workers.
  const resume = (pid: number) => () => {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {} // gone already
  };
  process.kill(server.pid, 'SIGSTOP');
  t.teardown(resume(server.pid));
  t.teardown(resume(clients.pid)); // should the test fail while it is stopped
  const tally = json<FinalTally>(`${control}/stop?drainMs=0`, { method: 'POST' });
  await sleep(500);
  process.kill(clients.pid, 'SIGSTOP');
  await sleep(17_000);
  process.kill(clients.pid, 'SIGCONT');
  const final = await tally;
  t.is((await clients.exited).code, 0, `it exits 0; its stderr:\n${clients.stderr()}`);
  t.false(/killed|exited with/.test(clients.stderr()), `no worker killed:\n${clients.stderr()}`);
  t.is(final.counters.connects, users, 'the final tally has every worker’s logins');
});
