// A Batcher over a test's engine and ledger, with the rest of its dependencies quiet defaults.
import type { Engine } from '../../src/engine/types.ts';
import type { Ledger } from '../../src/ledger/types.ts';
import { Batcher, type BatcherDeps } from '../../src/server/batch/batcher.ts';
import { newControl, newCounters, ShakeCeiling } from '../../src/server/counters.ts';
import { MoveGate } from '../../src/server/gate.ts';

export function testBatcher(engine: Engine, ledger: Ledger, deps: Partial<BatcherDeps> = {}): Batcher {
  return new Batcher({
    engine,
    ledger,
    counters: newCounters(),
    ceiling: new ShakeCeiling(newControl(), 0),
    gate: new MoveGate(() => undefined),
    covers: new Map(),
    splitMode: 0,
    packetTtlMs: 1000,
    onCreated: () => undefined,
    log: () => undefined,
    ...deps,
  });
}
