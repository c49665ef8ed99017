// The native generator's Rust pieces compute what the TypeScript ones do: the shared-clock
// schedule (bit for bit), user tokens, HDR histograms the TypeScript side decodes and merges; and
// its processes never outlive their coordinator.
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { mintToken, verifyToken } from '../src/auth/token.ts';
import { decodeHistogram, encodeHistogram, latencyHistogram, mergeEncoded, recordMicros, summarize } from '../src/simulator/histogram.ts';
import { MAX_TOTAL_USERS, slotsInSecond } from '../src/simulator/schedule.ts';
import { loadgenBinary } from '../src/simulator/native/worker.ts';
import { hongbaoCommand, type ReadyChild, startReady } from '../src/process/child.ts';

const BIN = loadgenBinary();

/** `hongbao clients ARGS` (with a token secret) once it printed its ready line; stderr kept. */
function startClients(args: string[]): Promise<ReadyChild> {
  return startReady({ name: 'hongbao clients', ...hongbaoCommand(args), env: { ...process.env, HONGBAO_SECRET: 's' }, keepStderr: true });
}

/** The native workers its ready line names. */
function workersOf(child: ReadyChild): { workerPids: number[] } {
  const pids = child.ready.workerPids;
  if (!Array.isArray(pids)) throw new Error(`no workerPids in ${JSON.stringify(child.ready)}`);
  return { workerPids: pids as number[] };
}

/** Run a `hongbao-loadgen` subcommand with one JSON case a line; one JSON answer a line back. */
function loadgen<T>(subcommand: string, cases: unknown[]): T[] {
  const r = spawnSync(BIN, [subcommand], { input: cases.map((c) => JSON.stringify(c)).join('\n'), maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`hongbao-loadgen ${subcommand} exited ${r.status}: ${r.stderr}`);
  return r.stdout
    .toString()
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as T);
}

