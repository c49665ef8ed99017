// The dashboard's data path: monitor pushes aligned into points, the running reconciliation, the
// feed's SSE and history over node:http and uWebSockets.js, and the static file helper.
import test from 'ava';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import type { Totals } from '../src/engine/types.ts';
import { reconcile, toDashboardPoint, type FeedCarry, type PushBody } from '../src/web/dashboard/point.ts';
import { DashboardFeed } from '../src/web/feed.ts';
import { loadWebPage, lookupStatic, serveStaticNode, serveStaticUws } from '../src/web/static.ts';
import { present } from './helpers/present.ts';

const cc = (count: number, cents: number) => ({ count, cents });

function totals(shakePaid = cc(10, 1000), groupPaid = cc(4, 400)): Totals {
  return {
    shake: { created: cc(50, 5000), paid: shakePaid, remaining: cc(50 - shakePaid.count, 5000 - shakePaid.cents), refunded: cc(0, 0) },
    group: { created: cc(9, 900), paid: groupPaid, remaining: cc(3, 300), refunded: cc(9 - 3 - groupPaid.count, 600 - groupPaid.cents) },
    groupPackets: 3,
  };
}

const server = (second: number, counters: Record<string, unknown>): PushBody => ({ source: 'server', id: 'srv', second, counters });
const client = (id: string, second: number, counters: Record<string, unknown>): PushBody => ({ source: 'client', id, second, counters });

test('a second of pushes is aligned into one point, client tallies accumulate', (t) => {
  const carry: FeedCarry = { totals: null, received: null };
  const p1 = toDashboardPoint(
    100,
    [
      server(100, { shakes: 1000, hits: 4, released: 5, opens: 2, repeats: 1, openRefused: 0, creates: 3, connections: 20, totals: totals() }),
      client('a', 100, { sent: 600, hits: 3, hitCents: 300, opens: 1, openCents: 100, connected: 10, p50Ms: 1, p99Ms: 9 }),
      client('b', 100, { sent: 410, hits: 1, hitCents: 100, opens: 1, openCents: 100, connected: 10, p50Ms: 3, p99Ms: 4 }),
    ],
    carry,
  );
  t.is(p1.clientSent, 1010, 'client requests summed over processes');
  t.is(p1.serverAnswered, 1006, 'shakes + opens + repeats + refused + creates');
  t.is(p1.p50Ms, 2, 'p50 is the mean over client processes');
  t.is(p1.p99Ms, 9, 'p99 is the largest over client processes');
  t.is(p1.clientsConnected, 20, 'connected summed');
  t.deepEqual(p1.clientReceived, { shake: cc(4, 400), group: cc(2, 200) }, 'tallies after one second');
  const p2 = toDashboardPoint(101, [client('a', 101, { hits: 1, hitCents: 50 })], carry);
  t.deepEqual(p2.clientReceived?.shake, cc(5, 450), 'tallies carry over');
  t.deepEqual(p2.totals, p1.totals, 'a second without a server push keeps the last totals');
  t.is(p2.servers, 0, 'and says no server reported');
  t.deepEqual(p1.clientReceived?.shake, cc(4, 400), 'an earlier point is not changed afterwards');
});

test('reconciliation: balanced, in flight, and red on any other gap', (t) => {
  const base = toDashboardPoint(1, [server(1, { hits: 3, opens: 2, totals: totals() })], { totals: null, received: null });
  t.is(reconcile({ ...base, totals: null }).state, 'waiting', 'nothing to check before the first totals');
  t.is(reconcile(base).state, 'ok', 'server books balance and no client tallies');
  // Three seconds earlier the server had paid 7 shake packets (700 cents) and 4 shares.
  const earlier = { ...base, totals: totals(cc(7, 700), cc(4, 400)) };
  const withClients = (shake: [number, number], group: [number, number]) =>
    reconcile({ ...base, clientReceived: { shake: cc(...shake), group: cc(...group) } }, earlier);
  t.is(withClients([10, 1000], [4, 400]).state, 'ok', 'clients agree to the cent');
  t.is(withClients([8, 800], [4, 400]).state, 'in-flight', 'behind now, but past what was paid three seconds ago: on the wire');
  t.is(withClients([7, 700], [4, 400]).state, 'in-flight', 'exactly caught up with three seconds ago');
  t.is(withClients([6, 600], [4, 400]).state, 'off', 'behind what the server had paid three seconds ago: red');
  t.is(reconcile({ ...base, clientReceived: { shake: cc(0, 0), group: cc(0, 0) } }, null).state, 'in-flight', 'no history yet: behind is on the wire');
  t.is(withClients([10, 1001], [4, 400]).state, 'off', 'one cent more at the clients than the server paid: red');
  t.is(withClients([12, 1200], [4, 400]).state, 'in-flight', 'ahead of this push by less than the server paid in three seconds: a client second closed late');
  t.is(withClients([13, 1300], [4, 400]).state, 'in-flight', 'ahead by exactly what it paid in three seconds');
  t.is(withClients([14, 1400], [4, 400]).state, 'off', 'ahead by more than the server paid in three seconds: red');
  t.is(withClients([12, 1201], [4, 400]).state, 'in-flight', 'the cents of a lead are not known per packet, only bounded');
  t.is(withClients([12, 1301], [4, 400]).state, 'off', 'a lead in cents past what was paid in three seconds: red');
  t.is(withClients([10, 999], [4, 400]).state, 'off', 'same count, one cent short: red');
  const silent = (shake: [number, number]) => reconcile({ ...base, servers: 0, clientReceived: { shake: cc(...shake), group: cc(4, 400) } }, earlier);
  t.is(silent([12, 1200]).state, 'in-flight', 'no server push this second: its totals are old, clients may be ahead');
  t.is(silent([6, 600]).state, 'off', 'but never behind what the server had paid three seconds ago');
  const broken = totals();
  broken.group.refunded = cc(broken.group.refunded.count, broken.group.refunded.cents + 1);
  const r = reconcile({ ...base, totals: broken });
  t.is(r.state, 'off', 'a cent too many in the server books is red');
  t.deepEqual(r.flows[1].booksGap, cc(0, -1), 'and the gap is shown');
});

