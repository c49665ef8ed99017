// The live dashboard against the real pipeline: `hongbao server` and `hongbao clients` push to the
// monitor each second; the page (headless Chromium) must show the numbers moving and the running
// reconciliation never red, and balanced to the cent once the load stops.
import anyTest, { type TestFn } from 'ava';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Monitor } from '../src/monitor/monitor.ts';
import { hongbaoCommand, type ReadyChild, startReady } from '../src/process/child.ts';
import { DashboardFeed } from '../src/web/feed.ts';
import { loadWebPage, serveStaticNode } from '../src/web/static.ts';
import { startServer, tempDir, type TestServer, type SupplyAnswer } from './helpers/server.ts';
import { DESKTOP, launchChromium, newPage, PHONE, screenshot, type Headless } from './helpers/web-browser.ts';
import { present } from './helpers/present.ts';

interface MonitorUnderTest {
  url: string;
  /** How the dashboard is served: by `hongbao monitor` itself, or mounted by this test. */
  how: 'hongbao monitor' | 'mounted by the test';
  stop(): Promise<void>;
}

interface Ctx {
  monitor: MonitorUnderTest;
  server: TestServer;
  clients: ReadyChild | null;
  chrome: Headless;
}
const test = anyTest as TestFn<Ctx>;

/** `hongbao ARGS` under the child harness, once it printed its ready line. */
function spawnCli(args: string[]): Promise<ReadyChild> {
  return startReady({ name: `hongbao ${args[0]}`, ...hongbaoCommand(args), keepStderr: true });
}

/**
 * The real `hongbao monitor` if it serves the dashboard at `/`; otherwise the monitor's own Monitor
 * class with the dashboard mounted the way docs/web.md asks the monitor to (feed fed with each
 * aligned row, /events, /series and the page on the same port).
 */
async function startMonitor(): Promise<MonitorUnderTest> {
  const lagMs = 1500;
  const proc = await spawnCli(['monitor', '--port', '0', '--out', tempDir('hongbao-monitor-'), '--lag-ms', String(lagMs), '--no-png', '--quiet']);
  const ready = proc.ready;
  const url = `http://127.0.0.1:${ready.port}`;
  const page = await fetch(`${url}/`);
  await page.arrayBuffer();
  if ((page.headers.get('content-type') ?? '').startsWith('text/html')) {
    return { url, how: 'hongbao monitor', stop: async () => void (await proc.stop()) };
  }
  await proc.stop();

  const files = await loadWebPage('dashboard');
  const feed = new DashboardFeed({ tickMs: 0 });
  let published = 0;
  const monitor: Monitor = new Monitor({
    outDir: tempDir('hongbao-monitor-'),
    lagMs,
    png: false,
    onLine: () => {
      while (published < monitor.writer.rows.length) feed.publishRow(monitor.writer.rows[published++]);
    },
  });
  const handle = monitor.handler(() => {});
  const http: Server = createServer((req, res) => {
    if (feed.handleNode(req, res) || serveStaticNode(files, req, res)) return;
    handle(req, res);
  });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  monitor.start();
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
    how: 'mounted by the test',
    async stop() {
      feed.close();
      await monitor.finish().catch(() => {});
      http.closeAllConnections();
      http.close();
    },
  };
}

test.before(async (t) => {
  const monitor = await startMonitor();
  const [server, chrome] = await Promise.all([startServer({ args: ['--threads', '1', '--monitor', monitor.url] }), launchChromium()]);
  t.context = { monitor, server, chrome, clients: null };
});
test.after.always(async (t) => {
  const { clients, chrome, server, monitor } = t.context;
  if (clients) await clients.stop();
  await chrome?.close();
  await server?.stop();
  await monitor?.stop();
});

