#!/usr/bin/env node
// `npm run build:ts`: compiles src/ to dist/js/src with tsc (types are checked by `npm run check`,
// not here), copies the files the code reads beside itself (the Redis function library), and
// stamps the build: bin/hongbao.js runs the compiled code only while no source is newer than the
// stamp, and the sources through tsx otherwise.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const started = Date.now();
const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
if (tsc.status !== 0) process.exit(tsc.status ?? 1);
for (const asset of ['cluster/hongbao.lua']) {
  mkdirSync(dirname(join(root, 'dist/js/src', asset)), { recursive: true });
  copyFileSync(join(root, 'src', asset), join(root, 'dist/js/src', asset));
}
writeFileSync(join(root, 'dist/js/BUILT'), `${new Date().toISOString()}\n`);
console.error(`# sources compiled into dist/js in ${Date.now() - started} ms`);
