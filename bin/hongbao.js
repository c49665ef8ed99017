#!/usr/bin/env node
// Runs src/cli.ts under tsx. (Worker threads do not pick tsx up from execArgv on Node 20: the
// server and the ledger start theirs through tsx's API, see src/server/apps.ts.)
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const child = spawn(process.execPath, ['--import', 'tsx', ...process.execArgv, cli, ...process.argv.slice(2)], {
  stdio: 'inherit',
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 + 1 : 1)));
