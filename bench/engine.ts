// Engine micro-benchmark: native vs TypeScript side by side in one run, timed by tinybench.
//   npm run bench:engine -- [--repeats 5] [--scale 1]   (--help)
// Workloads: shakes with a supply that lets ~1% hit (the rest miss), and opens of 3-share group
// packets, each at batch sizes 1, 64 and 1024; and the fixed cost of a call (an empty shake batch). Each (workload, batch) is measured `repeats` times
// (each measurement a tinybench run of at least 0.25 s x scale of timed passes over the inputs,
// setup outside the timing), after one warm-up round, alternating the engines so machine noise
// hits both alike; medians are reported.
// Table to stderr, one JSON line to stdout. Exits non-zero if the native engine is not built.
import { Console } from 'node:console';
import { parseOrExit, Flags } from '../src/cli/flags.ts';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Bench } from 'tinybench';
import { TsEngine } from '../src/engine/ts.ts';
import type { Engine, EngineOptions } from '../src/engine/types.ts';

type Kind = 'ts' | 'native';

const args = parseOrExit(
  'bench:engine',
  new Flags('npm run bench:engine -- [flags]', 'Engine micro-benchmark: native vs TypeScript side by side in one run.')
    .int('repeats', 'measurements of every (workload, batch); medians reported', { default: 5, min: 5 })
    .number('scale', 'each measurement is at least 0.25 s x scale of timed work', { default: 1, above: 0 }),
);
const REPEATS = args.repeats;
const SCALE = args.scale;
const SHARDS = 64;
const OPTIONS: EngineOptions = { seed: 42, shards: SHARDS };
const BATCHES = [1, 64, 1024];
const HIT_RATE = 0.01;
/** Inputs of one pass (a measurement repeats passes for at least MIN_SECONDS). */
const SHAKES = 262_144;
const OPENS = 3 * 32_768;

async function loadNative(): Promise<Engine> {
  try {
    const { NativeEngine } = await import('../src/engine/native.ts');
    const engine = await NativeEngine.open(OPTIONS);
    await engine.reset(OPTIONS);
    return engine;
  } catch (error) {
    process.stderr.write(`bench:engine needs the native engine: run \`npm run build:native\` first.\n  (${(error as Error).message})\n`);
    process.exit(1);
  }
}

/** The result if it is a thenable, else undefined. Call sites write `const p = pending(...); if (p) await p;`
 *  so that a synchronous engine pays no microtask per call (an `async` helper would always return a
 *  promise, and awaiting it costs a microtask turn, ~0.1 us, on every call). */
function pending(r: unknown): PromiseLike<unknown> | undefined {
  return r !== null && typeof r === 'object' && typeof (r as PromiseLike<unknown>).then === 'function' ? (r as PromiseLike<unknown>) : undefined;
}

/** Splits `data` into views of `batch` items, built before any timing. */
function views(data: Uint32Array, batch: number): Uint32Array[] {
  const out: Uint32Array[] = [];
  for (let i = 0; i < data.length; i += batch) out.push(data.subarray(i, Math.min(i + batch, data.length)));
  return out;
}

// Inputs, allocated once: random users for shakes; 3 recipients per packet for opens.
const shakeUsers = new Uint32Array(SHAKES);
for (let i = 0; i < SHAKES; i++) shakeUsers[i] = (Math.random() * 0x1_0000_0000) >>> 0;
const PACKETS = OPENS / 3;
const openUsers = new Uint32Array(OPENS);
const openIds = new Uint32Array(OPENS);
for (let k = 0; k < OPENS; k++) {
  // Round r opens recipient r of every packet: consecutive opens hit different packets and shards.
  const r = Math.floor(k / PACKETS);
  const p = k % PACKETS;
  openUsers[k] = 3 * p + r;
  openIds[k] = p + 1;
}
const CREATE_BATCH = 1024;
function createBatch(first: number, n: number) {
  const offsets = new Uint32Array(n + 1);
  const recipients = new Uint32Array(3 * n);
  for (let i = 0; i < n; i++) {
    offsets[i + 1] = 3 * (i + 1);
    for (let r = 0; r < 3; r++) recipients[3 * i + r] = 3 * (first + i) + r;
  }
  return {
    senders: new Uint32Array(n).fill(1),
    totalCents: new Uint32Array(n).fill(300),
    shareCounts: new Uint32Array(n).fill(3),
    recipientOffsets: offsets,
    recipients,
    expiresAt: new Float64Array(n).fill(4_102_444_800_000),
  };
}
const createBatches = Array.from({ length: Math.ceil(PACKETS / CREATE_BATCH) }, (_, b) =>
  createBatch(b * CREATE_BATCH, Math.min(CREATE_BATCH, PACKETS - b * CREATE_BATCH)),
);
const createOut = { status: new Uint8Array(CREATE_BATCH), packetIds: new Uint32Array(CREATE_BATCH) };
const releaseOut = { ids: new Uint32Array(1024), cents: new Uint32Array(1024) };
const shakeOut = { status: new Uint8Array(1024), packetIds: new Uint32Array(1024), cents: new Uint32Array(1024) };
const openOut = { status: new Uint8Array(1024), cents: new Uint32Array(1024) };

