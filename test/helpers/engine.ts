// Small helpers for the engine tests: build typed-array batches, call the engine (always awaited, since
// any method may return a Promise) and read the results back as plain arrays.
import type { ExecutionContext } from 'ava';
import { createEngine } from '../../src/engine/index.ts';
import type { AmountRule, CreateBatch, Engine, EngineOptions, Totals } from '../../src/engine/types.ts';

/** The engine under test (HONGBAO_ENGINE picks it), created once per test file. */
export async function engineUnderTest(options: EngineOptions = { seed: 1, shards: 4 }): Promise<Engine> {
  return createEngine(options);
}

export interface GroupSpec {
  sender?: number;
  total: number;
  shares: number;
  recipients: number[];
  expiresAt?: number;
}

/** Far enough in the future that nothing expires unless a test says so. */
export const NEVER = 4_102_444_800_000; // 2100-01-01

export function batchOf(specs: GroupSpec[]): CreateBatch {
  const offsets = new Uint32Array(specs.length + 1);
  const recipients: number[] = [];
  specs.forEach((s, i) => {
    recipients.push(...s.recipients);
    offsets[i + 1] = recipients.length;
  });
  return {
    senders: Uint32Array.from(specs, (s) => s.sender ?? 1),
    totalCents: Uint32Array.from(specs, (s) => s.total),
    shareCounts: Uint32Array.from(specs, (s) => s.shares),
    recipientOffsets: offsets,
    recipients: Uint32Array.from(recipients),
    expiresAt: Float64Array.from(specs, (s) => s.expiresAt ?? NEVER),
  };
}

export async function create(engine: Engine, specs: GroupSpec[]): Promise<{ status: number[]; ids: number[] }> {
  const out = { status: new Uint8Array(specs.length), packetIds: new Uint32Array(specs.length) };
  await engine.createGroup(batchOf(specs), out);
  return { status: Array.from(out.status), ids: Array.from(out.packetIds) };
}

export async function open(engine: Engine, pairs: Array<[user: number, packetId: number]>, nowMs = 0): Promise<{ status: number[]; cents: number[] }> {
  const out = { status: new Uint8Array(pairs.length), cents: new Uint32Array(pairs.length) };
  await engine.open(
    Uint32Array.from(pairs, (p) => p[0]),
    Uint32Array.from(pairs, (p) => p[1]),
    nowMs,
    out,
  );
  return { status: Array.from(out.status), cents: Array.from(out.cents) };
}

export async function shake(engine: Engine, users: number[]): Promise<{ status: number[]; ids: number[]; cents: number[] }> {
  const n = users.length;
  const out = { status: new Uint8Array(n), packetIds: new Uint32Array(n), cents: new Uint32Array(n) };
  await engine.shake(Uint32Array.from(users), out);
  return { status: Array.from(out.status), ids: Array.from(out.packetIds), cents: Array.from(out.cents) };
}

export async function release(engine: Engine, count: number): Promise<{ ids: number[]; cents: number[] }> {
  const out = { ids: new Uint32Array(count), cents: new Uint32Array(count) };
  const n = await engine.releaseSupply(count, out);
  return { ids: Array.from(out.ids.subarray(0, n)), cents: Array.from(out.cents.subarray(0, n)) };
}

export async function draw(engine: Engine, rule: AmountRule, n: number): Promise<number[]> {
  const out = new Uint32Array(n);
  await engine.drawAmounts(rule, out);
  return Array.from(out);
}

export async function adopt(engine: Engine, ids: number[], cents: number[]): Promise<void> {
  await engine.adoptShakePackets(Uint32Array.from(ids), Uint32Array.from(cents));
}

export async function withdraw(engine: Engine, capacity: number): Promise<{ ids: number[]; cents: number[] }> {
  const out = { ids: new Uint32Array(capacity), cents: new Uint32Array(capacity) };
  const n = await engine.withdrawShakePackets(out);
  return { ids: Array.from(out.ids.subarray(0, n)), cents: Array.from(out.cents.subarray(0, n)) };
}

/** splitShares of (packet id, total, share count) items; the shares of each item, in opening order. */
export async function split(engine: Engine, items: Array<[packetId: number, total: number, shares: number]>): Promise<number[][]> {
  const out = new Uint32Array(items.reduce((n, item) => n + item[2], 0));
  await engine.splitShares(
    Uint32Array.from(items, (item) => item[0]),
    Uint32Array.from(items, (item) => item[1]),
    Uint32Array.from(items, (item) => item[2]),
    out,
  );
  let at = 0;
  return items.map(([, , shares]) => {
    const from = at;
    at += shares;
    return Array.from(out.subarray(from, at));
  });
}

export interface Refund {
  packetId: number;
  sender: number;
  cents: number;
  shares: number;
}

export async function expire(engine: Engine, nowMs: number, capacity = 1024, force?: number[]): Promise<Refund[]> {
  const out = {
    packetIds: new Uint32Array(capacity),
    senders: new Uint32Array(capacity),
    cents: new Uint32Array(capacity),
    shares: new Uint32Array(capacity),
  };
  const n = await engine.expire(nowMs, out, force === undefined ? undefined : Uint32Array.from(force));
  const refunds: Refund[] = [];
  for (let i = 0; i < n; i++) {
    refunds.push({ packetId: out.packetIds[i], sender: out.senders[i], cents: out.cents[i], shares: out.shares[i] });
  }
  return refunds;
}

/** created = paid + remaining + refunded, in count and in cents, for both flows; `shakeRefunded` shake
 *  packets were withdrawn (none unless a test withdraws). */
export function assertIdentity(t: ExecutionContext, totals: Totals, label = '', shakeRefunded = 0): void {
  for (const flow of ['shake', 'group'] as const) {
    const f = totals[flow];
    for (const unit of ['count', 'cents'] as const) {
      t.is(
        f.created[unit],
        f.paid[unit] + f.remaining[unit] + f.refunded[unit],
        `${label}${flow}: created ${unit} must equal paid + remaining + refunded (${JSON.stringify(f)})`,
      );
    }
  }
  t.is(totals.shake.refunded.count, shakeRefunded, `${label}shake packets never expire: only withdrawn ones are refunded`);
}

/** Everything observable that a rejected call must leave alone. */
export async function observable(engine: Engine): Promise<unknown> {
  return { totals: await engine.totals(), supply: await engine.supplyState() };
}
