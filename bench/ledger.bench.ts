// How many money moves per second the ledger's single writer commits durably (WAL, synchronous=FULL),
// by batch size, with many batches in flight as under load; and the latency of one commit at a time.
// Run: node --import tsx bench/ledger.bench.ts   (a temporary database, removed at the end)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLedger } from '../src/ledger/sqlite-ledger.ts';

const dir = mkdtempSync(join(tmpdir(), 'hongbao-ledger-bench-'));
const ledger = await openLedger(join(dir, 'bench.db'));
const PER_ROUND = 60_000;
const SIZES = [1, 10, 100];
const total = PER_ROUND * SIZES.length + 1_000;
try {
  await ledger.commit({ supplyStart: { total, ratePerSecond: 200, rule: { kind: 'range', min: 1, max: 500 }, at: Date.now() } });
  for (let i = 0; i < total; i += 10_000) {
    const n = Math.min(10_000, total - i);
    await ledger.commit({
      release: { count: n, ids: Uint32Array.from({ length: n }, (_, k) => i + k + 1), cents: new Uint32Array(n).fill(7), at: Date.now() },
    });
  }
  const rows: Array<Record<string, string | number>> = [];
  let next = 1;
  for (const per of SIZES) {
    const batches = PER_ROUND / per;
    const before = ledger.health();
    const started = performance.now();
    let inFlight: Array<Promise<void>> = [];
    for (let b = 0; b < batches; b++) {
      const ids = Uint32Array.from({ length: per }, () => next++);
      inFlight.push(ledger.commit({ hits: { count: per, users: ids, packetIds: ids, cents: new Uint32Array(per).fill(7), at: Date.now() } }));
      if (inFlight.length >= 1_000) {
        await Promise.all(inFlight);
        inFlight = [];
      }
    }
    await Promise.all(inFlight);
    const ms = performance.now() - started;
    const after = ledger.health();
    rows.push({
      'hits per batch': per,
      'hits/s': Math.round((PER_ROUND / ms) * 1000),
      'batches/s': Math.round((batches / ms) * 1000),
      transactions: after.commits - before.commits,
    });
  }
  const latencies: number[] = [];
  for (let i = 0; i < 500; i++) {
    const started = performance.now();
    await ledger.commit({ hits: { count: 1, users: Uint32Array.of(next), packetIds: Uint32Array.of(next++), cents: Uint32Array.of(7), at: Date.now() } });
    latencies.push(performance.now() - started);
  }
  latencies.sort((a, b) => a - b);
  console.table(rows);
  console.log(`one commit at a time (includes the fsync): p50 ${latencies[250].toFixed(2)} ms, p99 ${latencies[495].toFixed(2)} ms`);
} finally {
  await ledger.close();
  rmSync(dir, { recursive: true, force: true });
}
