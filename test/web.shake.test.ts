// The shake page against the real `hongbao server` (test/helpers/server.ts), in headless Chromium:
// sign in, shake until a hit while a supply runs, receive and open a group packet, see its details,
// send one from the page. Screenshots go to test-artifacts/.
import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import type { Page } from 'playwright-core';
import { encodeDetails, encodeOpen, type DetailsBody } from '../src/protocol/codec.ts';
import { ServerType } from '../src/protocol/codes.ts';
import { loadWebPage, lookupStatic, SECURITY_HEADERS, type StaticFiles } from '../src/web/static.ts';
import { startServer, TestClient, type TestServer, type CreatedAnswer, type SupplyAnswer } from './helpers/server.ts';
import { DESKTOP, launchChromium, newPage, PHONE, screenshot, type Headless } from './helpers/web-browser.ts';
import { present } from './helpers/present.ts';

interface Ctx {
  server: TestServer;
  chrome: Headless;
  files: StaticFiles;
  servesPage: boolean;
}
const test = anyTest as TestFn<Ctx>;

test.serial.before(async (t) => {
  const [server, chrome, files] = await Promise.all([startServer({ args: ['--threads', '1'] }), launchChromium(), loadWebPage('shake')]);
  const res = await fetch(`${server.http}/`);
  await res.arrayBuffer();
  t.context = { server, chrome, files, servesPage: (res.headers.get('content-type') ?? '').startsWith('text/html') };
});
test.after.always(async (t) => {
  await t.context.chrome?.close();
  await t.context.server?.stop();
});

/**
 * Open the page at the server's own origin, so that its WebSocket goes to the server's /ws. While
 * `hongbao server` does not serve the page at `/` itself, the test answers the page's files at that
 * origin (the WebSocket still reaches the real server) and says so in the log.
 */
async function openPage(t: ExecutionContext<Ctx>, viewport = PHONE): Promise<{ page: Page; errors: string[] }> {
  const { server, chrome, files, servesPage } = t.context;
  const opened = await newPage(chrome, viewport);
  if (!servesPage) {
    t.log('hongbao server does not serve the shake page at / yet: the test serves it at the server origin');
    // A page Playwright answers has no address, so Chromium counts its WebSocket to 127.0.0.1 as a
    // local-network request: allow it, as the page would be if the server had answered it.
    await opened.page.context().grantPermissions(['local-network-access'], { origin: server.http });
    await opened.page.route(`${server.http}/**`, (route) => {
      const file = lookupStatic(files, route.request().method(), new URL(route.request().url()).pathname);
      if (!file) return route.continue();
      return route.fulfill({ status: 200, body: file.body, headers: { ...SECURITY_HEADERS, 'content-type': file.type } });
    });
  }
  await opened.page.goto(`${server.http}/`);
  return opened;
}

async function signIn(t: ExecutionContext<Ctx>, page: Page, user: number): Promise<void> {
  await page.getByLabel('User id', { exact: true }).fill(String(user));
  await page.getByLabel('Token', { exact: true }).fill(t.context.server.token(user));
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Shake', exact: true }).waitFor();
}

test.serial('sign in and shake until a hit while a supply runs', async (t) => {
  const { server } = t.context;
  const supply = await server.adminFetch<SupplyAnswer>('POST', '/admin/supply', { total: 4000, ratePerSecond: 200, rule: { kind: 'range', min: 1, max: 500 } });
  t.is(supply.status, 200, `supply started: ${JSON.stringify(supply.body)}`);
  const { page, errors } = await openPage(t);
  await signIn(t, page, 101);
  let outcome = '';
  for (let i = 0; i < 40 && outcome !== 'hit'; i++) {
    await page.getByRole('button', { name: 'Shake', exact: true }).click();
    await page.waitForFunction(() => {
      const button = document.getElementById('shake');
      if (button === null) throw new Error('the page has no #shake');
      return !button.hasAttribute('aria-busy');
    });
    outcome = (await page.locator('#result').getAttribute('data-outcome')) ?? '';
    t.not(outcome, 'refused', `a shake was refused: ${await page.locator('#result').innerText()}`);
  }
  t.is(outcome, 'hit', 'a hit within 40 shakes at 200 packets/s');
  const text = await page.locator('#result').innerText();
  const won = /You won (¥\d+\.\d\d)!/.exec(text);
  t.truthy(won, `the amount is shown: ${text}`);
  t.is(await page.locator('#won').innerText(), won?.[1] ?? 'no amount', 'the tally shows the hit');
  t.is(await page.evaluate(() => document.documentElement.scrollWidth), PHONE.width, 'nothing wider than 360 px');
  await screenshot(page, 'shake-phone-hit', false);
  await server.adminFetch('DELETE', '/admin/supply');
  t.deepEqual(errors, [], 'no script errors');
  await page.context().close();
});

