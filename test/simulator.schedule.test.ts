import test from 'ava';
import fc from 'fast-check';
import { fillSecond, scheduleBuffer, slotsInSecond, strideFor, MAX_TOTAL_USERS } from '../src/simulator/schedule.ts';

/** Split 1..total into `cuts.length + 1` disjoint contiguous ranges at the given cut points. */
function ranges(total: number, cuts: number[]): Array<[number, number]> {
  const points = [...new Set(cuts.map((c) => 1 + (c % total)))].sort((a, b) => a - b).filter((c) => c > 1);
  const out: Array<[number, number]> = [];
  let from = 1;
  for (const p of points) {
    out.push([from, p - 1]);
    from = p;
  }
  out.push([from, total]);
  return out;
}

const scenario = fc.record({
  total: fc.integer({ min: 1, max: 3000 }),
  qps: fc.integer({ min: 0, max: 7000 }),
  second: fc.integer({ min: 0, max: 4_000_000_000 }),
  cuts: fc.array(fc.nat(), { maxLength: 12 }),
});

test('disjoint id ranges together send exactly qps shakes in a second (divisible or not)', (t) => {
  fc.assert(
    fc.property(scenario, ({ total, qps, second, cuts }) => {
      const parts = ranges(total, cuts);
      let sum = 0;
      for (const [from, to] of parts) sum += slotsInSecond(second, qps, total, from, to).length;
      return sum === qps;
    }),
    { numRuns: 300 },
  );
  t.pass('300 random (total, qps, second, partition) cases summed to qps');
});

test('exact for the reference figures: 1M users at 30k and 60k QPS over 53 processes', (t) => {
  const total = 1_000_000;
  const perProcess = 19_000;
  for (const qps of [30_000, 60_000, 19_999]) {
    let sum = 0;
    for (let from = 1; from <= total; from += perProcess) {
      sum += slotsInSecond(1_764_086_400, qps, total, from, Math.min(total, from + perProcess - 1)).length;
    }
    t.is(sum, qps, `53 processes sum to ${qps}`);
  }
});

test('the union of the processes is the whole schedule: each global slot owned exactly once', (t) => {
  fc.assert(
    fc.property(scenario, ({ total, qps, second, cuts }) => {
      const whole = slotsInSecond(second, qps, total, 1, total);
      const merged = ranges(total, cuts)
        .flatMap(([from, to]) => slotsInSecond(second, qps, total, from, to))
        .sort((a, b) => a.offsetMicros - b.offsetMicros || a.user - b.user);
      const sortedWhole = [...whole].sort((a, b) => a.offsetMicros - b.offsetMicros || a.user - b.user);
      return JSON.stringify(merged) === JSON.stringify(sortedWhole);
    }),
    { numRuns: 150 },
  );
  t.pass('merged process schedules equal the single-process schedule');
});

test('shakes are spread evenly inside the second: slot k at k/qps, sorted, no burst at the start', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 1, max: 20000 }), fc.integer({ min: 0, max: 4_000_000_000 }), (total, qps, second) => {
      const slots = slotsInSecond(second, qps, total, 1, total);
      if (slots.length !== qps) return false;
      for (let i = 0; i < slots.length; i++) {
        if (slots[i].offsetMicros !== Math.floor((i * 1e6) / qps)) return false;
      }
      // every tenth of the second holds qps/10 slots, give or take one
      const tenths = new Array(10).fill(0);
      for (const s of slots) tenths[Math.floor(s.offsetMicros / 100_000)]++;
      return tenths.every((c) => Math.abs(c - qps / 10) <= 1);
    }),
    { numRuns: 200 },
  );
  t.pass('offsets are k * 1e6 / qps and each tenth of a second holds qps/10 ± 1 slots');
});

test('a process that owns a tenth of the users sends across the whole second, not in a block', (t) => {
  for (const [total, qps] of [
    [19_000, 10_000],
    [19_000, 20_000],
    [1_000_000, 60_000],
    [5_000, 3_333],
  ]) {
    for (let p = 0; p < 10; p++) {
      const from = Math.floor((p * total) / 10) + 1;
      const to = Math.floor(((p + 1) * total) / 10);
      const slots = slotsInSecond(1_764_086_400 + p, qps, total, from, to);
      const quarters = [0, 0, 0, 0];
      for (const s of slots) quarters[Math.floor(s.offsetMicros / 250_000)]++;
      const expected = slots.length / 4;
      for (const q of quarters) {
        t.true(Math.abs(q - expected) <= expected * 0.2, `total ${total} qps ${qps} part ${p}: quarters ${quarters}`);
      }
    }
  }
});

test('every user shakes equally often over total consecutive seconds', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 400 }), fc.nat(1_000_000), (total, qps, start) => {
      const counts = new Array(total + 1).fill(0);
      for (let s = start; s < start + total; s++) for (const slot of slotsInSecond(s, qps, total, 1, total)) counts[slot.user]++;
      // total seconds x qps slots = qps full rounds over the users
      return counts.slice(1).every((c) => c === qps);
    }),
    { numRuns: 60 },
  );
  t.pass('each user got exactly qps slots over total seconds');
});

test('stride is coprime with the user count and the rule rejects impossible inputs', (t) => {
  for (const total of [1, 2, 3, 10, 19_000, 1_000_000, 999_983]) {
    const s = strideFor(total);
    let a = s;
    let b = total;
    while (b) [a, b] = [b, a % b];
    t.is(a, 1, `stride ${s} for ${total} is coprime`);
  }
  t.throws(() => strideFor(0), { instanceOf: RangeError }, 'zero users');
  t.throws(() => strideFor(MAX_TOTAL_USERS + 1), { instanceOf: RangeError }, 'beyond exact arithmetic');
  t.throws(() => fillSecond(1, 10, 100, 1, 100, scheduleBuffer(5)), { instanceOf: RangeError }, 'buffer too small');
  t.is(slotsInSecond(5, 0, 100, 1, 100).length, 0, 'qps 0 sends nothing');
});
