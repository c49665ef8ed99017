// The server's life: --help, start-up errors, graceful shutdown on SIGTERM, and a restart on the
// same database that finds everything where it was and pays nothing twice.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { OpenStatus, ShakeStatus } from '../src/engine/types.ts';
import { encodeCreate, encodeOpen, encodeShake, type ServerFrame } from '../src/protocol/codec.ts';
import { CloseCode, ServerType } from '../src/protocol/codes.ts';
import { FLAG_NAMES } from '../src/server/flags.ts';
import { runServerCommand, startServer, tempDir, TestClient, type TestServer, type StatsDocument, type SupplyAnswer } from './helpers/server.ts';
import { present } from './helpers/present.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('--help documents every flag and exits 0', async (t) => {
  const { code, stdout } = await runServerCommand(['--help']);
  t.is(code, 0, '--help exits 0');
  for (const name of FLAG_NAMES) t.true(stdout.includes(`--${name}`), `--help mentions --${name}`);
  t.true(stdout.includes('HONGBAO_ENGINE'), '--help mentions the engine variable');
});

test('start-up errors are one clear line and a non-zero exit', async (t) => {
  const dir = tempDir();
  const holder = createServer();
  await new Promise<void>((r) => holder.listen(0, '0.0.0.0', () => r()));
  const busy = (holder.address() as { port: number }).port;
  const garbage = path.join(dir, 'garbage.db');
  writeFileSync(garbage, 'this is not a SQLite database, not even close to one.\n'.repeat(4));
  const cases: Array<[string, string[], Record<string, string>, number, RegExp]> = [
    ['an unknown flag', ['--frobnicate'], {}, 2, /Unknown option '--frobnicate'/],
    ['an idle timeout uWS would abort on', ['--idle-timeout', '3'], {}, 2, /--idle-timeout must be 0 or >= 8/],
    ['a port in use', ['--data', dir, '--port', String(busy), '--admin-port', '0'], {}, 1, new RegExp(`port 0\\.0\\.0\\.0:${busy} is in use`)],
    ['an unreadable database', ['--data', dir, '--db', garbage, '--port', '0', '--admin-port', '0'], {}, 1, /not a database/],
    // with --private-fds the server starts on a worker thread and the ledger's writer on the main one
    [
      'a port in use, --private-fds',
      ['--private-fds', '--data', dir, '--port', String(busy), '--admin-port', '0'],
      {},
      1,
      new RegExp(`port 0\\.0\\.0\\.0:${busy} is in use`),
    ],
    ['an unreadable database, --private-fds', ['--private-fds', '--data', dir, '--db', garbage, '--port', '0', '--admin-port', '0'], {}, 1, /not a database/],
    [
      'the uWS JavaScript fallback',
      ['--data', dir, '--port', '0', '--admin-port', '0'],
      { UWS_USE_FALLBACK: '1' },
      1,
      /native binary not in use.*--allow-uws-fallback/,
    ],
  ];
  try {
    for (const [name, args, env, want, message] of cases) {
      const { code, stderr } = await runServerCommand(args, env);
      t.is(code, want, `${name}: exit code ${want}`);
      const lines = stderr
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('hongbao server:'));
      t.is(lines.length, 1, `${name}: one line on stderr (got ${JSON.stringify(stderr)})`);
      t.regex(lines[0] ?? '', message, `${name}: the line says why`);
    }
  } finally {
    holder.close();
  }
});

test('SIGTERM: requests in hand are answered, connections close with 1001, exit 0', async (t) => {
  const readyFile = path.join(tempDir(), 'ready.json');
  const server = await startServer({ args: ['--shards', '1', '--ready-file', readyFile] });
  t.like(
    JSON.parse(readFileSync(readyFile, 'utf8')),
    { event: 'ready', port: server.ready.port, adminPort: server.ready.adminPort },
    '--ready-file holds the ready line',
  );
  await server.adminFetch<SupplyAnswer>('POST', '/admin/supply', { total: 1000, ratePerSecond: 1000, rule: { kind: 'range', min: 1, max: 9 } });
  for (let i = 0; i < 30 && present((await server.adminFetch<StatsDocument>('GET', '/stats')).body.supply, 'the supply').released === 0; i++) await sleep(100);
  const c = await TestClient.login(server, 1);
  for (let i = 1; i <= 40; i++) c.send(encodeShake(i));
  const first = await c.reply(1);
  t.is(first.type, ServerType.ShakeResult, 'the server answers before the signal');
  const exit = server.stop('SIGTERM');
  const closed = await c.closed;
  const { code, signal } = await exit;
  t.is(code, 0, `exit code 0 (signal ${signal}); stderr:\n${server.stderr()}`);
  t.is(closed.code, CloseCode.GoingAway, 'the connection is closed with 1001');
  const told = [first, ...c.frames].filter((f) => f.type === ServerType.ShakeResult && f.status === ShakeStatus.Hit);
  t.regex(server.stderr(), /ledger closed/, 'the ledger was closed before the exit');

  // Every hit the client was told about is in the ledger.
  const again = await startServer({ dataDir: server.dataDir });
  try {
    const stats = await again.adminFetch<StatsDocument>('GET', '/stats');
    t.true(stats.body.totals.shake.paid.count >= told.length, `the ledger holds every hit told (${told.length}) as paid`);
  } finally {
    t.is((await again.stop()).code, 0, 'the second run exits 0 too');
  }
});

