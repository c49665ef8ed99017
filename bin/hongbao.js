#!/usr/bin/env node
// Runs `hongbao <command>` in this very process (so signals, exit codes and execArgv are its own):
// the compiled code of dist/js when `npm run build:ts` made it and no source is newer (less memory
// and a faster start: no TypeScript loader in the process), else the sources through tsx.
// HONGBAO_FROM_SOURCES=1 always runs the sources.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(full) : statSync(full).mtimeMs);
  }
  return newest;
}

function compiledIsFresh() {
  if (process.env.HONGBAO_FROM_SOURCES === '1') return false;
  try {
    return statSync(join(root, 'dist/js/BUILT')).mtimeMs >= newestSource(join(root, 'src'));
  } catch {
    return false; // not built
  }
}

if (compiledIsFresh()) {
  await import(pathToFileURL(join(root, 'dist/js/src/cli.js')).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(pathToFileURL(join(root, 'src/cli.ts')).href);
}
