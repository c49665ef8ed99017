// The calls of cluster mode for the TypeScript engine (docs/engine.md, "Calls for cluster mode"): shake
// packets leased from the cluster's pool go into the buckets and back out, and amounts and whole splits
// are drawn as this engine draws them. Each call checks its whole batch before any state changes.
import { checkLength, checkOut, checkRule, checkU32Array, fail } from './check.ts';
import { doubleMeanShare, lineSegmentSplit } from './split.ts';
import type { EngineState } from './ts-state.ts';
import { MAX_PACKET_CENTS, MAX_SHARES, SplitMode, type ReleaseOut } from './types.ts';

/** Amounts drawn from `rule` on stream 0, as releaseSupply draws them; creates nothing. */
export function drawAmounts(st: EngineState, rule: unknown, out: unknown): void {
  const r = checkRule(rule);
  const o = checkOut('out', out, Uint32Array, 0);
  const rng = st.streams[0];
  if (r.kind === 'list') {
    const values = r.values;
    for (let i = 0; i < o.length; i++) o[i] = values[rng.uniform(0, values.length - 1)];
  } else {
    for (let i = 0; i < o.length; i++) o[i] = rng.uniform(r.min, r.max);
  }
}

/** Packets made elsewhere, placed round-robin from the cursor and counted as created. */
export function adoptShakePackets(st: EngineState, ids: unknown, cents: unknown): void {
  const i32 = checkU32Array('ids', ids);
  const c32 = checkU32Array('cents', cents);
  checkLength('cents', c32, i32.length);
  for (let i = 0; i < i32.length; i++) {
    if (i32[i] === 0) fail(`ids[${i}] is 0: ids start at 1`);
    if (c32[i] === 0 || c32[i] > MAX_PACKET_CENTS) fail(`cents[${i}] must be in 1..=${MAX_PACKET_CENTS}, got ${c32[i]}`);
  }
  for (let i = 0; i < i32.length; i++) st.buckets.release(i32[i], c32[i]);
}

/** Unwon packets out of the buckets (shard 0 first, oldest first), counted as refunded; how many. */
export function withdrawShakePackets(st: EngineState, out: ReleaseOut): number {
  if (out == null) fail('out is required');
  const ids = checkOut('out.ids', out.ids, Uint32Array, 0);
  const cents = checkOut('out.cents', out.cents, Uint32Array, 0);
  if (cents.length !== ids.length) fail(`out.cents has ${cents.length} items, out.ids has ${ids.length}: the outputs must have one length`);
  return st.buckets.withdraw(ids, cents);
}

/** The whole split of each packet, in opening order, from the stream of its id's shard. */
export function splitShares(st: EngineState, packetIds: unknown, totalCents: unknown, shareCounts: unknown, out: unknown): void {
  const ids = checkU32Array('packetIds', packetIds);
  const n = ids.length;
  const totals = checkU32Array('totalCents', totalCents);
  checkLength('totalCents', totals, n);
  const counts = checkU32Array('shareCounts', shareCounts);
  checkLength('shareCounts', counts, n);
  let needed = 0;
  for (let i = 0; i < n; i++) {
    const count = counts[i];
    const total = totals[i];
    if (count === 0 || count > MAX_SHARES) fail(`shareCounts[${i}] must be in 1..=${MAX_SHARES}, got ${count}`);
    if (total === 0 || total > MAX_PACKET_CENTS) fail(`totalCents[${i}] must be in 1..=${MAX_PACKET_CENTS}, got ${total}`);
    if (total < count) fail(`totalCents[${i}] (${total}) is below shareCounts[${i}] (${count}): every share needs a cent`);
    needed += count;
  }
  const o = checkOut('out', out, Uint32Array, needed);

  const lineSegment = st.options.splitMode === SplitMode.LineSegment;
  let at = 0;
  for (let i = 0; i < n; i++) {
    const rng = st.streamOf(ids[i]);
    const count = counts[i];
    if (lineSegment) o.set(lineSegmentSplit(rng, totals[i], count), at);
    else {
      // The shares open() would pay in sequence: r shares left of `remaining` cents.
      let remaining = totals[i];
      for (let r = count; r >= 1; r--) {
        const share = doubleMeanShare(rng, remaining, r);
        o[at + count - r] = share;
        remaining -= share;
      }
    }
    at += count;
  }
}
