#!/usr/bin/env node
// `npm test`: builds the native addon (and the native load generator), runs the load generator's
// Rust unit tests, then the whole ava suite once per engine (HONGBAO_ENGINE=native, then ts), and
// ends with one line `N passed, M failed` counted from cargo's summary and ava's TAP (tap-parser).
// Extra arguments are passed to ava (e.g. `npm test -- test/engine.shake.test.ts`).
// Every step has a time limit and says when it starts, so a run that hangs ends with the line and
// the log shows where the time went; processes the tests left running are named, ended and counted
// as a failure.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { Parser } from 'tap-parser';

const engines = (process.env.HONGBAO_TEST_ENGINES ?? 'native,ts').split(',').filter(Boolean);
const avaArgs = process.argv.slice(2);

const MINUTE = 60_000;
/** One engine's ava run takes ~5 min here; past this it is ended and counted as failed. */
const AVA_LIMIT_MS = 30 * MINUTE;
/** How long the processes a test started may take to exit after ava did. */
const LEFTOVER_GRACE_MS = 5000;

const startedAt = Date.now();
function say(message) {
  const s = Math.round((Date.now() - startedAt) / 1000);
  console.error(`# [${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}] ${message}`);
}

/** Runs one build step with a time limit; a failure ends the run with `0 passed, 1 failed`. */
function buildStep(what, command, args, limitMs) {
  say(`${what} (${[command, ...args].join(' ')})`);
  const r = spawnSync(command, args, { stdio: 'inherit', timeout: limitMs, killSignal: 'SIGKILL' });
  if (r.status === 0) return;
  const why = r.error?.code === 'ETIMEDOUT' ? `ran past ${limitMs / MINUTE} min` : r.error ? r.error.message : `exit ${r.status ?? r.signal}`;
  say(`${what} failed: ${why}`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}

if (engines.includes('native')) buildStep('building the native addon', 'npm', ['run', '--silent', 'build:native'], 20 * MINUTE);

const rust = { passed: 0, failed: 0 };
if (engines.includes('native')) {
  say("the native load generator's unit tests (cargo test -p hongbao-loadgen)");
  const cargo = spawnSync('cargo', ['test', '--release', '-p', 'hongbao-loadgen'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
    timeout: 10 * MINUTE,
    killSignal: 'SIGKILL',
  });
  process.stderr.write(cargo.stdout ?? '');
  for (const m of (cargo.stdout ?? '').matchAll(/test result: \w+\. (\d+) passed; (\d+) failed/g)) {
    rust.passed += Number(m[1]);
    rust.failed += Number(m[2]);
  }
  if (cargo.status !== 0 && rust.failed === 0) rust.failed = 1;
  say(`cargo: ${rust.passed} passed, ${rust.failed} failed`);
}

buildStep('building the web pages', 'npm', ['run', '--silent', 'build:web'], 5 * MINUTE);
// The children the tests start through bin/hongbao.js (rehearsal, cluster nodes) run the compiled code.
buildStep('compiling the sources', 'npm', ['run', '--silent', 'build:ts'], 5 * MINUTE);

/** Every failure by name, printed again just above the last line: a CI log's tail shows what failed. */
const failures = [];
if (rust.failed > 0) failures.push('cargo test -p hongbao-loadgen (its output is above)');

/** The live processes of process group `pgid` (zombies aside), as `pid command` lines. */
function groupMembers(pgid) {
  const ps = execFileSync('ps', ['-eo', 'pid=,pgid=,stat=,args='], { encoding: 'utf8' });
  const members = [];
  for (const line of ps.split('\n')) {
    const m = /^\s*(\d+)\s+(\d+)\s+(\S+)\s+(.*)$/.exec(line);
    if (m && Number(m[2]) === pgid && !m[3].startsWith('Z')) members.push(`${m[1]} ${m[4].slice(0, 200)}`);
  }
  return members;
}

function killGroup(pgid, signal) {
  try {
    process.kill(-pgid, signal);
  } catch {
    // nobody left in it
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The ava run under way, ended with the runner if someone stops it (Ctrl-C). */
let running = null;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    if (running) killGroup(running, 'SIGTERM');
    process.exit(signal === 'SIGINT' ? 130 : 143);
  });
}

