// A run whose engine answers later (a cluster node's hits and opens wait for Redis) no longer holds
// back the turns behind it: they run in other lanes meanwhile, up to MAX_LANES at once, and past
// that they wait for a lane without losing anything. What is paid is still told only once the
// ledger has it.
import test from 'ava';
import { testBatcher } from './helpers/batcher.ts';
import { TsEngine } from '../src/engine/ts.ts';
import { type Engine, type OpenOut, type ShakeOut, ShakeStatus } from '../src/engine/types.ts';
import type { Ledger, LedgerBatch } from '../src/ledger/types.ts';
import { MAX_LANES } from '../src/server/batch/batcher.ts';
import { C, newCounters } from '../src/server/counters.ts';
import type { Replier } from '../src/server/replier.ts';

/** The TS engine, but its hits and opens are answered only when the test lets them go. */
function lateEngine() {
  const engine = new TsEngine({ shards: 1, seed: 1 });
  const waiting: Array<() => void> = [];
  const later = () => new Promise<void>((resolve) => waiting.push(resolve));
  const shake = engine.shake.bind(engine);
  const open = engine.open.bind(engine);
  Object.assign(engine, {
    shake(users: Uint32Array, out: ShakeOut) {
      shake(users, out);
      for (let i = 0; i < users.length; i++) if (out.status[i] === ShakeStatus.Hit) return later();
      return undefined;
    },
    open(users: Uint32Array, packetIds: Uint32Array, nowMs: number, out: OpenOut) {
      open(users, packetIds, nowMs, out);
      return later();
    },
  });
  return { engine: engine as Engine, waiting, release: () => waiting.shift()?.() };
}

class Answers implements Replier {
  readonly got: Array<{ kind: string; requestId: number; status: number; cents: number }> = [];
  shakeResult(requestId: number, status: number, _p: number, cents: number): void {
    this.got.push({ kind: 'shake', requestId, status, cents });
  }
  openResult(requestId: number, status: number): void {
    this.got.push({ kind: 'open', requestId, status, cents: 0 });
  }
  createResult(): void {}
  detailsResult(): void {}
  has(requestId: number): boolean {
    return this.got.some((g) => g.requestId === requestId);
  }
}

const turn = () => new Promise((r) => setImmediate(r));

/** With `packets` released: the first shakes hit them. */
function setup(packets: number) {
  const { engine, waiting, release } = lateEngine();
  engine.startSupply({ total: 10, ratePerSecond: 1, rule: { kind: 'list', values: [7] } });
  if (packets > 0) engine.releaseSupply(packets, { ids: new Uint32Array(packets), cents: new Uint32Array(packets) });
  const committed: LedgerBatch[] = [];
  const ledger = {
    commit: async (b: LedgerBatch) => {
      committed.push(b);
    },
    barrier: async () => undefined,
  } as unknown as Ledger;
  const counters = newCounters();
  return { waiting, release, committed, counters, batcher: testBatcher(engine, ledger, { counters }) };
}

test('a hit waiting on its engine does not hold back the misses of the turns behind it', async (t) => {
  const { waiting, release, committed, batcher } = setup(1);
  const a = new Answers();
  batcher.shake(a, 1, 5); // takes the one packet: its engine answers later
  await turn();
  t.is(waiting.length, 1, 'the hit waits on the engine');
  batcher.shake(a, 2, 6);
  batcher.shake(a, 3, 7);
  await turn();
  t.deepEqual(
    a.got.map((g) => [g.requestId, g.status]),
    [
      [2, ShakeStatus.Miss],
      [3, ShakeStatus.Miss],
    ],
    'the later misses are answered while the hit waits',
  );
  t.is(committed.length, 0, 'nothing is committed before the engine answered');
  release();
  await batcher.idle();
  t.deepEqual(a.got.at(-1), { kind: 'shake', requestId: 1, status: ShakeStatus.Hit, cents: 7 }, 'then the hit, with its amount');
  t.is(committed.length, 1, 'committed once');
  t.is(committed[0].hits?.count, 1, 'one hit in the ledger');
  t.is(committed[0].hits?.cents[0], 7, 'of 7 cents');
});

test('with every lane waiting, the next turn waits for one; then every request is answered once', async (t) => {
  const { waiting, release, counters, batcher } = setup(0);
  const a = new Answers();
  for (let i = 1; i <= MAX_LANES; i++) {
    batcher.open(a, i, 100 + i, 999); // no such packet: answered once the engine says so
    await turn();
  }
  t.is(batcher.runs, MAX_LANES, `${MAX_LANES} runs wait on the engine at once`);
  batcher.shake(a, 50, 6); // nothing released: a miss
  await turn();
  await turn();
  t.false(a.has(50), 'no lane is free: the shake waits');
  batcher.shake(a, 51, 7);
  await turn();
  t.is(counters[C.laneWaits], 1, 'the turn kept waiting is counted once');
  release();
  await turn();
  await turn();
  t.true(a.has(50) && a.has(51), 'a lane freed: the shakes are answered');
  while (waiting.length > 0) release();
  await batcher.idle();
  t.is(batcher.runs, 0, 'every lane is free again');
  const ids = a.got.map((g) => g.requestId).sort((x, y) => x - y);
  t.deepEqual(ids, [...Array.from({ length: MAX_LANES }, (_, i) => i + 1), 50, 51], 'every request answered exactly once');
  t.true(
    a.got.filter((g) => g.kind === 'open').every((g) => g.status !== 0),
    'the opens of a packet that does not exist are refused',
  );
});
