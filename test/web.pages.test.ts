// What the two pages show, in headless Chromium, against a scripted protocol peer
// (test/helpers/web-fake.ts): every refusal in plain words, the open flow, the red reconciliation.
// The same flows against the real server and monitor are in web.shake.test.ts and web.dashboard.test.ts.
import anyTest, { type TestFn } from 'ava';
import type { Page } from 'playwright-core';
import { CreateStatus, type Totals } from '../src/engine/types.ts';
import { Collector } from '../src/monitor/collector.ts';
import { startFakeServer, type FakePacket, type FakeServer } from './helpers/web-fake.ts';
import { DESKTOP, launchChromium, newPage, PHONE, screenshot, type Headless } from './helpers/web-browser.ts';

const test = anyTest as TestFn<{ fake: FakeServer; chrome: Headless }>;
test.serial.before(async (t) => {
  t.context.fake = await startFakeServer();
  t.context.chrome = await launchChromium();
});
test.after.always(async (t) => {
  await t.context.chrome?.close();
  await t.context.fake?.close();
});

async function signIn(page: Page, base: string, user: number, token = `ok-${user}`): Promise<void> {
  await page.goto(`${base}/`);
  await page.getByLabel('User id', { exact: true }).fill(String(user));
  await page.getByLabel('Token', { exact: true }).fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

const duplicateIds = (page: Page) =>
  page.evaluate(() => {
    const ids = [...document.querySelectorAll('[id]')].map((e) => e.id);
    return ids.filter((id, i) => ids.indexOf(id) !== i);
  });

const shakeButton = (page: Page) => page.getByRole('button', { name: 'Shake', exact: true });

test('sign-in refusals are said in plain words', async (t) => {
  const { page, errors } = await newPage(t.context.chrome);
  await signIn(page, t.context.fake.url, 5, 'ok-6');
  await page.getByText('that token is not valid for this user id').waitFor();
  await signIn(page, t.context.fake.url, 5, 'expired');
  await page.getByText('the token has expired').waitFor();
  await page.getByLabel('User id', { exact: true }).fill('five');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('The user id is a whole number').waitFor();
  t.deepEqual(errors, [], 'no script errors');
  await page.context().close();
});

test('a shake shows a miss, then a hit with its amount, and the tally', async (t) => {
  const { page, errors } = await newPage(t.context.chrome);
  t.context.fake.shakes.push('miss', 388);
  await signIn(page, t.context.fake.url, 11);
  await shakeButton(page).click();
  await page.locator('#result[data-outcome="miss"]').waitFor();
  t.regex(await page.locator('#result').innerText(), /Nothing this time/, 'a miss');
  await shakeButton(page).click();
  await page.locator('#result[data-outcome="hit"]').waitFor();
  t.regex(await page.locator('#result').innerText(), /You won ¥3\.88!/, 'the amount of the hit');
  t.is(await page.locator('#won').innerText(), '¥3.88', 'the tally');
  t.is(await page.evaluate(() => document.documentElement.scrollWidth), PHONE.width, 'nothing wider than 360 px');
  t.deepEqual(await duplicateIds(page), [], 'every id is unique (labels and scripts find the right element)');
  t.deepEqual(errors, [], 'no script errors');
  await page.context().close();
});

test('a group packet arrives live, opens, and shows its cover and every share', async (t) => {
  const { fake, chrome } = t.context;
  const { page, errors } = await newPage(chrome);
  await signIn(page, fake.url, 21);
  await shakeButton(page).waitFor();
  const packet: FakePacket = {
    recipients: [20, 21, 22],
    details: {
      id: 7001,
      sender: 9,
      totalCents: 1000,
      shareCount: 3,
      splitMode: 0,
      expired: false,
      remainingCents: 600,
      remainingShares: 2,
      refundedCents: 0,
      expiresAt: Date.now() + 3_600_000,
      bestLuck: 20,
      cover: { title: '新年快乐 Happy New Year', colour: 0xf2c14e, story: 'Open before midnight!' },
      opened: [{ user: 20, cents: 400 }],
    },
  };
  fake.notify(21, packet);
  const item = page.locator('#inbox li[data-packet-id="7001"]');
  await item.waitFor();
  t.regex(await item.innerText(), /From user 9 · 3 shares of ¥10\.00/, 'the notification');
  await page.getByRole('button', { name: 'Open packet 7001 from user 9' }).click();
  await page.getByRole('heading', { name: '新年快乐 Happy New Year' }).waitFor();
  t.is(await page.locator('#packet-story').innerText(), 'Open before midnight!', 'the cover story before opening');
  await page.getByRole('button', { name: 'Open', exact: true }).click();
  await page.locator('#details:not([hidden])').waitFor();
  t.is(await page.locator('#open-result').innerText(), 'You got ¥3.33!', 'the share (the fake splits evenly)');
  const rows = await page.locator('#shares tr').allInnerTexts();
  t.is(rows.length, 2, 'both shares opened so far');
  t.regex(rows[0], /20.*Best luck.*¥4\.00/s, 'best luck is marked');
  t.regex(rows[1], /21 \(you\).*¥3\.33/s, 'my own share');
  t.regex(await page.locator('#details-summary').innerText(), /¥10\.00 in 3 shares: 2 opened · ¥2\.67 left in 1 share\./, 'the summary');
  await screenshot(page, 'fake-phone-details', false);
  await page.getByRole('button', { name: 'Close' }).click();
  t.regex(await item.innerText(), /you got ¥3\.33/, 'the inbox remembers the share');
  t.deepEqual(errors, [], 'no script errors');
  await page.context().close();
});

test('the send form shows refusals as sentences and a sent packet reaches its recipient', async (t) => {
  const { fake, chrome } = t.context;
  const sender = await newPage(chrome, DESKTOP);
  const recipient = await newPage(chrome);
  await signIn(recipient.page, fake.url, 32);
  await shakeButton(recipient.page).waitFor();
  const page = sender.page;
  await signIn(page, fake.url, 31);
  await page.getByLabel('Recipients (user ids)').fill('32, 33');
  await page.getByLabel('Total (¥)').fill('0.01');
  await page.getByLabel('Shares').fill('2');
  fake.nextCreateStatus = CreateStatus.TotalBelowShares;
  await page.getByRole('button', { name: 'Send packet' }).click();
  await page.getByText('The total is too small').waitFor();
  await page.getByLabel('Total (¥)').fill('8.8.8');
  await page.getByRole('button', { name: 'Send packet' }).click();
  await page.getByText('Write the total in yuan').waitFor();
  await page.getByLabel('Total (¥)').fill('8.88');
  await page.getByLabel('Title', { exact: true }).fill('x'.repeat(41));
  t.is(await page.getByLabel('Title', { exact: true }).getAttribute('aria-invalid'), 'true', 'the title is marked too long as it is typed');
  await page.getByRole('button', { name: 'Send packet' }).click();
  await page.locator('#send-status', { hasText: /cover/i }).waitFor();
  await page.getByLabel('Title', { exact: true }).fill('恭喜发财');
  await page.getByLabel('Story', { exact: true }).fill('For the team');
  await page.getByRole('button', { name: 'Send packet' }).click();
  await page.getByText(/Sent packet #\d+: ¥8\.88 in 2 shares to 32, 33\./).waitFor();
  await recipient.page.locator('#inbox li', { hasText: 'From user 31 · 2 shares of ¥8.88' }).waitFor();
  t.pass('the recipient saw it arrive');
  await screenshot(page, 'fake-desktop-sent');
  t.deepEqual([...sender.errors, ...recipient.errors], [], 'no script errors');
  await page.context().close();
  await recipient.page.context().close();
});

/** Balanced shake totals, or with `extraCents` refunded that the books cannot account for. */
function totals(paidCents: number, extraCents = 0): Totals {
  const cc = (count: number, cents: number) => ({ count, cents });
  return {
    shake: { created: cc(10, 1000), paid: cc(4, paidCents), remaining: cc(6, 1000 - paidCents), refunded: cc(0, extraCents) },
    group: { created: cc(0, 0), paid: cc(0, 0), remaining: cc(0, 0), refunded: cc(0, 0) },
    groupPackets: 0,
  };
}

test('the dashboard moves every second and turns red on a one-cent gap', async (t) => {
  const { fake, chrome } = t.context;
  const now = Math.floor(Date.now() / 1000);
  for (let s = now - 20; s < now - 2; s++) {
    fake.feed.ingest({ source: 'server', id: 'srv', second: s, counters: { shakes: 1000 + (s % 7), hits: 0, connections: 50, totals: totals(400) } });
  }
  fake.feed.tick();
  const { page, errors } = await newPage(chrome);
  await page.goto(`${fake.url}/dashboard/`);
  await page.locator('#feed-state[data-state="live"]').waitFor();
  await page.locator('#recon[data-state="ok"]').waitFor();
  const before = Number(await page.locator('html').getAttribute('data-last-second'));
  fake.feed.ingest({ source: 'server', id: 'srv', second: now - 2, counters: { shakes: 4321, connections: 50, totals: totals(400) } });
  fake.feed.tick();
  await page.locator('#tile-server-qps', { hasText: '4,321' }).waitFor();
  t.true(Number(await page.locator('html').getAttribute('data-last-second')) > before, 'a new second arrived over SSE');
  t.is(await page.evaluate(() => document.documentElement.scrollWidth), PHONE.width, 'nothing wider than 360 px');
  t.deepEqual(await duplicateIds(page), [], 'every id is unique');
  fake.feed.ingest({ source: 'server', id: 'srv', second: now - 1, counters: { shakes: 1, connections: 50, totals: totals(400, 1) } });
  fake.feed.tick();
  await page.locator('#recon[data-state="off"]').waitFor({ timeout: 5000 });
  t.regex(await page.locator('#recon-verdict').innerText(), /MISMATCH/, 'said in words, not only in colour');
  t.regex(await page.locator('tr[data-flow="shake"]').innerText(), /-¥0\.01/, 'the gap of one cent is shown');
  await screenshot(page, 'fake-phone-dashboard-red', false);
  t.deepEqual(errors, [], 'no script errors');
  await page.context().close();
});

test('the dashboard shows the access nodes of a cluster, each with its connections and load, and sums their books', async (t) => {
  const { chrome } = t.context;
  const fake = await startFakeServer(); // a feed of its own: the other tests' seconds are not disturbed
  t.teardown(() => fake.close());
  // the monitor's own alignment (src/monitor/collector.ts) of three nodes' pushes, as the rehearsal runs it
  const collector = new Collector(0);
  const base = Math.floor(Date.now() / 1000) - 10;
  for (let s = base; s < base + 3; s++) {
    for (const [i, id] of ['server-node-1', 'server-node-2', 'server-node-3'].entries()) {
      collector.add({
        source: 'server',
        id,
        second: s,
        counters: { shakes: 100 * (i + 1), hits: i, opens: 0, connections: 1000 + i, loopDelayMs: 2, totals: totals(100) },
      });
    }
  }
  for (const row of collector.takeUpTo()) fake.feed.publishRow(row);
  const { page, errors } = await newPage(chrome, DESKTOP);
  await page.goto(`${fake.url}/dashboard/`);
  await page.locator('#nodes:not([hidden])').waitFor();
  t.is(await page.locator('#nodes-rows tr').count(), 3, 'one row per node');
  t.regex(await page.locator('#nodes-rows tr').first().innerText(), /node-1\s+1,000\s+100/, 'node 1: its connections and shakes/s');
  t.regex(await page.locator('#nodes-summary').innerText(), /3 nodes: 3,003 connections \(1,000 to 1,002 a node\), 600 shakes\/s/, 'the spread in a sentence');
  t.regex(await page.locator('tr[data-flow="shake"]').innerText(), /30\b/, "the books are every node's summed (3 x 10 shake packets)");
  t.deepEqual(errors, [], 'no script errors');
  await page.context().close();
});
