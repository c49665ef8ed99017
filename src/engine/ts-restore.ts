// Rebuilds a fresh TypeScript engine state from a ledger snapshot (docs/engine.md, "Restore").
// The caller swaps the state in only when this returns, so a bad snapshot changes nothing.
import { checkFinite, checkRule, checkU32, fail } from './check.ts';
import { lineSegmentSplit } from './split.ts';
import { GroupPacket } from './ts-group.ts';
import type { EngineState } from './ts-state.ts';
import { MAX_PACKET_CENTS, MAX_RECIPIENTS, MAX_SHARES, SplitMode, type EngineSnapshot } from './types.ts';

function checkCount(name: string, x: unknown): number {
  if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) fail(`${name} must be a non-negative integer, got ${String(x)}`);
  return x;
}

function checkPositive(name: string, x: unknown, max: number): number {
  const v = checkU32(name, x);
  if (v < 1 || v > max) fail(`${name} must be in [1, ${max}], got ${v}`);
  return v;
}

export function restoreInto(st: EngineState, snap: EngineSnapshot): void {
  if (snap == null || typeof snap !== 'object') fail('snapshot must be an object');
  // Next ids are in 1 ..= 2^32 - 1 (docs/engine.md, "Restore").
  st.nextShakeId = checkPositive('nextShakeId', snap.nextShakeId, 0xffff_ffff);
  st.nextGroupId = checkPositive('nextGroupId', snap.nextGroupId, 0xffff_ffff);

  if (snap.supply != null) {
    const s = snap.supply;
    const total = checkU32('supply.total', s.total);
    const released = checkU32('supply.released', s.released);
    if (released > total) fail(`supply.released (${released}) exceeds supply.total (${total})`);
    const ratePerSecond = checkFinite('supply.ratePerSecond', s.ratePerSecond);
    if (ratePerSecond < 0) fail(`supply.ratePerSecond must not be negative, got ${ratePerSecond}`);
    const rule = checkRule(s.rule);
    const values = rule.kind === 'list' ? Uint32Array.from(rule.values) : null;
    st.supply = { total, ratePerSecond, released, rule, active: s.active === true, values };
  }

  const sh = snap.shake;
  if (sh == null || !Array.isArray(sh.unpaidIds) || !Array.isArray(sh.unpaidCents)) fail('snapshot.shake is malformed');
  if (sh.unpaidIds.length !== sh.unpaidCents.length) fail('shake.unpaidIds and shake.unpaidCents differ in length');
  const b = st.buckets;
  if (new Set(sh.unpaidIds).size !== sh.unpaidIds.length) fail('shake.unpaidIds lists a packet twice');
  for (let i = 0; i < sh.unpaidIds.length; i++) {
    const id = checkPositive(`shake.unpaidIds[${i}]`, sh.unpaidIds[i], st.nextShakeId - 1);
    const cents = checkPositive(`shake.unpaidCents[${i}]`, sh.unpaidCents[i], MAX_PACKET_CENTS);
    b.place(id, cents);
    b.remainingCount++;
    b.remainingCents += cents;
  }
  b.createdCount = checkCount('shake.createdCount', sh.createdCount);
  b.createdCents = checkCount('shake.createdCents', sh.createdCents);
  b.paidCount = checkCount('shake.paidCount', sh.paidCount);
  b.paidCents = checkCount('shake.paidCents', sh.paidCents);
  if (b.createdCount !== b.paidCount + b.remainingCount || b.createdCents !== b.paidCents + b.remainingCents) {
    fail('shake counters do not satisfy created = paid + unpaid');
  }

  if (!Array.isArray(snap.groups)) fail('snapshot.groups must be an array');
  const groups = [...snap.groups].sort((x, y) => x.id - y.id);
  const g = st.group;
  for (const s of groups) {
    const id = checkPositive('group id', s.id, st.nextGroupId - 1);
    if (st.groups.has(id)) fail(`group ${id} appears twice`);
    const total = checkPositive(`group ${id} totalCents`, s.totalCents, MAX_PACKET_CENTS);
    const shareCount = checkPositive(`group ${id} shareCount`, s.shareCount, MAX_SHARES);
    if (!Array.isArray(s.recipients) || s.recipients.length < shareCount || s.recipients.length > MAX_RECIPIENTS) {
      fail(`group ${id} recipients must number between shareCount and ${MAX_RECIPIENTS}`);
    }
    const recipients = new Uint32Array(s.recipients.length);
    s.recipients.forEach((r, i) => {
      recipients[i] = checkU32(`group ${id} recipients[${i}]`, r);
    });
    if (new Set(recipients).size !== recipients.length) fail(`group ${id} lists a recipient twice`);
    if (s.splitMode !== SplitMode.DoubleMean && s.splitMode !== SplitMode.LineSegment) fail(`group ${id} splitMode is invalid`);
    if (total < shareCount) fail(`group ${id} totalCents is below shareCount`);
    const p = new GroupPacket(
      id,
      checkU32(`group ${id} sender`, s.sender),
      total,
      shareCount,
      s.splitMode,
      recipients,
      0,
      recipients.length,
      checkFinite(`group ${id} expiresAt`, s.expiresAt),
    );
    if (!Array.isArray(s.opened) || s.opened.length > shareCount) fail(`group ${id} has more opened shares than shares`);
    for (const o of s.opened) {
      const position = p.positionOf(checkU32(`group ${id} opener`, o.user));
      if (position < 0 || p.openedBy(position) !== 0) fail(`group ${id}: opener ${o.user} is not a recipient or opened twice`);
      const cents = checkPositive(`group ${id} opened cents`, o.cents, MAX_PACKET_CENTS);
      if (p.remainingCents - cents < p.remainingShares - 1) fail(`group ${id}: opened shares leave less than a cent per share`);
      p.pay(position, cents);
    }
    if (p.remainingShares === 0 && p.remainingCents !== 0) fail(`group ${id}: all shares opened but ${p.remainingCents} cents left`);
    g.packets++;
    g.createdCount += shareCount;
    g.createdCents += total;
    g.paidCount += p.openedCount;
    g.paidCents += total - p.remainingCents;
    if (s.expired === true) {
      if (s.refundedCents !== p.remainingCents) fail(`group ${id}: refundedCents ${s.refundedCents} != unopened ${p.remainingCents}`);
      p.expired = true;
      p.refundedCents = p.remainingCents;
      g.refundedCount += p.remainingShares;
      g.refundedCents += p.remainingCents;
      p.remainingCents = 0;
      p.remainingShares = 0;
      st.held.push(p.expiresAt, id);
    } else {
      if (s.refundedCents !== 0) fail(`group ${id}: refundedCents must be 0 before expiry`);
      g.remainingCount += p.remainingShares;
      g.remainingCents += p.remainingCents;
      st.heap.push(p.expiresAt, id);
      if (p.splitMode === SplitMode.LineSegment && p.remainingShares > 0) {
        // Unopened shares: a fresh line-segment split of what is left, drawn in ascending id order.
        p.plan = new Uint32Array(shareCount);
        p.plan.set(lineSegmentSplit(st.streamOf(id), p.remainingCents, p.remainingShares), p.openedCount);
      }
    }
    st.groups.set(id, p);
  }
}
