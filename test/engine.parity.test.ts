// Parity of the two engines. One process runs one engine, so parity is a golden vector: a fixed script
// with seed 42 whose full output (statuses, ids, cents, details, totals) is hashed and compared with
// constants computed by the TypeScript engine. The native engine must produce the same hashes.
// On a mismatch the section's output is written to the temp directory, to diff against the other engine.
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { SplitMode, type Engine } from '../src/engine/index.ts';
import { Rng } from '../src/engine/rng.ts';
import { adopt, create, draw, engineUnderTest, expire, open, release, shake, split, withdraw, type GroupSpec } from './helpers/engine.ts';

let engine: Engine;
const SEED = 42;
const SHARDS = 8;

test.before(async () => {
  engine = await engineUnderTest({ seed: SEED, shards: SHARDS });
});

/** JSON with object keys sorted, so the engines' property order does not matter. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

const range = (n: number, from = 0): number[] => Array.from({ length: n }, (_, i) => from + i);

async function shakeSection(): Promise<unknown[]> {
  await engine.reset({ seed: SEED, shards: SHARDS });
  const log: unknown[] = [];
  await engine.startSupply({ total: 100, ratePerSecond: 50, rule: { kind: 'range', min: 1, max: 10_000 } });
  log.push(await release(engine, 30));
  log.push(await shake(engine, range(40, 1_000)));
  await engine.startSupply({ total: 25, ratePerSecond: 5, rule: { kind: 'list', values: [88, 188, 888, 1888, 8888] } });
  log.push(await release(engine, 20));
  log.push(await shake(engine, [0xffff_ffff, 7, 15, 23, 31, 0, 8, 16, ...range(20, 300)]));
  log.push(await release(engine, 20));
  await engine.stopSupply();
  log.push(await release(engine, 5));
  log.push(await engine.supplyState());
  await engine.startSupply({ total: 1_000, ratePerSecond: 1_000, rule: { kind: 'range', min: 1, max: 100_000_000 } });
  log.push(await release(engine, 1_000));
  log.push(await shake(engine, range(500, 77)));
  log.push(await engine.totals());
  return log;
}

async function groupSection(splitMode: SplitMode): Promise<unknown[]> {
  await engine.reset({ seed: SEED, shards: SHARDS, splitMode });
  const log: unknown[] = [];
  const big = range(1_000, 10_000);
  const specs: GroupSpec[] = [
    { sender: 1, total: 1_000, shares: 5, recipients: range(5, 100), expiresAt: 5_000 },
    { sender: 2, total: 3, shares: 5, recipients: range(5, 100) }, // TotalBelowShares
    { sender: 3, total: 100_000_000, shares: 1_000, recipients: big, expiresAt: 9_000 },
    { sender: 4, total: 1_200, shares: 1_000, recipients: big }, // Floyd collisions in line segment
    { sender: 5, total: 7, shares: 7, recipients: range(7, 200), expiresAt: 2_000 },
    { sender: 6, total: 99_999, shares: 3, recipients: [9, 8, 7, 6], expiresAt: 3_000 },
    { sender: 7, total: 10, shares: 1, recipients: [1] },
    { sender: 8, total: 0, shares: 1, recipients: [1] }, // BadTotal
    { sender: 9, total: 5_000, shares: 2, recipients: [3, 3] }, // BadRecipients
  ];
  for (let k = 0; k < 30; k++)
    specs.push({ sender: 20 + k, total: 500 + 37 * k, shares: 1 + (k % 6), recipients: range(6, 50 + k), expiresAt: 1_000 * (k % 7) + 500 });
  log.push(await create(engine, specs));
  // Interleaved opens across packets, with repeats, strangers, unknown ids and an expired packet.
  const pairs: Array<[number, number]> = [];
  for (let r = 0; r < 6; r++) {
    for (let id = 1; id <= 37; id++) pairs.push([50 + id - 6 + r, id]);
    pairs.push([100 + r, 1], [9 - r, 5], [200 + r, 4], [r, 999]);
  }
  log.push(await open(engine, pairs, 1_000));
  log.push(
    await open(
      engine,
      big.slice(0, 700).map((u) => [u, 2] as [number, number]),
      1_500,
    ),
  );
  log.push(
    await open(
      engine,
      big.map((u) => [u, 3] as [number, number]),
      1_500,
    ),
  );
  log.push(await expire(engine, 2_500, 4, [6, 36, 12345]));
  log.push(await open(engine, [...range(7, 200).map((u) => [u, 4] as [number, number]), [6, 5], [9, 5], [100, 1]], 2_600));
  log.push(await expire(engine, 10_000, 64));
  log.push(
    await open(
      engine,
      big.slice(650, 720).map((u) => [u, 2] as [number, number]),
      10_000,
    ),
  );
  for (let id = 0; id <= 38; id++) log.push(await engine.details(id));
  log.push(await engine.totals());
  return log;
}

async function restoreSection(splitMode: SplitMode): Promise<unknown[]> {
  await engine.reset({ seed: SEED, shards: SHARDS, splitMode });
  const log: unknown[] = [];
  const other = splitMode === SplitMode.DoubleMean ? SplitMode.LineSegment : SplitMode.DoubleMean;
  await engine.snapshotRestore({
    nextShakeId: 51,
    nextGroupId: 20,
    supply: { total: 200, ratePerSecond: 10, released: 50, rule: { kind: 'range', min: 100, max: 2_000 }, active: true },
    shake: {
      createdCount: 50,
      createdCents: 20_000,
      paidCount: 45,
      paidCents: 18_000,
      unpaidIds: [41, 46, 47, 49, 50],
      unpaidCents: [400, 400, 400, 400, 400],
    },
    groups: [
      {
        id: 17,
        sender: 5,
        totalCents: 10_000,
        shareCount: 6,
        splitMode,
        recipients: range(8, 1),
        expiresAt: 50_000,
        opened: [
          { user: 3, cents: 2_500 },
          { user: 1, cents: 100 },
        ],
        expired: false,
        refundedCents: 0,
      },
      {
        id: 4,
        sender: 6,
        totalCents: 500,
        shareCount: 3,
        splitMode: other,
        recipients: [1, 2, 3],
        expiresAt: 50_000,
        opened: [],
        expired: false,
        refundedCents: 0,
      },
      {
        id: 9,
        sender: 7,
        totalCents: 900,
        shareCount: 4,
        splitMode,
        recipients: [1, 2, 3, 4],
        expiresAt: 100,
        opened: [{ user: 4, cents: 10 }],
        expired: true,
        refundedCents: 890,
      },
      {
        id: 12,
        sender: 8,
        totalCents: 77_777,
        shareCount: 40,
        splitMode,
        recipients: range(40, 500),
        expiresAt: 60_000,
        opened: [{ user: 510, cents: 7 }],
        expired: false,
        refundedCents: 0,
      },
      { id: 19, sender: 9, totalCents: 60, shareCount: 2, splitMode, recipients: [1, 2], expiresAt: 100, opened: [], expired: false, refundedCents: 0 },
    ],
  });
  log.push(await engine.totals());
  log.push(await shake(engine, range(16)));
  log.push(await release(engine, 12));
  log.push(await shake(engine, range(16)));
  log.push(await open(engine, [...range(8, 1).map((u) => [u, 17] as [number, number]), [1, 4], [2, 4], [3, 4], [1, 9], [4, 9], [1, 19]], 1_000));
  log.push(
    await open(
      engine,
      range(40, 500).map((u) => [u, 12] as [number, number]),
      1_000,
    ),
  );
  log.push(await create(engine, [{ sender: 1, total: 321, shares: 3, recipients: [1, 2, 3] }]));
  log.push(
    await open(
      engine,
      [
        [3, 20],
        [2, 20],
        [1, 20],
      ],
      1_000,
    ),
  );
  log.push(await expire(engine, 1_000, 16));
  for (const id of [4, 9, 12, 17, 19, 20]) log.push(await engine.details(id));
  log.push(await engine.totals());
  return log;
}

/** Eviction: which packets go, what opens, details and sweeps answer afterwards, and a restore's
 *  expired packets evicted in turn. */
