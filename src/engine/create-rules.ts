// The checks of a group-packet create (docs/engine.md, createGroup), first failure wins: shared by
// the TS engine and the cluster engine, which creates packets on Redis.
import { CreateStatus, MAX_PACKET_CENTS, MAX_RECIPIENTS, MAX_SHARES } from './types.ts';

export function hasDuplicate(values: ArrayLike<number>, lo: number, hi: number): boolean {
  if (hi - lo <= 16) {
    for (let i = lo; i < hi; i++) for (let j = i + 1; j < hi; j++) if (values[i] === values[j]) return true;
    return false;
  }
  const seen = new Set<number>();
  for (let i = lo; i < hi; i++) {
    if (seen.has(values[i])) return true;
    seen.add(values[i]);
  }
  return false;
}

/** The status of a create of `total` cents in `shareCount` shares for recipients[lo, hi). */
export function createStatusOf(recipients: ArrayLike<number>, lo: number, hi: number, shareCount: number, total: number): CreateStatus {
  const count = hi - lo;
  if (count === 0 || count > MAX_RECIPIENTS || hasDuplicate(recipients, lo, hi)) return CreateStatus.BadRecipients;
  if (shareCount === 0 || shareCount > MAX_SHARES || shareCount > count) return CreateStatus.BadShareCount;
  if (total === 0 || total > MAX_PACKET_CENTS) return CreateStatus.BadTotal;
  if (total < shareCount) return CreateStatus.TotalBelowShares;
  return CreateStatus.Ok;
}
