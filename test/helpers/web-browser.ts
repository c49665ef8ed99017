// Headless Debian Chromium driven by playwright-core, for the page tests. One browser per test file.
// Each launch gets a fresh, empty profile: playwright-core itself passes Chromium a new temporary
// --user-data-dir (and refuses one in `args`) and deletes it on close.
// Chromium is installed by `.ci/run` (apt-get install -y chromium).
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env.HONGBAO_CHROMIUM ?? '/usr/bin/chromium';
export const ARTIFACTS = join(process.cwd(), 'test-artifacts');

export interface Headless {
  browser: Browser;
  close(): Promise<void>;
}

export async function launchChromium(): Promise<Headless> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: install it with \`apt-get install -y chromium\``);
  }
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
  });
  return {
    browser,
    async close() {
      await browser.close().catch(() => {});
    },
  };
}

export const PHONE = { width: 360, height: 740 };
export const DESKTOP = { width: 1280, height: 900 };

/** A page that fails the test on any console error or uncaught exception (collected in `errors`). */
export async function newPage(b: Headless, viewport = PHONE): Promise<{ page: Page; errors: string[] }> {
  const context = await b.browser.newContext({ viewport, deviceScaleFactor: 1 });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`console: ${msg.text()}`);
  });
  return { page, errors };
}

export async function screenshot(page: Page, name: string, fullPage = true): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const engine = process.env.HONGBAO_ENGINE ?? 'native';
  const path = join(ARTIFACTS, `${name}.${engine}.png`);
  await page.screenshot({ path, fullPage });
  return path;
}
