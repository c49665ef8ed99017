// The pages carry their own Chinese characters and icon (src/web/assets, made by
// scripts/make-glyphs.py), so that on a machine without CJK fonts (headless Chromium on a bare
// Debian) the title and icon are not empty boxes: every CJK character in the pages' sources is in
// the shipped font, the page loads that font and uses it for them, and the icon is a real SVG.
// Also: the sign-in link that the rehearsal and `cluster up` print signs the person in by itself.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import anyTest, { type TestFn } from 'ava';
import { launchChromium, newPage, type Headless } from './helpers/web-browser.ts';
import { startFakeServer, type FakeServer } from './helpers/web-fake.ts';

const test = anyTest as TestFn<{ fake: FakeServer; chrome: Headless }>;
const WEB = join(import.meta.dirname, '../src/web');
const CJK = /[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]/g;

test.serial.before(async (t) => {
  t.context.fake = await startFakeServer();
  t.context.chrome = await launchChromium();
});
test.after.always(async (t) => {
  await t.context.chrome?.close();
  await t.context.fake?.close();
});

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) return sources(full);
    return /\.(ts|html|css)$/.test(name) ? [full] : [];
  });
}

/** The code points a WOFF (1.0) font maps, from its cmap table (formats 4 and 12). */
function woffCodePoints(file: string): Set<number> {
  const woff = readFileSync(file);
  if (woff.toString('latin1', 0, 4) !== 'wOFF') throw new Error(`${file} is not a WOFF font`);
  const tables = woff.readUInt16BE(12);
  let cmap: Buffer | null = null;
  for (let i = 0; i < tables; i++) {
    const at = 44 + 20 * i;
    if (woff.toString('latin1', at, at + 4) !== 'cmap') continue;
    const offset = woff.readUInt32BE(at + 4);
    const compressed = woff.readUInt32BE(at + 8);
    const original = woff.readUInt32BE(at + 12);
    const raw = woff.subarray(offset, offset + compressed);
    cmap = compressed === original ? raw : inflateSync(raw);
  }
  if (cmap === null) throw new Error(`${file} has no cmap`);
  const points = new Set<number>();
  for (let i = 0; i < cmap.readUInt16BE(2); i++) {
    const sub = cmap.readUInt32BE(4 + 8 * i + 4);
    const format = cmap.readUInt16BE(sub);
    if (format === 4) {
      const segs = cmap.readUInt16BE(sub + 6) / 2;
      for (let s = 0; s < segs; s++) {
        const end = cmap.readUInt16BE(sub + 14 + 2 * s);
        const start = cmap.readUInt16BE(sub + 16 + 2 * segs + 2 * s);
        for (let c = start; c <= end && c !== 0xffff; c++) points.add(c);
      }
    } else if (format === 12) {
      for (let g = 0; g < cmap.readUInt32BE(sub + 12); g++) {
        const start = cmap.readUInt32BE(sub + 16 + 12 * g);
        const end = cmap.readUInt32BE(sub + 20 + 12 * g);
        for (let c = start; c <= end; c++) points.add(c);
      }
    }
  }
  return points;
}

test('every Chinese character of the pages is in their own font (run scripts/make-glyphs.py after adding one)', (t) => {
  const used = new Set(sources(WEB).flatMap((f) => readFileSync(f, 'utf8').match(CJK) ?? []));
  const shipped = woffCodePoints(join(WEB, 'assets/glyphs.woff'));
  const missing = [...used].filter((c) => !shipped.has(c.codePointAt(0) ?? 0));
  t.true(used.size > 10, `the pages use Chinese text (${[...used].join('')})`);
  t.deepEqual(missing, [], 'no character is left to a system font');
});

test('the shake page loads its glyph font and SVG icon, and draws its title with them', async (t) => {
  const { page, errors } = await newPage(t.context.chrome);
  const icon = await fetch(`${t.context.fake.url}/icon.svg`);
  t.is(icon.headers.get('content-type'), 'image/svg+xml', 'the icon is served as SVG');
  t.regex(await icon.text(), /^<svg [^>]*viewBox="0 0 64 64"/, 'a real SVG');
  const font = await fetch(`${t.context.fake.url}/glyphs.woff`);
  t.is(font.headers.get('content-type'), 'font/woff', 'the font is served as a font');
  await page.goto(`${t.context.fake.url}/`);
  t.is(await page.locator('link[rel=icon]').getAttribute('href'), 'icon.svg', 'the page names the icon');
  const state = await page.evaluate(async () => {
    await document.fonts.ready;
    const face = [...document.fonts].find((f) => f.family.replaceAll('"', '') === 'Hongbao Glyphs');
    await face?.load();
    const title = document.querySelector('h1 [lang=zh]') as HTMLElement;
    return {
      status: face?.status ?? 'absent',
      title: title.textContent,
      family: getComputedStyle(title).fontFamily,
      covered: document.fonts.check('700 20px "Hongbao Glyphs"', title.textContent ?? ''),
    };
  });
  t.is(state.status, 'loaded', 'the glyph font loaded');
  t.is(state.title, '摇红包', 'the title text');
  t.regex(state.family, /^"?Hongbao Glyphs"?,/, 'the title asks for the glyph font first');
  t.true(state.covered, 'and the font holds its characters');
  t.deepEqual(errors, [], 'no script errors');
  await page.context().close();
});

test('the printed sign-in link (#user=…&token=…) signs the person in by itself', async (t) => {
  const { page, errors } = await newPage(t.context.chrome);
  await page.goto(`${t.context.fake.url}/#user=77&token=ok-77`);
  await page.locator('#play:not([hidden])').waitFor();
  t.is(await page.locator('#who-name').textContent(), 'User 77', 'signed in as the spare user');
  t.deepEqual(errors, [], 'no script errors');
  await page.context().close();
});