// A full collection before each timed section, so garbage from setup (resets, creates) is not
// charged to the engine being timed next. The flag must be set before the context is created.
setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;

/** Timed work per measurement: tinybench repeats a task's pass over its inputs until it reaches it. */
const MIN_SECONDS = 0.25 * SCALE;

/** One measured task: a pass over its inputs (`items` operations), with hooks outside the timing. */
interface Workload {
  /** operations in one pass */
  items: number;
  pass(): Promise<void>;
  /** before the passes of a measurement (not timed) */
  beforeAll?(): Promise<void>;
  /** before every pass (not timed) */
  beforeEach?(): Promise<void>;
  /** after every pass (not timed) */
  afterEach?(): Promise<void>;
}

/** Operations per second of each workload, measured by one tinybench run (in the given order). */
async function measure(tasks: Array<[string, Workload]>): Promise<Map<string, number>> {
  const bench = new Bench({ time: MIN_SECONDS * 1000, iterations: 1, warmup: false, throws: true });
  for (const [name, w] of tasks) {
    bench.add(name, () => w.pass(), {
      async: true,
      beforeAll: async () => {
        await w.beforeAll?.();
        collect();
      },
      beforeEach: w.beforeEach && (() => w.beforeEach?.()),
      afterEach: w.afterEach && (() => w.afterEach?.()),
    });
  }
  await bench.run();
  const out = new Map<string, number>();
  for (const task of bench.tasks) {
    const r = task.result;
    if (r.state !== 'completed') throw new Error(`${task.name}: ${r.state}`);
    const w = tasks.find(([name]) => name === task.name)?.[1];
    if (!w) throw new Error(`no workload named ${task.name}`);
    out.set(task.name, (w.items * 1000) / r.latency.mean); // latency in ms per pass
  }
  return out;
}

/** Shakes with ~1% hits: after each batch the supply releases 1% of the batch's shakes
 *  (accumulated, so batch 1 releases one packet every 100 shakes), as the server's clock would.
 *  `hitRate()` is the share of this measurement's shakes that hit. */
function shakeWorkload(engine: Engine, batches: Uint32Array[]): Workload & { hitRate(): Promise<number> } {
  let credit = 0;
  let shakes = 0;
  return {
    items: SHAKES,
    async beforeAll() {
      await engine.reset(OPTIONS);
      await engine.startSupply({ total: 0xffff_ffff, ratePerSecond: 200, rule: { kind: 'range', min: 1, max: 1_000 } });
      credit = 0;
      shakes = 0;
    },
    async pass() {
      for (const users of batches) {
        credit += users.length * HIT_RATE;
        if (credit >= 1) {
          const n = Math.floor(credit);
          credit -= n;
          const released = pending(engine.releaseSupply(n, releaseOut));
          if (released) await released;
        }
        const p = pending(engine.shake(users, shakeOut));
        if (p) await p;
      }
      shakes += SHAKES;
    },
    async hitRate() {
      return (await engine.totals()).shake.paid.count / shakes;
    },
  };
}

/** Opens of fresh 3-share packets; every pass creates them first, outside the timing, and every
 *  open must pay. */
