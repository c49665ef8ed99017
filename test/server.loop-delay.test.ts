// The per-thread event-loop delay gauge behind /stats `loopDelayMs`: a thread blocked for 120 ms
// must report at least ~110 ms (the sampler records whole intervals; the resolution is taken off).
import test from 'ava';
import { LOOP_DELAY_MS, newCounters } from '../src/server/counters.ts';
import { trackLoopDelay } from '../src/server/loop-delay.ts';
import { StatsAggregator } from '../src/server/stats.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a blocked loop shows in the thread counters, and the aggregate takes the worst thread', async (t) => {
  const blocked = newCounters();
  const quiet = newCounters();
  quiet[LOOP_DELAY_MS] = 3;
  const stop = trackLoopDelay(blocked);
  try {
    await sleep(50);
    const until = Date.now() + 120;
    while (Date.now() < until); // the blocked thread
    await sleep(1100); // the sampler's once-a-second write has happened
  } finally {
    stop();
  }
  t.true(blocked[LOOP_DELAY_MS] >= 100, `a 120 ms block reported as ${blocked[LOOP_DELAY_MS]} ms`);
  t.true(blocked[LOOP_DELAY_MS] < 1000, `and not as more than the second it happened in (${blocked[LOOP_DELAY_MS]} ms)`);
  const stats = new StatsAggregator();
  stats.add(quiet);
  stats.add(blocked);
  t.is(stats.tick(1).loopDelayMs, blocked[LOOP_DELAY_MS], 'the per-second report carries the worst thread');
});