async function evictSection(): Promise<unknown[]> {
  await engine.reset({ seed: SEED, shards: SHARDS });
  const log: unknown[] = [];
  const specs: GroupSpec[] = [];
  for (let k = 0; k < 40; k++)
    specs.push({ sender: 1 + k, total: 100 + k, shares: 1 + (k % 3), recipients: range(3, 10 * k), expiresAt: 1_000 + 250 * (k % 9) });
  log.push(await create(engine, specs));
  log.push(
    await open(
      engine,
      range(40, 1).map((id) => [10 * (id - 1), id] as [number, number]),
      500,
    ),
  );
  log.push(await expire(engine, 2_000, 64, [38, 39]));
  log.push(await engine.evict(999), await engine.evict(1_500), await engine.evict(1_500));
  const late = range(40, 1).flatMap(
    (id) =>
      [
        [10 * (id - 1), id],
        [10 * (id - 1) + 2, id],
        [7, id],
      ] as Array<[number, number]>,
  );
  log.push(await open(engine, [...late, [1, 41], [1, 0]], 2_100));
  for (let id = 0; id <= 41; id++) log.push(await engine.details(id));
  log.push(await expire(engine, 2_100, 64, [1, 2, 3, 40]));
  log.push(await engine.evict(5_000), await engine.evict(-Infinity));
  log.push(await open(engine, late, 5_000));
  log.push(await engine.totals());
  await engine.snapshotRestore({
    nextShakeId: 1,
    nextGroupId: 30,
    supply: null,
    shake: { createdCount: 0, createdCents: 0, paidCount: 0, paidCents: 0, unpaidIds: [], unpaidCents: [] },
    groups: [
      {
        id: 3,
        sender: 5,
        totalCents: 900,
        shareCount: 2,
        splitMode: SplitMode.DoubleMean,
        recipients: [1, 2],
        expiresAt: 100,
        opened: [{ user: 2, cents: 400 }],
        expired: true,
        refundedCents: 500,
      },
      {
        id: 11,
        sender: 6,
        totalCents: 50,
        shareCount: 1,
        splitMode: SplitMode.DoubleMean,
        recipients: [1],
        expiresAt: 100,
        opened: [],
        expired: false,
        refundedCents: 0,
      },
      {
        id: 29,
        sender: 7,
        totalCents: 70,
        shareCount: 2,
        splitMode: SplitMode.LineSegment,
        recipients: [1, 2],
        expiresAt: 9_000,
        opened: [],
        expired: true,
        refundedCents: 70,
      },
    ],
  });
  log.push(await engine.evict(1_000));
  log.push(
    await open(
      engine,
      [
        [2, 3],
        [1, 11],
        [1, 29],
        [1, 19],
      ],
      1_000,
    ),
  );
  log.push(await engine.totals());
  return log;
}

