// Liveness: a child that gives no output is still alive while it uses CPU time (a starved worker
// closing its sockets), and silent once it neither talks nor runs (a hung or stopped one).
import { spawn } from 'node:child_process';
import test from 'ava';
import { Liveness } from '../src/process/liveness.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function child(code: string) {
  const c = spawn(process.execPath, ['-e', code], { stdio: 'ignore' });
  return c;
}

test('silent only when a child neither gives output nor uses CPU for the time asked', async (t) => {
  const spinner = child('for (;;) {}');
  const sleeper = child('setTimeout(() => {}, 60_000)');
  t.teardown(() => {
    spinner.kill('SIGKILL');
    sleeper.kill('SIGKILL');
  });
  await sleep(500); // both past their start-up (which uses CPU)
  const busy = new Liveness(spinner.pid ?? 0);
  const idle = new Liveness(sleeper.pid ?? 0);
  const talking = new Liveness(sleeper.pid ?? 0);
  for (let i = 0; i < 6; i++) {
    await sleep(250);
    talking.saw();
  }
  t.false(busy.silentFor(1000), 'a child using CPU is alive, though it says nothing');
  t.true(idle.silentFor(1000), 'a child that neither talks nor runs for 1.5 s is silent');
  t.false(talking.silentFor(1000), 'a child that talks is alive, though it uses no CPU');

  spinner.kill('SIGSTOP'); // hung: no output, no CPU
  await sleep(200);
  busy.silentFor(1000); // its last CPU seen
  await sleep(1300);
  t.true(busy.silentFor(1000), 'a stopped child is silent');
});
