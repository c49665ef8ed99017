// The two ways of splitting a group packet (docs/engine.md, "Splitting").
import type { Rng } from './rng.ts';

/** Double mean: the next share of `remainingCents` over `remainingShares` (>= 1) shares.
 *  The last share takes the rest without a draw; otherwise uniform in [1, min(floor(2B/r), B - (r-1))]. */
export function doubleMeanShare(rng: Rng, remainingCents: number, remainingShares: number): number {
  if (remainingShares === 1) return remainingCents;
  const twoMean = Math.floor((2 * remainingCents) / remainingShares);
  const keepOneEach = remainingCents - (remainingShares - 1);
  return rng.uniform(1, Math.min(twoMean, keepOneEach));
}

/** Line segment: `count` positive shares of `totalCents` (count <= totalCents), as the gaps between
 *  0, the sorted cut points and the total. The count - 1 distinct cuts in [1, total - 1] are drawn
 *  with Floyd's algorithm, so every composition is equally likely. */
export function lineSegmentSplit(rng: Rng, totalCents: number, count: number): Uint32Array {
  const shares = new Uint32Array(count);
  const k = count - 1;
  if (k === 0) {
    shares[0] = totalCents;
    return shares;
  }
  const n = totalCents - 1;
  const chosen = new Set<number>();
  const cuts = new Uint32Array(k);
  let c = 0;
  for (let j = n - k + 1; j <= n; j++) {
    const t = rng.uniform(1, j);
    const cut = chosen.has(t) ? j : t;
    chosen.add(cut);
    cuts[c++] = cut;
  }
  cuts.sort();
  let previous = 0;
  for (let i = 0; i < k; i++) {
    shares[i] = cuts[i] - previous;
    previous = cuts[i];
  }
  shares[k] = totalCents - previous;
  return shares;
}