/** Cluster mode: amounts drawn without a supply, leased packets adopted among released ones, shaken and
 *  withdrawn, and whole splits of packets of every shard between creates and opens on the same streams. */
async function clusterSection(splitMode: SplitMode): Promise<unknown[]> {
  await engine.reset({ seed: SEED, shards: SHARDS, splitMode });
  const log: unknown[] = [];
  log.push(await draw(engine, { kind: 'range', min: 1, max: 100_000_000 }, 64));
  log.push(await draw(engine, { kind: 'list', values: [88, 188, 888, 1888, 8888] }, 40));
  log.push(await draw(engine, { kind: 'range', min: 5, max: 5 }, 3)); // one value: no draw
  await engine.startSupply({ total: 60, ratePerSecond: 10, rule: { kind: 'range', min: 1, max: 10_000 } });
  log.push(await release(engine, 13));
  const leased = range(30, 1_000_000);
  await adopt(
    engine,
    leased,
    leased.map((id) => 1 + ((id * 7919) % 100_000)),
  );
  log.push(await release(engine, 5));
  log.push(await shake(engine, range(20, 3)));
  log.push(await withdraw(engine, 9));
  log.push(await engine.totals());
  log.push(await withdraw(engine, 100));
  log.push(await draw(engine, { kind: 'range', min: 1, max: 10_000 }, 7));
  log.push(await release(engine, 10));
  log.push(await shake(engine, range(12, 0)));
  // Ids of every shard in a scrambled order, Floyd collisions (1,200 cents in 1,000 shares), the largest packet.
  log.push(
    await split(engine, [
      [17, 1_000, 5],
      [3, 7, 7],
      [8, 100_000_000, 1_000],
      [25, 99, 1],
      [1, 1_200, 1_000],
      [9, 5_000, 3],
      [2, 100_000_000, 2],
      [16, 333, 4],
      [40, 2, 2],
      [0xffff_ffff, 77_777, 40],
    ]),
  );
  const { ids } = await create(engine, [
    { total: 1_000, shares: 5, recipients: range(5, 1) },
    { total: 500, shares: 3, recipients: range(3, 1) },
    { total: 9_999, shares: 8, recipients: range(8, 1) },
  ]);
  log.push(ids);
  log.push(
    await split(engine, [
      [ids[0] + SHARDS, 1_000, 5],
      [ids[2], 9_999, 8],
    ]),
  );
  for (const [k, id] of ids.entries())
    log.push(
      await open(
        engine,
        range([5, 3, 8][k], 1).map((u) => [u, id] as [number, number]),
      ),
    );
  log.push(await engine.totals());
  return log;
}