test('the dashboard moves every second and its reconciliation stays green, to the cent at the end', async (t) => {
  const { monitor, server, chrome } = t.context;
  t.log(`dashboard served by ${monitor.how}`);
  const users = 'users 1-200';
  t.is(
    (await server.adminFetch<SupplyAnswer>('POST', '/admin/supply', { total: 3000, ratePerSecond: 200, rule: { kind: 'range', min: 1, max: 300 } })).status,
    200,
    'supply',
  );
  const campaign = await server.adminFetch('POST', '/admin/campaign', {
    count: 200,
    ratePerSecond: 20,
    recipientsPerPacket: 3,
    userFrom: 1,
    userTo: 200,
    rule: { kind: 'range', min: 300, max: 3000 },
    expiresInMs: 3_600_000,
  });
  t.is(campaign.status, 200, `campaign: ${JSON.stringify(campaign.body)}`);
  const clients = await spawnCli([
    'clients',
    '--server',
    server.ws,
    '--users',
    '1-200',
    '--qps',
    '400',
    '--secret-file',
    present(server.ready.secretFile, 'a secret file'),
    '--monitor',
    monitor.url,
    '--quiet',
    '--duration',
    '60',
  ]);
  t.context.clients = clients;
  void clients.exited.then(({ status }) => status && t.log(`clients (${users}) exited ${status}: ${clients.stderr().slice(-500)}`));

  const { page, errors } = await newPage(chrome, DESKTOP);
  await page.goto(`${monitor.url}/`);
  await page.locator('#feed-state[data-state="live"]').waitFor();
  // Record every state the reconciliation panel takes from now on.
  await page.evaluate(() => {
    const w = window as unknown as { reconStates: string[]; reconRed: string[] };
    w.reconStates = [];
    w.reconRed = [];
    const box = document.getElementById('recon');
    if (box === null) throw new Error('the dashboard has no #recon');
    new MutationObserver(() => {
      w.reconStates.push(box.dataset.state ?? '');
      if (box.dataset.state === 'off') w.reconRed.push(`second ${document.documentElement.dataset.lastSecond}: ${box.innerText}`);
    }).observe(box, { attributes: true, attributeFilter: ['data-state'] });
  });
  const clientQps = page.locator('#tile-client-qps');
  await page.waitForFunction(
    () => {
      const tile = document.getElementById('tile-client-qps');
      if (tile === null) throw new Error('the dashboard has no #tile-client-qps');
      return Number((tile.textContent ?? '').replace(/,/g, '')) > 0;
    },
    null,
    { timeout: 30_000 },
  );
  const seconds: number[] = [];
  const hits: string[] = [];
  for (let i = 0; i < 4; i++) {
    const last = Number(await page.locator('html').getAttribute('data-last-second'));
    await page.waitForFunction((s) => Number(document.documentElement.dataset.lastSecond) > s, last, { timeout: 10_000 });
    seconds.push(Number(await page.locator('html').getAttribute('data-last-second')));
    hits.push(await page.locator('#tile-hits').innerText());
  }
  t.true(
    seconds.every((s, i) => i === 0 || s > seconds[i - 1]),
    `a new second each time: ${seconds.join(', ')}`,
  );
  t.log(`client QPS ${await clientQps.innerText()}, server QPS ${await page.locator('#tile-server-qps').innerText()}, hits/s ${hits.join(' ')}`);
  t.true(
    hits.some((h) => Number(h.replace(/,/g, '')) > 0),
    `shake hits are shown: ${hits.join(', ')}`,
  );
  t.regex(await page.locator('#tile-connections').innerText(), /^\d/, 'connections are shown');
  await page.waitForFunction(() => Number(document.querySelector('tr[data-flow="group"] td')?.textContent?.replace(/[, ].*$/, '') ?? 0) > 0, null, {
    timeout: 15_000,
  });
  await screenshot(page, 'dashboard-desktop');
  const phone = await newPage(chrome, PHONE);
  await phone.page.goto(`${monitor.url}/`);
  await phone.page.locator('#recon:not([data-state="waiting"])').waitFor();
  t.is(await phone.page.evaluate(() => document.documentElement.scrollWidth), PHONE.width, 'nothing wider than 360 px');
  await screenshot(phone.page, 'dashboard-phone', false);

  // Stop the load; once the last answers are counted on both sides the books must close to the cent.
  await server.adminFetch('DELETE', '/admin/campaign');
  await server.adminFetch('DELETE', '/admin/supply');
  await clients.stop();
  t.context.clients = null;
  const settledAt = Math.floor(Date.now() / 1000) + 1;
  await page.waitForFunction((s) => Number(document.documentElement.dataset.lastSecond) > s, settledAt, { timeout: 15_000 });
  const states = await page.evaluate(() => (window as unknown as { reconStates: string[] }).reconStates);
  const red = await page.evaluate(() => (window as unknown as { reconRed: string[] }).reconRed);
  t.false(states.includes('off'), `the reconciliation never turned red: ${[...new Set(states)].join(', ')}\n${red.slice(0, 3).join('\n')}`);
  t.is(await page.locator('#recon').getAttribute('data-state'), 'ok', await page.locator('#recon').innerText());
  t.regex(await page.locator('#recon-verdict').innerText(), /Balanced to the cent/, 'said in words');
  t.deepEqual([...errors, ...phone.errors], [], 'no script errors');
  await page.context().close();
  await phone.page.context().close();
});
