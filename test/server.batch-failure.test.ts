// A batch whose run throws after the engine moved money (a ledger that throws instead of rejecting,
// a reply that throws) ends like a failed commit: the gate closes (so the main thread rebuilds the
// engine from the ledger and the move is undone), what the batch owed is answered Unavailable, and
// the batcher goes idle. Before, such a throw was only logged: the hit was never answered, never
// committed, and the gate stayed open.
import test from 'ava';
import { testBatcher } from './helpers/batcher.ts';
import { TsEngine } from '../src/engine/ts.ts';
import { ShakeStatus } from '../src/engine/types.ts';
import type { Ledger } from '../src/ledger/types.ts';
import { CommonStatus } from '../src/protocol/codes.ts';
import { MoveGate } from '../src/server/gate.ts';
import type { Replier } from '../src/server/replier.ts';

class Answers implements Replier {
  readonly shakes: Array<{ requestId: number; status: number }> = [];
  constructor(private readonly throwOnMiss = false) {}
  shakeResult(requestId: number, status: number): void {
    this.shakes.push({ requestId, status });
    if (this.throwOnMiss && status === ShakeStatus.Miss) throw new Error('a reply broke');
  }
  openResult(): void {}
  createResult(): void {}
  detailsResult(): void {}
}

/** A batcher over a TS engine with one shard holding one released packet: the first shake hits. */
function setup(ledger: Ledger) {
  const engine = new TsEngine({ shards: 1, seed: 1 });
  engine.startSupply({ total: 10, ratePerSecond: 1, rule: { kind: 'list', values: [7] } });
  engine.releaseSupply(1, { ids: new Uint32Array(1), cents: new Uint32Array(1) });
  const failures: unknown[] = [];
  const gate = new MoveGate((err) => failures.push(err));
  const logs: string[] = [];
  const batcher = testBatcher(engine, ledger, { gate, log: (m) => logs.push(m) });
  return { batcher, gate, failures, logs };
}

const fine = { commit: async () => undefined, barrier: async () => undefined } as unknown as Ledger;

test('a ledger that throws at once: the hit is answered Unavailable and the gate closes', async (t) => {
  const throwing = {
    commit: () => {
      throw new Error('writer gone');
    },
    barrier: async () => undefined,
  } as unknown as Ledger;
  const { batcher, gate, failures } = setup(throwing);
  const a = new Answers();
  batcher.shake(a, 1, 5); // hits the one packet
  batcher.shake(a, 2, 6); // misses
  await batcher.idle();
  t.deepEqual(
    a.shakes.sort((x, y) => x.requestId - y.requestId),
    [
      { requestId: 1, status: CommonStatus.Unavailable },
      { requestId: 2, status: ShakeStatus.Miss },
    ],
    'the miss is answered Miss, the uncommitted hit Unavailable',
  );
  t.is(gate.state, 'degraded', 'no more money moves until the engine is rebuilt');
  t.is(failures.length, 1, 'the main thread is told once');
});

test('a reply that throws after a hit was taken: the hit is answered Unavailable, the gate closes, the batcher goes idle', async (t) => {
  const { batcher, gate, failures, logs } = setup(fine);
  const a = new Answers(true);
  batcher.shake(a, 1, 5); // the hit, waiting for its commit
  batcher.shake(a, 2, 6); // the miss, whose reply throws
  await batcher.idle();
  t.deepEqual(
    a.shakes.filter((x) => x.requestId === 1),
    [{ requestId: 1, status: CommonStatus.Unavailable }],
    'the hit was not told as a hit: it is answered Unavailable',
  );
  t.is(gate.state, 'degraded', 'the gate closed');
  t.is(failures.length, 1, 'the main thread is told once');
  t.true(
    logs.some((l) => l.includes('a reply broke')),
    'the log says why',
  );
  batcher.shake(new Answers(), 3, 7);
  await batcher.idle();
  t.pass('a later batch is still taken (answered Unavailable by the closed gate)');
});

test('a throw in a batch that moved nothing leaves the gate open', async (t) => {
  const { batcher, gate, failures } = setup(fine);
  batcher.details(
    {
      ...new Answers(),
      detailsResult: () => {
        throw new Error('details reply broke');
      },
    } as unknown as Replier,
    1,
    99,
  );
  await batcher.idle();
  t.is(gate.state, 'healthy', 'nothing moved, nothing to undo');
  t.is(failures.length, 0, 'the main thread is not told');
});