/** A small deterministic PRNG (mulberry32), so a failure can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Case {
  second: number;
  qps: number;
  total: number;
  from: number;
  to: number;
}

function scheduleCases(n: number, seed: number): Case[] {
  const rnd = prng(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const cases: Case[] = [];
  const totals = [1, 2, 3, 7, 10, 150, 19_000, 999_983, 1_000_000, MAX_TOTAL_USERS - 1, MAX_TOTAL_USERS];
  for (let i = 0; i < n; i++) {
    const total = i < totals.length * 4 ? totals[i % totals.length] : rnd() < 0.5 ? int(1, 5000) : int(1, MAX_TOTAL_USERS);
    // qps above the total, not dividing it, 0, 1, and now and then a large one
    const qpsKinds = [0, 1, total, total + 1, 2 * total + 3, int(1, 4000), int(1, 4000), int(4000, 60_000)];
    const qps = Math.min(qpsKinds[int(0, qpsKinds.length - 1)], 120_000);
    const second = rnd() < 0.2 ? int(0, 10) : int(1_700_000_000, 4_000_000_000);
    const edge = int(0, 5);
    const [from, to] =
      edge === 0
        ? [1, total]
        : edge === 1
          ? [total, total]
          : edge === 2
            ? [1, 1]
            : edge === 3
              ? [int(1, total), total]
              : edge === 4
                ? [2, 1]
                : [int(1, total), int(1, total)].sort((a, b) => a - b);
    cases.push({ second, qps, total, from, to });
  }
  return cases;
}

test('the Rust schedule is the TypeScript schedule, slot for slot, for random totals, ranges and rates', (t) => {
  const cases = scheduleCases(600, 20261201);
  const rust = loadgen<{ users: number[]; offsets: number[] } | { error: string }>('schedule', cases);
  t.is(rust.length, cases.length, 'one answer per case');
  const wrong: string[] = [];
  let slots = 0;
  for (const [i, c] of cases.entries()) {
    const ts = slotsInSecond(c.second, c.qps, c.total, c.from, c.to);
    const r = rust[i];
    slots += ts.length;
    if ('error' in r) {
      wrong.push(`${JSON.stringify(c)}: Rust refused it (${r.error})`);
      continue;
    }
    const same =
      r.users.length === ts.length &&
      ts.every((s, k) => s.user === r.users[k]) &&
      r.offsets.length === ts.length &&
      ts.every((s, k) => s.offsetMicros === r.offsets[k]);
    if (!same) wrong.push(`${JSON.stringify(c)}: ${ts.length} TS slots, ${r.users.length} Rust slots`);
  }
  t.deepEqual(wrong.slice(0, 5), [], `${wrong.length} of ${cases.length} cases differ`);
  t.true(slots > 100_000, `a real amount of slots compared (${slots})`);
  t.true(
    cases.some((c) => c.qps > c.total && c.to >= c.from),
    'cases with qps above the total are among them',
  );
});

test('the Rust schedule refuses the totals the TypeScript one refuses', (t) => {
  const bad = [0, MAX_TOTAL_USERS + 1].map((total) => ({ second: 5, qps: 3, total, from: 1, to: 1 }));
  const rust = loadgen<{ error?: string }>('schedule', bad);
  for (const [i, c] of bad.entries()) {
    t.throws(() => slotsInSecond(c.second, c.qps, c.total, c.from, c.to), { instanceOf: RangeError }, `TS refuses total ${c.total}`);
    t.regex(rust[i].error ?? '', /total users must be an integer/, `Rust refuses total ${c.total}`);
  }
});

test('tokens minted in Rust verify with verifyToken and equal mintToken byte for byte', (t) => {
  const rnd = prng(7);
  const now = Math.floor(Date.now() / 1000);
  const secrets = ['test-secret-0123456789abcdef', 'k', 'ünïcode sécret ✓', 'x'.repeat(200)];
  const cases = Array.from({ length: 200 }, (_, i) => ({
    secret: secrets[i % secrets.length],
    user: i === 0 ? 0 : i === 1 ? 0xffffffff : Math.floor(rnd() * 0xffffffff),
    expiresAt: now + 1 + Math.floor(rnd() * 10_000_000),
  }));
  const tokens = loadgen<{ token: string }>('token', cases).map((x) => x.token);
  let verified = 0;
  for (const [i, c] of cases.entries()) {
    const check = verifyToken(c.secret, tokens[i]);
    if (check.ok && check.userId === c.user && check.expiresAt === c.expiresAt && tokens[i] === mintToken(c.secret, c.user, c.expiresAt)) verified++;
    else t.fail(`case ${JSON.stringify(c)}: Rust token ${tokens[i]} is not TS's ${mintToken(c.secret, c.user, c.expiresAt)} (${JSON.stringify(check)})`);
  }
  t.is(verified, cases.length, 'every Rust token verified for its user and expiry');
  t.false(verifyToken('another secret', tokens[0]).ok, 'and none verifies under another secret');
});

test('a histogram made in Rust decodes in TypeScript with the same counts and merges exactly', (t) => {
  const rnd = prng(99);
  const sets = [
    [0, 1, 2, 999, 1000, 1001, 59_999_999, 60_000_000, 90_000_000],
    Array.from({ length: 5000 }, () => Math.floor(rnd() * 20_000)),
    Array.from({ length: 3000 }, () => Math.floor(Math.exp(rnd() * 17))),
  ];
  const encoded = loadgen<{ histogram: string }>(
    'histogram',
    sets.map((values) => ({ values })),
  ).map((x) => x.histogram);
  const tsOf = (i: number) => {
    const h = latencyHistogram();
    for (const v of sets[i]) recordMicros(h, v);
    return h;
  };
  const all = latencyHistogram();
  for (const [i, values] of sets.entries()) {
    const ts = tsOf(i);
    all.add(ts);
    const rust = decodeHistogram(encoded[i]);
    // a decoded histogram knows its maximum to the bucket (3 digits), not the exact value recorded
    const tsDecoded = decodeHistogram(encodeHistogram(ts));
    t.is(rust.totalCount, values.length, `set ${i}: every value counted`);
    t.deepEqual(
      summarize(rust),
      summarize(tsDecoded),
      `set ${i}: the same percentiles and maximum as a TypeScript histogram of the same values, encoded and decoded`,
    );
    for (const p of [1, 25, 50, 75, 90, 99, 99.9, 100]) t.is(rust.getValueAtPercentile(p), ts.getValueAtPercentile(p), `set ${i}: p${p}`);
  }
  const merged = mergeEncoded(encoded);
  t.is(merged.totalCount, all.totalCount, 'merged: every value of every set');
  t.deepEqual(
    summarize(merged),
    summarize(mergeEncoded(sets.map((_, i) => encodeHistogram(tsOf(i))))),
    'merged: the same as merging the TypeScript histograms',
  );
  t.deepEqual(loadgen<{ histogram: string }>('histogram', [{ values: [] }]), [{ histogram: '' }], 'an empty histogram is sent as ""');
});

test('the missing binary is named, with the command that builds it', (t) => {
  const err = t.throws(() => loadgenBinary('/nonexistent/hongbao-loadgen'));
  t.regex(err?.message ?? '', /npm run build:native/, 'the error says how to build it');
  t.regex(err?.message ?? '', /\/nonexistent\/hongbao-loadgen/, 'and which file is missing');
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

test('a worker leaves by itself when its stdin closes', async (t) => {
  const server = net.createServer((s) => s.on('error', () => {}));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const port = (server.address() as net.AddressInfo).port;
  const child = spawn(BIN, ['worker'], { stdio: ['pipe', 'pipe', 'pipe'] });
  t.teardown(() => child.kill('SIGKILL'));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const config = {
    id: 'orphan-test',
    host: '127.0.0.1',
    port,
    path: '/ws',
    timeoutMs: 60_000,
    from: 1,
    to: 20,
    total: 20,
    secret: 's',
    tokenTtlSeconds: 60,
    connectConcurrency: 20,
    usersPerSourceAddress: 0,
    qps: 0,
    pending: [],
  };
  child.stdin.write(`${JSON.stringify(config)}\n`);
  const hello = await new Promise<Record<string, unknown>>((resolve) => createInterface({ input: child.stdout }).once('line', (l) => resolve(JSON.parse(l))));
  t.is(hello.e, 'hello', 'the worker started');
  child.stdin.end();
  const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('still running'), 3000))]);
  t.is(code, 0, 'it exited (0) within 3 s of its stdin closing');
});

test('a killed coordinator leaves no worker behind', async (t) => {
  const server = net.createServer((s) => s.on('error', () => {}));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const port = (server.address() as net.AddressInfo).port;
  const args = ['clients', '--generator', 'native', '--server', `ws://127.0.0.1:${port}/ws`, '--users', '1-30', '--users-per-worker', '10', '--quiet'];
  const child = await startClients(args);
  t.teardown(() => child.kill());
  const ready = workersOf(child);
  t.teardown(() => {
    for (const pid of ready.workerPids) if (alive(pid)) process.kill(pid, 'SIGKILL');
  });
  t.is(ready.workerPids.length, 3, 'three workers of 10 users for 30 users');
  t.true(ready.workerPids.every(alive), 'all running');
  await child.kill();
  t.true(await until(() => !ready.workerPids.some(alive), 3000), 'every worker is gone within 3 s of the coordinator being killed');
});

test('a worker that dies takes the run down: the coordinator names it, kills the others and exits 1', async (t) => {
  const server = net.createServer((s) => s.on('error', () => {}));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const port = (server.address() as net.AddressInfo).port;
  const args = ['clients', '--generator', 'native', '--server', `ws://localhost:${port}/ws`, '--users', '1-20', '--users-per-worker', '10', '--quiet'];
  const child = await startClients(args);
  t.teardown(() => child.kill());
  const exited = child.exited.then((e) => e.code);
  const ready = workersOf(child);
  t.teardown(() => {
    for (const pid of ready.workerPids) if (alive(pid)) process.kill(pid, 'SIGKILL');
  });
  t.is(ready.workerPids.length, 2, 'two workers (a localhost server name resolved for them)');
  process.kill(ready.workerPids[0], 'SIGKILL');
  const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('still running'), 5000))]);
  t.is(code, 1, 'the coordinator exits 1');
  t.regex(child.stderr(), /worker clients-1-20\/w1 \(pid \d+, users 1-10\) exited with 137 before its final report/, 'and names the worker that died');
  t.true(await until(() => !alive(ready.workerPids[1]), 3000), 'the other worker is gone too');
});