test('the feed closes seconds in order after the grace period, drops late pushes', (t) => {
  let now = 100_000;
  const feed = new DashboardFeed({ graceMs: 500, tickMs: 0, now: () => now });
  const chunks: string[] = [];
  feed.subscribe((c) => chunks.push(c));
  t.true(feed.ingest(server(100, { shakes: 1 })), 'accepted');
  t.true(feed.ingest(server(100, { shakes: 7 })), 'a repeat from the same process replaces the first');
  t.true(feed.ingest(client('c', 99, { sent: 5 })), 'an older second');
  t.false(feed.ingest({ source: 'x', second: 1 }), 'malformed');
  now = 101_400;
  feed.tick();
  t.deepEqual(
    feed.series().map((p) => p.second),
    [99],
    'second 100 is still within its grace period',
  );
  now = 101_500;
  feed.tick();
  t.deepEqual(
    feed.series().map((p) => p.second),
    [99, 100],
    'closed in order',
  );
  t.is(feed.series()[1].shakes, 7, 'the later push won');
  t.false(feed.ingest(server(100, { shakes: 1 })), 'a push for a closed second is late');
  t.is(feed.latePushes, 1, 'and counted');
  t.is(chunks.length, 2, 'one event per point');
  t.regex(chunks[1], /^event: point\ndata: \{.*"second":100.*\}\n\n$/s, 'server-sent event framing');
  feed.close();
});

test('node:http: the dashboard page, /series and /events', async (t) => {
  const files = await loadWebPage('dashboard');
  const feed = new DashboardFeed({ tickMs: 0 });
  const http = createServer((req, res) => {
    if (!feed.handleNode(req, res) && !serveStaticNode(files, req, res)) res.writeHead(404).end();
  });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  const base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  try {
    const page = await fetch(`${base}/?x=1`);
    t.is(page.headers.get('content-type'), 'text/html; charset=utf-8', 'index at /');
    t.regex(await page.text(), /<script type="module" src="app.js">/, 'the built page');
    const js = await fetch(`${base}/app.js`);
    t.is(js.headers.get('content-type'), 'text/javascript; charset=utf-8', 'script type');
    t.true((await js.text()).length > 20_000, 'uPlot is bundled into app.js');
    t.is((await fetch(`${base}/nope.js`)).status, 404, 'unknown paths fall through');
    t.is((await fetch(`${base}/style.css`, { method: 'POST' })).status, 404, 'only GET and HEAD');

    feed.publish(toDashboardPoint(5, [server(5, { shakes: 3 })], { totals: null, received: null }));
    t.deepEqual(
      ((await (await fetch(`${base}/series`)).json()) as Array<{ second: number }>).map((p) => p.second),
      [5],
      'history',
    );

    const events = await fetch(`${base}/events`);
    t.is(events.headers.get('content-type'), 'text/event-stream; charset=utf-8', 'SSE content type');
    const reader = present(events.body, 'a streamed body').getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    t.regex(first, /^retry: /, 'the stream opens with a retry hint');
    feed.publish(toDashboardPoint(6, [server(6, { shakes: 4 })], { totals: null, received: null }));
    let text = '';
    while (!text.includes('\n\n')) text += new TextDecoder().decode((await reader.read()).value);
    t.regex(text, /event: point\ndata: .*"second":6/, 'a published point reaches the open stream');
    await reader.cancel();
  } finally {
    feed.close();
    http.closeAllConnections();
    http.close();
  }
});

