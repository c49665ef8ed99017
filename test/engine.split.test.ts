// Fairness of the two split modes over many packets, checked against the claims of docs/engine.md.
//
// Tolerances: a sample mean over N packets has standard error sqrt(var / N); a sample variance has
// standard error sqrt((m4 - var^2 (N-3)/(N-1)) / N) (m4 = fourth central moment). Every comparison
// allows 5 standard errors (combined as sqrt(a^2 + b^2) for a difference), so a correct engine fails
// with probability well below 1e-5 per comparison; the seeds are fixed, so the outcome is
// reproducible anyway.
import test from 'ava';
import { OpenStatus, SplitMode, type Engine } from '../src/engine/index.ts';
import { create, engineUnderTest, open, type GroupSpec } from './helpers/engine.ts';

let engine: Engine;
const SHARDS = 8;
const Z = 5;

test.before(async () => {
  engine = await engineUnderTest({ seed: 2024, shards: SHARDS });
});

interface Stats {
  mean: number;
  variance: number;
  /** Standard error of the mean. */
  seMean: number;
  /** Standard error of the sample variance. */
  seVariance: number;
}

function stats(xs: Float64Array): Stats {
  const n = xs.length;
  let mean = 0;
  for (const x of xs) mean += x;
  mean /= n;
  let m2 = 0;
  let m4 = 0;
  for (const x of xs) {
    const d = (x - mean) ** 2;
    m2 += d;
    m4 += d * d;
  }
  const variance = m2 / (n - 1);
  m4 /= n;
  return {
    mean,
    variance,
    seMean: Math.sqrt(variance / n),
    seVariance: Math.sqrt(Math.max(m4 - (variance * variance * (n - 3)) / (n - 1), 0) / n),
  };
}

/** Creates `packets` packets of `total` cents in `count` shares, opens every share in recipient order and
 *  returns the shares by position (shares[position][packet]). */
async function sharesByPosition(splitMode: SplitMode, packets: number, total: number, count: number): Promise<Float64Array[]> {
  await engine.reset({ seed: 2024 + splitMode, shards: SHARDS, splitMode });
  const byPosition = Array.from({ length: count }, () => new Float64Array(packets));
  const recipients = Array.from({ length: count }, (_, i) => 1 + i);
  const batch = 1000;
  for (let start = 0; start < packets; start += batch) {
    const n = Math.min(batch, packets - start);
    const specs: GroupSpec[] = Array.from({ length: n }, () => ({ total, shares: count, recipients }));
    const { ids } = await create(engine, specs);
    // Position by position over the whole batch: each packet is opened in recipient order.
    const pairs: Array<[number, number]> = [];
    for (const user of recipients) for (const id of ids) pairs.push([user, id]);
    const r = await open(engine, pairs);
    if (r.status.some((s) => s !== OpenStatus.Ok)) throw new Error('every open of a fresh share must be Ok');
    for (let p = 0; p < count; p++) for (let k = 0; k < n; k++) byPosition[p][start + k] = r.cents[p * n + k];
  }
  return byPosition;
}

const PACKETS = 10_000;
const TOTAL = 10_000;
const COUNT = 5;

