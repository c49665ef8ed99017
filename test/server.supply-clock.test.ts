// The supply clock pays its rate in every wall-clock second, with timers that fire early or late
// as real ones do (a controlled clock: each timer fires at its due time plus a random jitter of
// -20..+400 ms), and carries fractional rates over. Before the clock was keyed by the second, an
// early timer re-fired in the same second (400 released in it) and a late one skipped a second.
import test from 'ava';
import { TsEngine } from '../src/engine/ts.ts';
import { Rng } from '../src/engine/rng.ts';
import type { ReleaseOut } from '../src/engine/types.ts';
import { newCounters } from '../src/server/counters.ts';
import type { Recovery } from '../src/server/recovery.ts';
import { SupplyClock, type TimeSource } from '../src/server/supply-clock.ts';

/** Timers that fire at their due time plus `jitter()`, in due order, when the test advances time. */
class JitteryTime implements TimeSource {
  t: number;
  private timers: Array<{ at: number; fn: () => void; id: number }> = [];
  private nextId = 1;

  constructor(
    start: number,
    private readonly jitter: () => number,
  ) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.timers.push({ at: this.t + ms + this.jitter(), fn, id });
    return id;
  }

  clearTimeout(timer: unknown): void {
    this.timers = this.timers.filter((x) => x.id !== timer);
  }

  /** Runs every timer due up to `until`, letting the clock's promises settle after each. */
  async runUntil(until: number): Promise<void> {
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at);
      const next = this.timers[0];
      if (next === undefined || next.at > until) break;
      this.timers.shift();
      this.t = Math.max(this.t, next.at);
      next.fn();
      for (let i = 0; i < 10; i++) await Promise.resolve();
    }
    this.t = until;
  }
}

const okRecovery = { canMove: () => true, commit: async () => undefined } as unknown as Recovery;

async function run(ratePerSecond: number, seconds: number, seed: number, jitter: (rng: Rng) => number) {
  const rng = new Rng(seed, 1);
  const time = new JitteryTime(1_700_000_000_000 + rng.uniform(0, 999), () => jitter(rng));
  const engine = new TsEngine({ shards: 4, seed });
  const perSecond = new Map<number, number>();
  const release = engine.releaseSupply.bind(engine);
  engine.releaseSupply = (count: number, out: ReleaseOut) => {
    const got = release(count, out);
    const second = Math.floor(time.now() / 1000);
    perSecond.set(second, (perSecond.get(second) ?? 0) + got);
    return got;
  };
  const logs: string[] = [];
  const clock = new SupplyClock(engine, okRecovery, newCounters(), (m) => logs.push(m), time);
  await clock.begin({ total: 10_000_000, ratePerSecond, rule: { kind: 'range', min: 1, max: 100 } });
  clock.start();
  const first = Math.floor(time.now() / 1000) + 1;
  await time.runUntil((first + seconds) * 1000);
  clock.stop();
  const counts = Array.from({ length: seconds }, (_, i) => perSecond.get(first + i) ?? 0);
  return { counts, logs };
}

test('an integer rate is paid exactly in every second, with timers 20 ms early to 400 ms late', async (t) => {
  for (const seed of [1, 2, 3]) {
    const { counts, logs } = await run(200, 600, seed, (rng) => rng.uniform(0, 420) - 20);
    const wrong = counts.map((n, i) => [i, n]).filter(([, n]) => n !== 200);
    t.deepEqual(wrong, [], `seed ${seed}: every one of 600 seconds released 200 (seconds otherwise: ${JSON.stringify(wrong.slice(0, 5))})`);
    t.deepEqual(logs, [], `seed ${seed}: no second was skipped`);
  }
});

test('a fractional rate carries over: 2.5 per second pays 2 and 3 in turn, 5 every two seconds', async (t) => {
  const { counts } = await run(2.5, 400, 7, (rng) => rng.uniform(0, 420) - 20);
  t.true(
    counts.every((n) => n === 2 || n === 3),
    'each second pays 2 or 3',
  );
  for (let i = 0; i + 1 < counts.length; i += 2) t.is(counts[i] + counts[i + 1], 5, `seconds ${i} and ${i + 1} pay 5 together`);
});

test('a second the event loop slept through is not paid twice afterwards, and the log says so', async (t) => {
  let n = 0;
  // the 30th timer fires 1,200 ms late (at .700 of the next second): its own second passes without a release
  const { counts, logs } = await run(100, 60, 9, () => (++n === 30 ? 1200 : 5));
  t.true(
    counts.every((c) => c === 0 || c === 100),
    `no second pays more than its rate (${counts.join(' ')})`,
  );
  t.is(counts.filter((c) => c === 0).length, 1, 'exactly one second went unpaid');
  t.is(logs.length, 1, 'one log line says a second was skipped');
  t.regex(logs[0] ?? '', /1 second\(s\) passed without a release/, 'it names the skipped second');
});