function openWorkload(engine: Engine, users: Uint32Array[], ids: Uint32Array[]): Workload {
  return {
    items: OPENS,
    async beforeEach() {
      await engine.reset(OPTIONS);
      for (const b of createBatches) await engine.createGroup(b, createOut);
      collect();
    },
    async pass() {
      for (let i = 0; i < users.length; i++) {
        const p = pending(engine.open(users[i], ids[i], 0, openOut));
        if (p) await p;
      }
    },
    async afterEach() {
      const paid = (await engine.totals()).group.paid.count;
      if (paid !== OPENS) throw new Error(`${engine.kind}: expected ${OPENS} paid opens, got ${paid}`);
    },
  };
}

/** Empty shake batches: the fixed cost of a call (argument checks, and for the native engine the
 *  N-API crossing), with no item to process. */
const EMPTY_CALLS = 200_000;
function emptyCalls(engine: Engine): Workload {
  const none = new Uint32Array(0);
  const out = { status: new Uint8Array(0), packetIds: new Uint32Array(0), cents: new Uint32Array(0) };
  return {
    items: EMPTY_CALLS,
    async pass() {
      for (let i = 0; i < EMPTY_CALLS; i++) {
        const p = pending(engine.shake(none, out));
        if (p) await p;
      }
    },
  };
}

/** The two engines in this round's order: alternating, so machine noise hits both alike. */
const order = (round: number): Kind[] => (round % 2 ? ['native', 'ts'] : ['ts', 'native']);

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function main(): Promise<void> {
  const engines: Record<Kind, Engine> = { ts: new TsEngine(OPTIONS), native: await loadNative() };
  const rows: Array<Record<string, string | number>> = [];
  const results: unknown[] = [];
  for (const workload of ['shake', 'open'] as const) {
    for (const batch of BATCHES) {
      const a = views(shakeUsers, batch);
      const u = views(openUsers, batch);
      const ids = views(openIds, batch);
      const shakes = workload === 'shake' ? { ts: shakeWorkload(engines.ts, a), native: shakeWorkload(engines.native, a) } : null;
      const workloads: Record<Kind, Workload> = shakes ?? { ts: openWorkload(engines.ts, u, ids), native: openWorkload(engines.native, u, ids) };
      const runs: Record<Kind, number[]> = { ts: [], native: [] };
      // round 0 warms both up and is not counted
      for (let r = 0; r <= REPEATS; r++) {
        const perSecond = await measure(order(r).map((kind) => [kind, workloads[kind]]));
        if (r > 0) for (const kind of order(r)) runs[kind].push(perSecond.get(kind) ?? NaN);
      }
      const hitRate = shakes ? await shakes.ts.hitRate() : 1; // bit-identical engines: either one's
      const ts = median(runs.ts);
      const native = median(runs.native);
      rows.push({
        workload,
        batch,
        'ts ops/s': Math.round(ts),
        'native ops/s': Math.round(native),
        'native/ts': Number((native / ts).toFixed(2)),
        ...(workload === 'shake' ? { 'hit %': Number((hitRate * 100).toFixed(2)) } : {}),
      });
      results.push({ workload, batch, ts: { median: ts, runs: runs.ts }, native: { median: native, runs: runs.native }, ratio: native / ts });
    }
  }
  const empty: Record<Kind, number[]> = { ts: [], native: [] };
  const emptyWorkloads = { ts: emptyCalls(engines.ts), native: emptyCalls(engines.native) };
  for (let r = 0; r <= REPEATS; r++) {
    const perSecond = await measure(order(r).map((kind) => [kind, emptyWorkloads[kind]]));
    if (r > 0) for (const kind of order(r)) empty[kind].push(1e9 / (perSecond.get(kind) ?? NaN)); // round 0 warms up
  }
  const calls = { ts: median(empty.ts), native: median(empty.native) };
  const table = new Console({ stdout: process.stderr, stderr: process.stderr });
  table.error(
    `engine bench: ${SHARDS} shards, ${REPEATS} repeats (medians), each run >= ${MIN_SECONDS} s timed; shakes at ~${HIT_RATE * 100}% hits (releases included), opens of fresh 3-share packets`,
  );
  table.table(rows);
  table.error(`fixed cost of a call (empty shake batch, median): ts ${calls.ts.toFixed(0)} ns, native ${calls.native.toFixed(0)} ns`);
  process.stdout.write(
    `${JSON.stringify({ bench: 'engine', node: process.version, shards: SHARDS, repeats: REPEATS, results, emptyCallNs: { ts: { median: calls.ts, runs: empty.ts }, native: { median: calls.native, runs: empty.native } } })}\n`,
  );
}

await main();