async function ask(c: TestClient, requestId: number, bytes: Uint8Array): Promise<ServerFrame> {
  c.send(bytes);
  return c.reply(requestId);
}

async function stats(server: TestServer) {
  return (await server.adminFetch<StatsDocument>('GET', '/stats')).body;
}

test('restart on the same database: balances, shares and the supply carry on, nothing is paid twice', async (t) => {
  const dataDir = tempDir();
  const args = ['--shards', '4', '--seed', '11'];
  const a = await startServer({ dataDir, args });
  let wonBefore: number[] = [];
  let share11 = 0;
  let packetId = 0;
  try {
    await a.adminFetch<SupplyAnswer>('POST', '/admin/supply', { total: 12, ratePerSecond: 8, rule: { kind: 'list', values: [100] } });
    for (let i = 0; i < 40 && present((await stats(a)).supply, 'the supply').released < 8; i++) await sleep(100);
    const users = await Promise.all([1, 2, 3, 4].map((u) => TestClient.login(a, u))); // one per shard
    const hits = await Promise.all(users.map((c, i) => ask(c, 100 + i, encodeShake(100 + i))));
    wonBefore = hits.filter((f) => f.type === ServerType.ShakeResult && f.status === ShakeStatus.Hit).map((f) => (f as { packetId: number }).packetId);
    t.is(wonBefore.length, 4, 'each of the four shards had a packet to win');
    const sender = await TestClient.login(a, 10);
    const r11 = await TestClient.login(a, 11);
    const created = await ask(sender, 7, encodeCreate(7, 999, 3, [11, 12, 13]));
    packetId = (created as { packetId: number }).packetId;
    const opened = await ask(r11, 8, encodeOpen(8, packetId));
    t.like(opened, { status: OpenStatus.Ok }, 'user 11 opens a share before the restart');
    share11 = (opened as { cents: number }).cents;
    for (const c of [...users, sender, r11]) c.close();
  } finally {
    t.is((await a.stop()).code, 0, 'the first run exits 0');
  }

  const b = await startServer({ dataDir, args });
  try {
    const s = await stats(b);
    const supply = present(s.supply, 'the supply, restored');
    t.is(s.totals.shake.paid.count, 4, 'four shake packets were paid, and still are');
    t.is(s.totals.shake.created.count, supply.released, 'created shake packets = released by the supply');
    t.true(supply.released >= 8 && supply.released <= 12, `the supply resumed from its released count (${supply.released})`);
    t.is(s.totals.group.paid.cents, share11, 'the group packet keeps its opened share');
    const r11 = await TestClient.login(b, 11);
    t.like(await ask(r11, 1, encodeOpen(1, packetId)), { status: OpenStatus.Repeat, cents: share11 }, 'a repeat open after the restart returns the same share');
    const r12 = await TestClient.login(b, 12);
    const o12 = await ask(r12, 2, encodeOpen(2, packetId));
    t.like(o12, { status: OpenStatus.Ok }, 'another recipient opens the next share');
    t.not((o12 as { cents: number }).cents, 0, 'with cents');

    for (let i = 0; i < 40 && present((await stats(b)).supply, 'the supply').released < 12; i++) await sleep(100);
    const after = await stats(b);
    t.is(present(after.supply, 'the supply').released, 12, 'the supply released its total and no more');
    t.is(after.totals.shake.created.count, 12, 'twelve packets in all, across both runs');
    const users = await Promise.all([1, 2, 3, 4].map((u) => TestClient.login(b, u)));
    const won: number[] = [];
    for (let round = 0; round < 4; round++) {
      const replies = await Promise.all(users.map((c, i) => ask(c, 10 * round + i + 10, encodeShake(10 * round + i + 10))));
      for (const f of replies) if (f.type === ServerType.ShakeResult && f.status === ShakeStatus.Hit) won.push(f.packetId);
    }
    t.is(won.length, 8, 'the eight packets left are won after the restart');
    t.deepEqual(
      won.filter((id) => wonBefore.includes(id)),
      [],
      'no packet won before the restart is won again',
    );
    t.is(new Set(won).size, won.length, 'no packet is won twice after the restart');
    for (const c of [...users, r11, r12]) c.close();
  } finally {
    t.is((await b.stop()).code, 0, 'the second run exits 0');
  }
});

test('bin/hongbao.js runs the command in its own process: the ready pid is its pid, SIGTERM ends it with 0, a kill is its own', async (t) => {
  const bin = fileURLToPath(new URL('../bin/hongbao.js', import.meta.url));
  const start = () => {
    const child = spawn(process.execPath, [bin, 'server', '--port', '0', '--admin-port', '0', '--data', tempDir()], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal })),
    );
    const ready = new Promise<{ pid: number }>((resolve, reject) => {
      createInterface({ input: child.stdout }).on('line', (line) => line.startsWith('{') && resolve(JSON.parse(line)));
      void exited.then(({ code }) => reject(new Error(`exited with ${code} before ready`)));
    });
    return { child, exited, ready };
  };
  const a = start();
  t.is((await a.ready).pid, a.child.pid ?? -1, 'no wrapper process: the server is the process that was started');
  a.child.kill('SIGTERM');
  t.deepEqual(await a.exited, { code: 0, signal: null }, 'SIGTERM: graceful shutdown, exit 0');
  const b = start();
  await b.ready;
  b.child.kill('SIGKILL');
  t.deepEqual(await b.exited, { code: null, signal: 'SIGKILL' }, 'a kill is seen by the parent as that signal (128 + 9 in a shell)');
});
