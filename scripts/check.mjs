#!/usr/bin/env node
// `npm run check`: checks the code itself, in order: types, lint + format (Biome), Rust format,
// clippy, the Rust tests. Every step runs even after one fails, so one run shows every failure;
// the last line names the failed steps and the exit code is non-zero if any failed.
import { spawnSync } from 'node:child_process';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const steps = [
  ['tsc', ['--noEmit']],
  // Warnings fail too: the code is kept free of every finding, not only of errors.
  ['biome', ['check', '--error-on-warnings', '.']],
  ['cargo', ['fmt', '--all', '--check']],
  ['cargo', ['clippy', '--workspace', '--all-targets', '--', '-D', 'warnings']],
  ['cargo', ['test', '--workspace']],
];

const root = fileURLToPath(new URL('..', import.meta.url));
// `npm run` puts node_modules/.bin on PATH; do the same for `node scripts/check.mjs`.
const env = { ...process.env, PATH: `${join(root, 'node_modules', '.bin')}${delimiter}${process.env.PATH ?? ''}` };
const failed = [];
for (const [cmd, args] of steps) {
  const name = [cmd, ...args].join(' ');
  console.error(`# check: ${name}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env });
  if (r.status !== 0) {
    console.error(`# check failed: ${name} (${r.error ? r.error.message : `exit ${r.status ?? r.signal}`})`);
    failed.push(name);
  }
}
if (failed.length > 0) {
  console.error(`# check: ${failed.length} of ${steps.length} steps failed: ${failed.join('; ')}`);
  process.exit(1);
}
console.error(`# check: all ${steps.length} steps passed`);