/** One line of why a test point failed: its message, and for a thrown error or a rejected promise
 *  (ava's message then says only that) the error's own message from the details. */
function failureWhy(diag) {
  const parts = [];
  if (diag?.message ?? diag?.name) parts.push(String(diag.message ?? diag.name).split('\n')[0]);
  for (const [label, detail] of Object.entries(diag?.details ?? {})) {
    const m = /Reason|thrown/i.test(label) && String(detail).match(/message: (.*)/);
    if (m) parts.push(m[1].replace(/,$/, ''));
  }
  return parts.length > 0 ? ` — ${parts.join(': ')}` : '';
}

function runAva(engine) {
  return new Promise((resolve) => {
    const counts = { passed: 0, failed: 0, skipped: 0 };
    const fail = (why) => {
      counts.failed++;
      failures.push(`[${engine}] ${why}`);
    };
    // In a process group of its own: what the tests start (servers, Redis, clients) is found by it.
    const child = spawn('npx', ['ava', '--tap', ...avaArgs], {
      env: { ...process.env, HONGBAO_ENGINE: engine },
      stdio: ['ignore', 'pipe', 'inherit'],
      detached: true,
    });
    running = child.pid;
    // ava's TAP read by tap-parser: every test point counted (a SKIP or TODO apart), every line
    // echoed with the engine in front.
    const tap = new Parser();
    tap.on('line', (line) => process.stdout.write(`[${engine}] ${line}`));
    tap.on('assert', (point) => {
      if (point.skip || point.todo) counts.skipped++;
      else if (point.ok) counts.passed++;
      else {
        fail(`${point.name}${failureWhy(point.diag)}`);
      }
    });
    const stdoutClosed = new Promise((r) => child.stdout.once('close', r));
    child.stdout.pipe(tap);
    const limit = setTimeout(() => {
      say(`${engine}: ava ran past ${AVA_LIMIT_MS / MINUTE} min: ending it`);
      fail(`ava ran past ${AVA_LIMIT_MS / MINUTE} min and was ended (the last results before it are above)`);
      killGroup(child.pid, 'SIGKILL');
    }, AVA_LIMIT_MS);
    child.on('exit', async (code, signal) => {
      clearTimeout(limit);
      // A process that still holds ava's stdout must not hold the run: the TAP is read until the
      // pipe closes or the grace ends.
      await Promise.race([stdoutClosed, sleep(LEFTOVER_GRACE_MS)]);
      child.stdout.destroy();
      let left = groupMembers(child.pid);
      for (let waited = 0; left.length > 0 && waited < LEFTOVER_GRACE_MS; waited += 250) {
        await sleep(250);
        left = groupMembers(child.pid);
      }
      if (left.length > 0) {
        console.error(`# ${engine}: still running ${LEFTOVER_GRACE_MS / 1000} s after ava exited (ended now):\n${left.map((l) => `#   ${l}`).join('\n')}`);
        fail(`${left.length} process(es) the tests started were left running: ${left.map((l) => l.split(' ').slice(1, 3).join(' ')).join('; ')}`);
        killGroup(child.pid, 'SIGKILL');
      }
      running = null;
      // A crashed or timed-out file may not print `not ok`: count it as a failure so it cannot hide.
      if (code !== 0 && counts.failed === 0) fail(`ava exited ${code ?? signal} without a failed test (a crash or a timeout: its output is above)`);
      resolve(counts);
    });
  });
}

const total = { passed: rust.passed, failed: rust.failed, skipped: 0 };
for (const engine of engines) {
  say(`ava, HONGBAO_ENGINE=${engine}`);
  const c = await runAva(engine);
  say(`${engine}: ${c.passed} passed, ${c.failed} failed, ${c.skipped} skipped`);
  total.passed += c.passed;
  total.failed += c.failed;
  total.skipped += c.skipped;
}
if (failures.length > 0) console.error(`# failed:\n${failures.map((f) => `#   ${f}`).join('\n')}`);
console.log(`${total.passed} passed, ${total.failed} failed${total.skipped ? `, ${total.skipped} skipped` : ''}`);
process.exit(total.failed === 0 ? 0 : 1);
