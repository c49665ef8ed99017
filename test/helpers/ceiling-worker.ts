// Runs in a worker thread (started by test/server.ceiling.test.ts): takes shakes from the shared
// ceiling one at a time, second after second, in step with the other workers (a barrier at each
// second's turn, so that every thread crosses into a new second at the same moment).
import { parentPort, workerData } from 'node:worker_threads';
import { ShakeCeiling } from '../../src/server/counters.ts';

const { control, barrier, workers, perSecond, seconds, takes } = workerData as {
  control: Int32Array;
  barrier: Int32Array;
  workers: number;
  perSecond: number;
  seconds: number;
  /** shakes each worker takes in second s: takes[s % takes.length] */
  takes: number[];
};
const ceiling = new ShakeCeiling(control, perSecond);
const allowed: number[] = [];
const base = 1_700_000_000_000;
for (let s = 0; s < seconds; s++) {
  // a spinning barrier (a sleeping one would wake the threads microseconds apart): the last to
  // arrive bumps the generation, and everyone leaves at once
  const gen = Atomics.load(barrier, 1);
  if (Atomics.add(barrier, 0, 1) === workers - 1) {
    Atomics.store(barrier, 0, 0);
    Atomics.add(barrier, 1, 1);
  } else {
    // (after a while it naps, so that a loaded machine's descheduled peer gets the core)
    for (let spins = 0; Atomics.load(barrier, 1) === gen; spins++) if (spins > 100_000) Atomics.wait(barrier, 1, gen, 1);
  }
  let got = 0;
  for (let i = 0; i < takes[s % takes.length]; i++) got += ceiling.take(1, base + s * 1000 + i);
  allowed.push(got);
}
parentPort?.postMessage(allowed);
