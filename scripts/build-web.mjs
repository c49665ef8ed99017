#!/usr/bin/env node
// `npm run build:web`: bundles the two browser pages with esbuild into dist/web/{shake,dashboard}/.
// Each page gets index.html (copied), app.js (src/web/<page>/app.ts with the protocol codec and, for
// the dashboard, uPlot bundled in), style.css (with uPlot's stylesheet inlined) and the shared assets
// of src/web/assets (the icon, and the pages' own CJK glyphs: scripts/make-glyphs.py). Nothing is
// loaded from the internet at run time. Also importable: `await buildWeb({ outDir, minify })`.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const PAGES = ['shake', 'dashboard'];
const ASSETS = readdirSync(join(root, 'src/web/assets'));

export async function buildWeb({ outDir = join(root, 'dist/web'), minify = true, pages = PAGES } = {}) {
  for (const page of pages) {
    const src = join(root, 'src/web', page);
    const out = join(outDir, page);
    // Build beside the target, then swap it in, so a reader never sees a half-written page.
    mkdirSync(outDir, { recursive: true });
    const tmp = mkdtempSync(join(outDir, `.${page}-`));
    await build({
      entryPoints: { app: join(src, 'app.ts'), style: join(src, 'style.css') },
      outdir: tmp,
      bundle: true,
      format: 'esm',
      target: ['es2022', 'chrome100', 'safari15.4', 'firefox100'], // <dialog> needs Safari 15.4
      minify,
      sourcemap: 'linked',
      legalComments: 'none',
      logLevel: 'warning',
      absWorkingDir: root,
      external: ASSETS, // copied beside the page below
    });
    copyFileSync(join(src, 'index.html'), join(tmp, 'index.html'));
    for (const asset of ASSETS) copyFileSync(join(root, 'src/web/assets', asset), join(tmp, asset));
    rmSync(out, { recursive: true, force: true });
    try {
      renameSync(tmp, out);
    } catch (err) {
      // Another build (a parallel test process) swapped its copy in first: same sources, keep it.
      rmSync(tmp, { recursive: true, force: true });
      if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
    }
  }
  return outDir;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const started = Date.now();
  const outDir = await buildWeb({ minify: !process.argv.includes('--no-minify') });
  console.error(`# web pages built into ${outDir} in ${Date.now() - started} ms`);
}
