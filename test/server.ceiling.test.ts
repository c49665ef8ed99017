// The shake ceiling over all threads: at every second's turn the threads race to start the new
// second while they take from it. The second and its count live in one word changed by one CAS, so
// in no second do the threads together let through more (or fewer) than the ceiling. (With the
// second and the count in two words, an add between "new second" and "count = 0" was lost and that
// second let too many through.)
import { Worker } from 'node:worker_threads';
import test from 'ava';
import { MAX_CEILING, newControl, ShakeCeiling } from '../src/server/counters.ts';

function runWorkers(workers: number, perSecond: number, seconds: number, takes: number[]): Promise<number[][]> {
  const control = newControl();
  const barrier = new Int32Array(new SharedArrayBuffer(8));
  const boot = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((api) => api.tsImport(${JSON.stringify(new URL('./helpers/ceiling-worker.ts', import.meta.url).href)}, ${JSON.stringify(import.meta.url)}))`;
  return Promise.all(
    Array.from(
      { length: workers },
      () =>
        new Promise<number[]>((resolve, reject) => {
          const w = new Worker(boot, { eval: true, workerData: { control, barrier, workers, perSecond, seconds, takes } });
          w.once('message', resolve);
          w.once('error', reject);
          w.once('exit', (code) => code !== 0 && reject(new Error(`worker exited with ${code}`)));
        }),
    ),
  );
}

test('threads racing at every second turn let through exactly min(demand, ceiling) in each second', async (t) => {
  // a quiet second (2 x 5 shakes, under the ceiling of 30) before each busy one (2 x 20): an add
  // judged against the quiet second's count and then lost lets the busy second through too many
  const perSecond = 30;
  const seconds = 5_000;
  const takes = [5, 20];
  const results = await runWorkers(2, perSecond, seconds, takes);
  const wrong: Array<[number, number]> = [];
  for (let s = 0; s < seconds; s++) {
    const sum = results.reduce((acc, r) => acc + r[s], 0);
    if (sum !== Math.min(perSecond, 2 * takes[s % 2])) wrong.push([s, sum]);
  }
  t.deepEqual(wrong, [], `every second let min(demand, ${perSecond}) through (seconds otherwise: ${JSON.stringify(wrong.slice(0, 5))})`);
});

test('a thread whose clock lags one second behind counts against the newer second', (t) => {
  const ceiling = new ShakeCeiling(newControl(), 10);
  const s = 1_700_000_000_000;
  t.is(ceiling.take(8, s + 1000), 8, 'the newer second takes 8');
  t.is(ceiling.take(8, s + 999), 2, 'a take stamped in the second before does not reopen it: 2 left');
  t.is(ceiling.take(1, s + 2000), 1, 'the second after starts over');
});

test('a ceiling that does not fit the shared word is refused', (t) => {
  t.throws(() => new ShakeCeiling(newControl(), MAX_CEILING + 1), { instanceOf: RangeError }, 'above 2^32 - 1');
  t.notThrows(() => new ShakeCeiling(newControl(), MAX_CEILING), 'at the maximum');
});

test('a ceiling never used, or idle for minutes, starts the current second from zero', (t) => {
  for (const second of [1_700_000_000, 1_700_000_200, 1_700_000_255, 1_700_000_129]) {
    const ceiling = new ShakeCeiling(newControl(), 10);
    t.is(ceiling.take(10, second * 1000), 10, `a fresh ceiling in second ${second} lets the whole ceiling through`);
    t.is(ceiling.take(10, (second + 300) * 1000), 10, `five minutes later (second ${second + 300}) it starts over`);
  }
});