/** sha256 of the canonical JSON of each section, computed with the TypeScript engine. */
const GOLDEN: Record<string, string> = {
  shake: 'bdc8ee35bd094fa99a46146ea75d96930b890f2c7d81717ececde1a392821af2',
  'group double mean': '8d74d71517f111b76388aa96c5cefd5d726daceba37975a843f1b0743aefb08f',
  'group line segment': '11372917a7d6d3c44fac9f8e8ac529e805809848751c0c5c46ae9afb7caafe41',
  'restore double mean': 'd925d1ec2707b7c6ab7fff65bd0730bf73c4994b45f5c6436e3ac68f816e9aa5',
  'restore line segment': 'adfa8fcb2ec36f7e9c40349360ee2eaefa02a0458fc3691304c815a539e725e6',
  evict: '16ec605d4d6e8ee8b563fc461e9213c2f98345f957aad9521d7bcb1582020bfa',
  'cluster double mean': '03ed783116cb1e370d9c11862f9ce076e3ab3accb3b4db52f67e4a53b71de10e',
  'cluster line segment': '20e34d591198f1dfc9dfc107b083105bd12464950ed472fb404c41e0508f544e',
};

const SECTIONS: Record<string, () => Promise<unknown[]>> = {
  shake: shakeSection,
  'group double mean': () => groupSection(SplitMode.DoubleMean),
  'group line segment': () => groupSection(SplitMode.LineSegment),
  'restore double mean': () => restoreSection(SplitMode.DoubleMean),
  'restore line segment': () => restoreSection(SplitMode.LineSegment),
  evict: evictSection,
  'cluster double mean': () => clusterSection(SplitMode.DoubleMean),
  'cluster line segment': () => clusterSection(SplitMode.LineSegment),
};

for (const [name, run] of Object.entries(SECTIONS)) {
  test.serial(`seed 42 golden vector: ${name}`, async (t) => {
    const text = canonical(await run());
    const hash = sha256(text);
    if (hash !== GOLDEN[name]) {
      const file = join(tmpdir(), `hongbao-parity-${engine.kind}-${name.replaceAll(' ', '-')}.json`);
      writeFileSync(file, text);
      t.log(`output written to ${file}`);
    }
    t.is(hash, GOLDEN[name], `${engine.kind} engine output of "${name}" must hash to the golden value (output in the temp directory)`);
  });
}

test.serial('TS rng: first five outputs of stream 0 with seed 42', (t) => {
  // Also printed by an independent C implementation of xoshiro128** + splitmix32 and by native/core's test.
  const rng = new Rng(SEED, 0);
  t.deepEqual(
    range(5).map(() => rng.next()),
    [2837322924, 544945897, 479756282, 3500138142, 339756180],
    'stream 0 of seed 42',
  );
  const stream1 = new Rng(SEED, 1);
  t.deepEqual(
    range(5).map(() => stream1.next()),
    [122309849, 1585491957, 2807436965, 2817732437, 3741199075],
    'stream 1 of seed 42',
  );
});

test.serial('TS rng: uniform takes no draw for one value and rejects draws at or above the limit', (t) => {
  const a = new Rng(SEED, 3);
  const b = new Rng(SEED, 3);
  t.is(a.uniform(5, 5), 5, 'a range of one value returns it');
  t.is(a.next(), b.next(), 'and takes no draw');
  // m = 2^31 + 1: limit = 2^32 - (2^32 mod m) = 2^31 + 1, so draws >= 2^31 + 1 are rejected.
  const m = 2 ** 31 + 1;
  const value = a.uniform(0, 2 ** 31);
  let x = b.next();
  while (x >= m) x = b.next();
  t.is(value, x, 'the first draw below the limit is taken, reduced mod m');
  t.is(a.next(), b.next(), 'both consumed the same draws');
  t.is(new Rng(9, 0).uniform(0, 0xffff_ffff), new Rng(9, 0).next(), 'the full 32-bit range accepts every draw');
});
