// The rehearsal's resource sampler reads /proc: a process that spins shows up as cores of its
// class over the window it spun in, an idle one as (almost) none, a process gone mid-run keeps
// what it had used, and per-1,000 figures follow from the cores and the work done.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import test from 'ava';
import { phaseCpu, ResourceSampler } from '../src/rehearsal/resources.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A process that spins until it has used `SPIN_CPU_MS` of CPU: however loaded the machine (other
 *  test files run beside this one), it is that much to find in /proc. Then it says so and waits to
 *  be killed: a process that exits keeps only what the sampler saw at its last look, up to one
 *  interval (longer on a loaded machine) short of what it used. */
const SPIN_CPU_MS = 700;
const SPIN = `const u = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1000; }; while (u() < ${SPIN_CPU_MS}); process.stdout.write('spun'); setInterval(() => {}, 60_000);`;

test('CPU per class over a window, from /proc', async (t) => {
  const spinner = spawn(process.execPath, ['-e', SPIN]);
  const idle = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 5000)']);
  // of no class: counted among the others
  const stranger = spawn(process.execPath, ['-e', SPIN]);
  try {
    const sampler = new ResourceSampler(() => ({ nodes: [spinner.pid ?? 0], clients: [idle.pid ?? 0], redis: [], monitor: [] }));
    const from = Date.now();
    sampler.start(200);
    await Promise.all([once(spinner.stdout, 'data'), once(stranger.stdout, 'data')]);
    await sleep(300);
    sampler.stop();
    const w = sampler.cpuBetween(from, Date.now());
    t.truthy(w);
    if (!w) return;
    // one process uses at most one core: its spin lasts at least most of SPIN_CPU_MS of wall time
    t.true(w.seconds > 0.5, `the window covers the spin (${w.seconds} s)`);
    // what a process used before the sampler's first look (its start) is not in the window
    const cpuSeconds = (cores: number) => cores * w.seconds;
    t.true(cpuSeconds(w.cores.nodes) > 0.5, `the spinning process used its CPU (${cpuSeconds(w.cores.nodes)} s in the window)`);
    t.true(w.cores.clients < w.cores.nodes / 2, `the idle one far less (${w.cores.clients})`);
    t.is(w.cores.redis, 0, 'an empty class used none');
    t.true(cpuSeconds(w.othersCores) > 0.5, `a spinning process of no class is among the others (${w.othersCores} cores)`);
    // other tests may run beside this one: the stranger is looked up, not assumed the busiest
    const all = sampler.busiestOthers(Number.MAX_SAFE_INTEGER);
    const found = all.find((o) => o.pid === stranger.pid);
    t.true((found?.cpuSeconds ?? 0) > 0.5, `and named with the CPU it used (${JSON.stringify(found)})`);
    t.is(found?.name, 'node', 'by its command');
    t.true(
      all.every((o, i) => i === 0 || all[i - 1].cpuSeconds >= o.cpuSeconds),
      'busiest first',
    );
    t.false(
      all.some((o) => o.pid === spinner.pid || o.pid === idle.pid),
      'the processes of a class are not among the others',
    );
    t.true(w.machineCores >= w.cores.nodes * 0.5, 'the machine was at least partly that busy');
    const per = phaseCpu(w, 'shakes', 1000);
    t.is(per.msPer1000?.nodes, Math.round(w.cores.nodes * w.seconds * 1000 * 100) / 100, 'ms per 1,000 = CPU ms of the window for 1,000 units');
    t.is(phaseCpu(w, 'shakes', 0).msPer1000, null, 'no work: no per-1,000 figure');
  } finally {
    spinner.kill();
    idle.kill();
    stranger.kill();
  }
});
