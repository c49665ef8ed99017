#!/usr/bin/env node
// `npm test`: builds the native addon (and the native load generator), runs the load generator's
// Rust unit tests, then the whole ava suite once per engine (HONGBAO_ENGINE=native, then ts), and
// ends with one line `N passed, M failed` counted from cargo's summary and ava's TAP (tap-parser).
// Extra arguments are passed to ava (e.g. `npm test -- test/engine.shake.test.ts`).
import { spawn, spawnSync } from 'node:child_process';
import { Parser } from 'tap-parser';

const engines = (process.env.HONGBAO_TEST_ENGINES ?? 'native,ts').split(',').filter(Boolean);
const avaArgs = process.argv.slice(2);

if (engines.includes('native')) {
  console.error('# building the native addon (npm run build:native)');
  const build = spawnSync('npm', ['run', '--silent', 'build:native'], { stdio: 'inherit' });
  if (build.status !== 0) {
    console.error('# native build failed');
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
}

const rust = { passed: 0, failed: 0 };
if (engines.includes('native')) {
  console.error("# the native load generator's unit tests (cargo test -p hongbao-loadgen)");
  const cargo = spawnSync('cargo', ['test', '--release', '-p', 'hongbao-loadgen'], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  process.stderr.write(cargo.stdout ?? '');
  for (const m of (cargo.stdout ?? '').matchAll(/test result: \w+\. (\d+) passed; (\d+) failed/g)) {
    rust.passed += Number(m[1]);
    rust.failed += Number(m[2]);
  }
  if (cargo.status !== 0 && rust.failed === 0) rust.failed = 1;
  console.error(`# cargo: ${rust.passed} passed, ${rust.failed} failed`);
}

console.error('# building the web pages (npm run build:web)');
if (spawnSync('npm', ['run', '--silent', 'build:web'], { stdio: 'inherit' }).status !== 0) {
  console.error('# web build failed');
  console.log('0 passed, 1 failed');
  process.exit(1);
}

// The children the tests start through bin/hongbao.js (rehearsal, cluster nodes) run the compiled code.
console.error('# compiling the sources (npm run build:ts)');
if (spawnSync('npm', ['run', '--silent', 'build:ts'], { stdio: 'inherit' }).status !== 0) {
  console.error('# build:ts failed');
  console.log('0 passed, 1 failed');
  process.exit(1);
}

/** Every failure by name, printed again just above the last line: a CI log's tail shows what failed. */
const failures = [];
if (rust.failed > 0) failures.push('cargo test -p hongbao-loadgen (its output is above)');

function runAva(engine) {
  return new Promise((resolve) => {
    const counts = { passed: 0, failed: 0, skipped: 0 };
    const child = spawn('npx', ['ava', '--tap', ...avaArgs], {
      env: { ...process.env, HONGBAO_ENGINE: engine },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    // ava's TAP read by tap-parser: every test point counted (a SKIP or TODO apart), every line
    // echoed with the engine in front.
    const tap = new Parser();
    tap.on('line', (line) => process.stdout.write(`[${engine}] ${line}`));
    tap.on('assert', (point) => {
      if (point.skip || point.todo) counts.skipped++;
      else if (point.ok) counts.passed++;
      else {
        counts.failed++;
        const why = point.diag?.message ?? point.diag?.name;
        failures.push(`[${engine}] ${point.name}${why ? ` — ${String(why).split('\n')[0]}` : ''}`);
      }
    });
    child.stdout.pipe(tap);
    child.on('close', (code) => {
      // A crashed or timed-out file may not print `not ok`: count it as a failure so it cannot hide.
      if (code !== 0 && counts.failed === 0) {
        counts.failed = 1;
        failures.push(`[${engine}] ava exited ${code} without a failed test (a crash or a timeout: its output is above)`);
      }
      resolve(counts);
    });
  });
}

const total = { passed: rust.passed, failed: rust.failed, skipped: 0 };
for (const engine of engines) {
  const c = await runAva(engine);
  console.error(`# ${engine}: ${c.passed} passed, ${c.failed} failed, ${c.skipped} skipped`);
  total.passed += c.passed;
  total.failed += c.failed;
  total.skipped += c.skipped;
}
if (failures.length > 0) console.error(`# failed:\n${failures.map((f) => `#   ${f}`).join('\n')}`);
console.log(`${total.passed} passed, ${total.failed} failed${total.skipped ? `, ${total.skipped} skipped` : ''}`);
process.exit(total.failed === 0 ? 0 : 1);