test('lookupStatic ignores the query and fragment and maps / to index.html', async (t) => {
  const files = await loadWebPage('shake');
  t.is(lookupStatic(files, 'GET', '/?user=1#x'), files.get('/index.html'), '/ with a query');
  t.is(lookupStatic(files, 'head', '/style.css')?.type, 'text/css; charset=utf-8', 'HEAD, lower-case method');
  t.is(lookupStatic(files, 'GET', '/../package.json'), undefined, 'nothing outside the built folder');
  t.truthy(lookupStatic(files, 'GET', '/app.js.map'), 'source maps are served');
});

test('uWebSockets.js: static files and the feed mount on a uWS app', async (t) => {
  const require = createRequire(import.meta.url);
  const uws = require('@trufflesuite/uws-js-unofficial') as typeof import('@trufflesuite/uws-js-unofficial');
  const files = await loadWebPage('dashboard');
  const feed = new DashboardFeed({ tickMs: 0 });
  const app = uws.App();
  feed.mountUws(app);
  app.get('/*', (res, req) => {
    if (!serveStaticUws(files, res, req.getMethod(), req.getUrl())) res.writeStatus('404 Not Found').end();
  });
  const listenSocket = await new Promise<import('@trufflesuite/uws-js-unofficial').us_listen_socket>((resolve, reject) =>
    app.listen('127.0.0.1', 0, (s) => (s ? resolve(s) : reject(new Error('listen failed')))),
  );
  const port = uws.us_socket_local_port(listenSocket);
  const base = `http://127.0.0.1:${port}`;
  try {
    const page = await fetch(`${base}/`);
    t.is(page.headers.get('content-type'), 'text/html; charset=utf-8', 'index at /');
    t.is(page.headers.get('x-content-type-options'), 'nosniff', 'security headers');
    t.is((await page.arrayBuffer()).byteLength, present(files.get('/index.html'), 'a built index.html').body.length, 'whole body');
    t.is((await fetch(`${base}/missing`)).status, 404, 'falls through');
    feed.publish(toDashboardPoint(7, [], { totals: null, received: null }));
    t.is(((await (await fetch(`${base}/series`)).json()) as unknown[]).length, 1, '/series');
    const events = await fetch(`${base}/events`);
    const reader = present(events.body, 'a streamed body').getReader();
    await reader.read();
    t.is(feed.subscribers, 1, 'the stream subscribed');
    feed.publish(toDashboardPoint(8, [], { totals: null, received: null }));
    let text = '';
    while (!text.includes('"second":8')) text += new TextDecoder().decode((await reader.read()).value);
    t.pass('a point reaches a uWS event stream');
    await reader.cancel();
  } finally {
    feed.close();
    uws.us_listen_socket_close(listenSocket);
  }
});

test("the monitor's aligned rows become points, with client tallies accumulated", (t) => {
  const feed = new DashboardFeed({ tickMs: 0 });
  const row = (second: number, client: Record<string, number>, server: Record<string, number>, serverTotals?: Totals) => ({
    second,
    client,
    server,
    net: null,
    ...(serverTotals ? { serverTotals } : {}),
  });
  feed.publishRow(
    row(
      10,
      { processes: 2, sent: 900, hits: 6, hitCents: 600, opens: 4, openCents: 400, connected: 40, p50Ms: 0.5, p99Ms: 7 },
      { processes: 1, shakes: 888, hits: 6, opens: 4, creates: 1, released: 200, connections: 40 },
      totals(),
    ),
  );
  feed.publishRow(row(11, { processes: 2, hits: 4, hitCents: 400 }, { processes: 0 }));
  feed.publishRow(row(11, { processes: 2, hits: 100, hitCents: 100 }, { processes: 0 }));
  const [a, b] = feed.series();
  t.is(feed.series().length, 2, 'a repeated second is ignored');
  t.is(a.serverAnswered, 893, 'server answered = shakes + opens + creates');
  t.is(a.p99Ms, 7, 'the merged p99 is taken as is');
  t.is(a.connections, 40, 'connections');
  t.deepEqual(b.clientReceived, { shake: cc(10, 1000), group: cc(4, 400) }, 'tallies accumulate over rows');
  t.is(b.connections, 40, 'no server push that second: the last reported connections carry over (a level, like the totals), never 0');
  t.deepEqual(b.totals, a.totals, 'the last totals carry over');
  t.is(reconcile(b).state, 'ok', 'clients received exactly what the server paid');
  feed.close();
});
