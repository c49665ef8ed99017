// The per-thread gauges behind /stats `loopDelayMs`, `heapMb` and `heapUsedMb`: a thread blocked for 200 ms
// must report at least 200 ms less one sampling interval (the sampler records whole intervals; the
// resolution is taken off).
import test from 'ava';
import { HEAP_MB, HEAP_USED_MB, LOOP_DELAY_MS, newCounters } from '../src/server/counters.ts';
import { DEFAULT_LOOP_SAMPLE_MS, trackThreadGauges } from '../src/server/thread-gauges.ts';
import { StatsAggregator } from '../src/server/stats.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a blocked loop shows in the thread counters, and the aggregate takes the worst thread', async (t) => {
  const blocked = newCounters();
  const quiet = newCounters();
  quiet[LOOP_DELAY_MS] = 3;
  const stop = trackThreadGauges(blocked);
  try {
    await sleep(50);
    const until = Date.now() + 200;
    while (Date.now() < until); // the blocked thread
    await sleep(1100); // the sampler's once-a-second write has happened
  } finally {
    stop();
  }
  t.true(blocked[LOOP_DELAY_MS] >= 200 - DEFAULT_LOOP_SAMPLE_MS, `a 200 ms block reported as ${blocked[LOOP_DELAY_MS]} ms`);
  t.true(blocked[LOOP_DELAY_MS] < 1000, `and not as more than the second it happened in (${blocked[LOOP_DELAY_MS]} ms)`);
  t.true(blocked[HEAP_USED_MB] > 1, `the thread's heap in use is reported (${blocked[HEAP_USED_MB]} MiB)`);
  t.true(blocked[HEAP_MB] >= blocked[HEAP_USED_MB] && blocked[HEAP_MB] < 4096, `and its committed heap, at least that (${blocked[HEAP_MB]} MiB)`);
  const stats = new StatsAggregator();
  stats.add(quiet);
  stats.add(blocked);
  const r = stats.tick(1);
  t.is(r.loopDelayMs, blocked[LOOP_DELAY_MS], 'the per-second report carries the worst thread');
  t.deepEqual(r.heapMb, [0, blocked[HEAP_MB]], 'and the heap of each thread, in the order the blocks were added');
  t.deepEqual(r.heapUsedMb, [0, blocked[HEAP_USED_MB]]);
});

test('one sampler serves every reporter of a thread (the app on the main thread) until the last one stops', async (t) => {
  const server = newCounters();
  const app = newCounters();
  const stopServer = trackThreadGauges(server);
  const stopApp = trackThreadGauges(app);
  try {
    await sleep(50);
    const until = Date.now() + 200;
    while (Date.now() < until);
    await sleep(1100);
    t.true(server[LOOP_DELAY_MS] >= 200 - DEFAULT_LOOP_SAMPLE_MS, `the first reporter sees the block (${server[LOOP_DELAY_MS]} ms)`);
    t.is(app[LOOP_DELAY_MS], server[LOOP_DELAY_MS], 'and the second the same figure');
    t.is(app[HEAP_MB], server[HEAP_MB]);
    stopServer();
    app[HEAP_USED_MB] = 0;
    server[HEAP_USED_MB] = 0;
    await sleep(1100);
    t.true(app[HEAP_USED_MB] > 1, 'the sampler goes on for the reporter still tracking');
    t.is(server[HEAP_USED_MB], 0, 'and no longer writes into the one that stopped');
    stopApp();
    app[HEAP_USED_MB] = 0;
    await sleep(1100);
    t.is(app[HEAP_USED_MB], 0, 'the last stop stops the sampler');
  } finally {
    stopServer();
    stopApp();
  }
});

// serial: the sampler is one per thread, and a concurrent test's would pick the interval
test.serial('a coarser sampling interval (--loop-sample-ms) still reports a long block, less at most that interval', async (t) => {
  const counters = newCounters();
  const stop = trackThreadGauges(counters, 200);
  try {
    await sleep(300); // past the first sample: the histogram records intervals between samples
    const until = Date.now() + 500;
    while (Date.now() < until);
    await sleep(1100);
  } finally {
    stop();
  }
  t.true(counters[LOOP_DELAY_MS] >= 500 - 200, `a 500 ms block reported as ${counters[LOOP_DELAY_MS]} ms`);
  t.true(counters[LOOP_DELAY_MS] < 1000, `and not as more than the second it happened in (${counters[LOOP_DELAY_MS]} ms)`);
});