test.serial('a group packet arrives live, opens, and shows its cover, every share and best luck', async (t) => {
  const { server } = t.context;
  const { page, errors } = await openPage(t);
  await signIn(t, page, 201);
  const other = await TestClient.login(server, 202);
  const created = await server.adminFetch<CreatedAnswer>('POST', '/admin/packets', {
    sender: 7,
    totalCents: 1000,
    shareCount: 3,
    recipients: [201, 202, 203],
    cover: { title: '新年快乐 Happy New Year', colour: 0xf2c14e, story: 'From the whole team: open before midnight!' },
  });
  t.is(created.status, 200, `packet created: ${JSON.stringify(created.body)}`);
  const packetId = created.body.packetId as number;
  await other.next((f) => f.type === ServerType.PacketNotify);
  other.send(encodeOpen(2, packetId));
  const otherOpen = await other.reply(2);
  t.true(otherOpen.type === ServerType.OpenResult && otherOpen.status === 0, 'user 202 opened first');

  const item = page.locator(`#inbox li[data-packet-id="${packetId}"]`);
  await item.waitFor();
  t.regex(await item.innerText(), /From user 7 · 3 shares of ¥10\.00/, 'the notification, live');
  await page.getByRole('button', { name: `Open packet ${packetId} from user 7` }).click();
  await page.getByRole('heading', { name: '新年快乐 Happy New Year' }).waitFor();
  t.is(await page.locator('#packet-story').innerText(), 'From the whole team: open before midnight!', 'the cover before opening');
  await screenshot(page, 'shake-phone-envelope', false);
  await page.getByRole('button', { name: 'Open', exact: true }).click();
  await page.locator('#details:not([hidden])').waitFor();
  const got = /You got ¥(\d+)\.(\d\d)!/.exec(await page.locator('#open-result').innerText());
  t.truthy(got, 'the share is said');

  other.send(encodeDetails(3, packetId));
  const reply = await other.reply(3);
  const details = (reply.type === ServerType.DetailsResult ? reply.details : null) as DetailsBody;
  t.truthy(details, 'details from the server');
  const mine = details.opened.find((s) => s.user === 201);
  const [, yuan, fen] = present(got, 'the share in words');
  t.is(Number(yuan) * 100 + Number(fen), mine?.cents ?? -1, 'the page shows the share the server recorded');
  const rows = await page.locator('#shares tr').allInnerTexts();
  t.is(rows.length, 2, 'both opened shares are listed');
  details.opened.forEach((s, i) => {
    t.regex(rows[i], new RegExp(`^${i + 1}\\s+${s.user}\\b[^]*¥${Math.floor(s.cents / 100)}\\.${String(s.cents % 100).padStart(2, '0')}$`), `share ${i + 1}`);
  });
  const best = rows.findIndex((r) => r.includes('Best luck'));
  t.is<number | null, number | null>(details.opened[best]?.user ?? null, details.bestLuck, "best luck is marked on the server's best-luck user");
  t.regex(await page.locator('#details-summary').innerText(), /¥10\.00 in 3 shares: 2 opened · ¥\d+\.\d\d left in 1 share\./, 'summary');
  await screenshot(page, 'shake-phone-details', false);
  await page.getByRole('button', { name: 'Close' }).click();
  t.regex(await item.innerText(), /you got ¥/, 'the inbox remembers the share');
  other.close();
  t.deepEqual(errors, [], 'no script errors');
  await page.context().close();
});

test.serial('the send form creates a packet for its recipients and says refusals in words', async (t) => {
  const { server } = t.context;
  const { page, errors } = await openPage(t, DESKTOP);
  await signIn(t, page, 301);
  const recipient = await TestClient.login(server, 302);
  await page.getByLabel('Recipients (user ids)').fill('302, 303');
  await page.getByLabel('Total (¥)').fill('0.01');
  await page.getByLabel('Shares').fill('2');
  await page.getByRole('button', { name: 'Send packet' }).click();
  await page.getByText('The total is too small').waitFor();
  await page.getByLabel('Total (¥)').fill('6.66');
  await page.getByLabel('Shares').fill('3');
  await page.getByRole('button', { name: 'Send packet' }).click();
  await page.getByText('The number of shares must be between 1 and').waitFor();
  await page.getByLabel('Shares').fill('2');
  await page.getByLabel('Title', { exact: true }).fill('长'.repeat(14)); // 42 bytes
  await page.getByRole('button', { name: 'Send packet' }).click();
  await page.getByText('The cover is too long').waitFor();
  await page.getByLabel('Title', { exact: true }).fill('恭喜发财');
  await page.getByLabel('Story', { exact: true }).fill('Lunch is on me');
  await page.getByRole('button', { name: 'Send packet' }).click();
  const sent = page.getByText(/Sent packet #(\d+): ¥6\.66 in 2 shares to 302, 303\./);
  await sent.waitFor();
  const packetId = Number(present(/#(\d+)/.exec(await sent.innerText()), 'a packet number in the sent line')[1]);
  const notify = await recipient.next((f) => f.type === ServerType.PacketNotify);
  t.like(notify, { packetId, sender: 301, shareCount: 2, totalCents: 666 }, 'the recipient was notified of exactly that packet');
  await screenshot(page, 'shake-desktop-sent');
  recipient.close();
  t.deepEqual(errors, [], 'no script errors');
  await page.context().close();
});