test.serial('double mean: every position has mean total/count, and the last varies most', async (t) => {
  const positions = (await sharesByPosition(SplitMode.DoubleMean, PACKETS, TOTAL, COUNT)).map(stats);
  // The docs' "same mean" is exact only up to rounding: a share drawn from [1, floor(2B/r)] has mean
  // B/r + (1 - frac(2B/r)) / 2, i.e. up to half a cent above B/r, and the last share gives that back.
  // So each position may sit up to (count - 1) / 2 cents off total/count beyond the sampling error.
  const bias = (COUNT - 1) / 2;
  for (const [i, s] of positions.entries()) {
    const tolerance = Z * s.seMean + bias;
    t.true(Math.abs(s.mean - TOTAL / COUNT) <= tolerance, `position ${i}: mean ${s.mean.toFixed(2)} within ${tolerance.toFixed(2)} of ${TOTAL / COUNT}`);
  }
  const first = positions[0];
  const last = positions[COUNT - 1];
  const margin = Z * Math.hypot(first.seVariance, last.seVariance);
  t.true(
    last.variance - first.variance > margin,
    `last variance ${last.variance.toFixed(0)} exceeds first ${first.variance.toFixed(0)} by more than ${margin.toFixed(0)}`,
  );
  for (let i = 1; i < COUNT; i++) {
    const a = positions[i - 1];
    const b = positions[i];
    const slack = Z * Math.hypot(a.seVariance, b.seVariance);
    t.true(
      b.variance >= a.variance - slack,
      `the spread does not shrink from position ${i - 1} to ${i} (${a.variance.toFixed(0)} -> ${b.variance.toFixed(0)}, slack ${slack.toFixed(0)})`,
    );
  }
  // Sharper than the docs: with two shares left the draw is uniform on [1, B - 1] and the last takes
  // B minus it, so the last two positions have the same distribution (the last is not alone in being
  // the most volatile).
  const penultimate = positions[COUNT - 2];
  const tie = Z * Math.hypot(penultimate.seVariance, last.seVariance);
  t.true(
    Math.abs(last.variance - penultimate.variance) <= tie,
    `last two variances (${penultimate.variance.toFixed(0)}, ${last.variance.toFixed(0)}) agree within ${tie.toFixed(0)}`,
  );
  // First share: uniform on [1, 2 * total / count], variance ((2T/n)^2 - 1) / 12.
  const hi = (2 * TOTAL) / COUNT;
  const expected = (hi * hi - 1) / 12;
  t.true(
    Math.abs(first.variance - expected) <= Z * first.seVariance,
    `first share variance ${first.variance.toFixed(0)} matches uniform[1, ${hi}] (${expected.toFixed(0)})`,
  );
});

test.serial('line segment: every position has the same distribution', async (t) => {
  const positions = (await sharesByPosition(SplitMode.LineSegment, PACKETS, TOTAL, COUNT)).map(stats);
  // Shares are 1 + a uniform weak composition of M = total - count into count parts (a Dirichlet-
  // multinomial with all alphas 1), so every position has mean T/n and variance M (M + n)(n - 1) / (n^2 (n + 1)).
  const m = TOTAL - COUNT;
  const theoretical = (m * (m + COUNT) * (COUNT - 1)) / (COUNT * COUNT * (COUNT + 1));
  for (const [i, s] of positions.entries()) {
    t.true(
      Math.abs(s.mean - TOTAL / COUNT) <= Z * s.seMean,
      `position ${i}: mean ${s.mean.toFixed(2)} within ${(Z * s.seMean).toFixed(2)} of ${TOTAL / COUNT}`,
    );
    t.true(
      Math.abs(s.variance - theoretical) <= Z * s.seVariance,
      `position ${i}: variance ${s.variance.toFixed(0)} within ${(Z * s.seVariance).toFixed(0)} of ${theoretical.toFixed(0)}`,
    );
  }
  const first = positions[0];
  const last = positions[COUNT - 1];
  const margin = Z * Math.hypot(first.seVariance, last.seVariance);
  t.true(
    Math.abs(last.variance - first.variance) <= margin,
    `first and last variance (${first.variance.toFixed(0)}, ${last.variance.toFixed(0)}) agree within ${margin.toFixed(0)}`,
  );
});

test.serial('line segment: every composition of a small total is equally likely', async (t) => {
  // 6 cents in 3 shares: C(5, 2) = 10 compositions, each with probability 1/10.
  const packets = 20_000;
  const positions = await sharesByPosition(SplitMode.LineSegment, packets, 6, 3);
  const counts = new Map<string, number>();
  for (let k = 0; k < packets; k++) {
    const key = `${positions[0][k]}+${positions[1][k]}+${positions[2][k]}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  t.is(counts.size, 10, `all 10 compositions of 6 into 3 positive parts occur (${[...counts.keys()].join(', ')})`);
  const p = 1 / 10;
  const tolerance = Z * Math.sqrt(packets * p * (1 - p)); // binomial standard error of each count
  for (const [key, c] of counts) {
    t.true(Math.abs(c - packets * p) <= tolerance, `composition ${key}: ${c} times, within ${tolerance.toFixed(0)} of ${packets * p}`);
  }
});
