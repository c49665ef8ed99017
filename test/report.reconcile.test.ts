// The reconciliation names every difference between the ledger and the clients, to the cent.
import test from 'ava';
import { reconcile, type ReconcileInput } from '../src/report/reconcile.ts';
import type { CheckReport } from '../src/ledger/check.ts';
import type { FinalTally } from '../src/simulator/tally.ts';
import { zeroCounters } from '../src/simulator/tally.ts';
import { summaryTable } from '../src/report/summary-table.ts';
import { moneyFrom, type RehearsalReport } from '../src/report/report-json.ts';
import { present } from './helpers/present.ts';

const cc = (count: number, cents: number) => ({ count, cents });

function check(): CheckReport {
  return {
    db: 'test.db',
    ok: true,
    shake: { created: cc(3, 600), paid: cc(2, 300), remaining: cc(1, 300), refunded: cc(0, 0), balanced: true },
    group: { created: cc(3, 1000), paid: cc(2, 700), remaining: cc(0, 0), refunded: cc(1, 300), balanced: true },
    groupPackets: 1,
    supplies: 1,
    differences: [],
  };
}

function tally(hits: Array<[number, number, number]>, shares: Array<[number, number, number]>): FinalTally {
  const counters = zeroCounters();
  counters.hits = hits.length;
  counters.hitCents = hits.reduce((s, h) => s + h[2], 0);
  counters.opens = shares.length;
  counters.openCents = shares.reduce((s, h) => s + h[2], 0);
  return {
    id: 'c',
    users: { from: 1, to: 10, total: 10 },
    startedAt: 0,
    endedAt: 0,
    counters,
    latency: { count: 0, p50Ms: 0, p90Ms: 0, p99Ms: 0, p999Ms: 0, maxMs: 0, histogram: '' },
    openLatency: { count: 0, p50Ms: 0, p90Ms: 0, p99Ms: 0, p999Ms: 0, maxMs: 0 },
    shake: { received: cc(counters.hits, counters.hitCents), packets: hits },
    group: { notified: [[7, 1000, 3]], received: cc(counters.opens, counters.openCents), shares },
  };
}

function input(tallies: FinalTally[]): ReconcileInput {
  return {
    check: check(),
    items: {
      hits: [
        [1, 4, 100],
        [2, 5, 200],
      ],
      shares: [
        [7, 1, 400],
        [7, 2, 300],
      ],
      packets: [[7, 1000, 3]],
    },
    serverTotals: {
      shake: { created: cc(3, 600), paid: cc(2, 300), remaining: cc(1, 300), refunded: cc(0, 0) },
      group: { created: cc(3, 1000), paid: cc(2, 700), remaining: cc(0, 0), refunded: cc(1, 300) },
      groupPackets: 1,
    },
    tallies,
  };
}

/** One client that received every hit and share of input()'s ledger. */
const everything = () =>
  tally(
    [
      [1, 4, 100],
      [2, 5, 200],
    ],
    [
      [7, 1, 400],
      [7, 2, 300],
    ],
  );
/** The same client without hit 2 (packet 2, user 5, 200 cents). */
const withoutHit2 = () =>
  tally(
    [[1, 4, 100]],
    [
      [7, 1, 400],
      [7, 2, 300],
    ],
  );

test('matching ledger, server and clients (split over two processes) reconcile', (t) => {
  const r = reconcile(input([tally([[1, 4, 100]], [[7, 1, 400]]), tally([[2, 5, 200]], [[7, 2, 300]])]));
  t.true(r.ok, r.differences.join('; '));
  t.deepEqual(r.group.clients.unclaimed, cc(1, 300), 'notified minus received = the refunded share');
});

test('one cent of difference fails and is named with the packet and the user', (t) => {
  const r = reconcile(
    input([
      tally(
        [
          [1, 4, 100],
          [2, 5, 199],
        ],
        [
          [7, 1, 400],
          [7, 2, 300],
        ],
      ),
    ]),
  );
  t.false(r.ok, 'one cent short fails');
  t.false(r.shake.ok, 'the shake flow is marked');
  t.true(r.group.ok, 'the group flow is not');
  t.true(
    r.differences.some((d) => d.includes('ledger paid 2 packets / 300 cents, the clients tallied 2 packets / 299 cents')),
    `flow difference named: ${r.differences.join(' | ')}`,
  );
  t.true(
    r.differences.some((d) => d.includes('shake packet 2 won by user 5: 200 cents in the ledger, the client received 199')),
    `item named: ${r.differences.join(' | ')}`,
  );
});

test('a share the ledger never paid, and one no client saw, are both named', (t) => {
  const r = reconcile(
    input([
      tally(
        [
          [1, 4, 100],
          [2, 5, 200],
        ],
        [
          [7, 1, 400],
          [7, 3, 300],
        ],
      ),
    ]),
  );
  t.false(r.ok);
  t.true(
    r.differences.some((d) => d.includes('group packet 7 share of user 2: 300 cents in the ledger, no client received it')),
    r.differences.join(' | '),
  );
  t.true(
    r.differences.some((d) => d.includes('group packet 7 share of user 3: a client received 300 cents the ledger never paid')),
    r.differences.join(' | '),
  );
});

test('the server engine disagreeing with its own ledger fails too', (t) => {
  const i = input([everything()]);
  present(i.serverTotals, 'the server totals').group.refunded = cc(1, 299);
  const r = reconcile(i);
  t.false(r.ok);
  t.true(
    r.differences.some((d) => d.startsWith('group refunded: the ledger has 1 shares / 300 cents, the server')),
    r.differences.join(' | '),
  );
});

test('the summary table shows phases, money by source and the verdict', (t) => {
  const r = reconcile(
    input([
      tally(
        [
          [1, 4, 100],
          [2, 5, 199],
        ],
        [
          [7, 1, 400],
          [7, 2, 300],
        ],
      ),
    ]),
  );
  const report = {
    ok: false,
    engine: 'ts',
    threads: 1,
    nodes: 1,
    store: 'sqlite',
    users: 10,
    clientProcesses: 1,
    startedAt: '',
    durationSeconds: 1,
    config: {},
    connections: { peak: 10, connectSeconds: 1, perSecond: 10, disconnects: 0 },
    perNode: [],
    memory: {
      classes: {
        nodes: { processes: 1, peakMiB: 100, largestMiB: 100, bytesPerConnection: 1000 },
        clients: { processes: 1, peakMiB: 10, largestMiB: 10, bytesPerConnection: 100 },
        redis: { processes: 0, peakMiB: 0, largestMiB: 0, bytesPerConnection: null },
        monitor: { processes: 1, peakMiB: 50, largestMiB: 50, bytesPerConnection: null },
      },
      slab: { startMiB: 100, peakMiB: 101, growthMiB: 1, bytesPerConnection: 8000 },
      machine: { startMiB: 1000, peakMiB: 1200, totalMiB: 24000 },
      samples: 1,
    },
    phases: [],
    otherProcesses: [{ pid: 1, name: 'init', cpuSeconds: 12, cores: 0.5 }],
    ...moneyFrom(r),
    latency: { count: 0, p50Ms: 0, p90Ms: 0, p99Ms: 0, p999Ms: 0, maxMs: 0 },
    clientCounters: zeroCounters(),
    reconciliation: r,
    monitor: { rows: 0, late: 0, rejected: 0 },
    files: {},
    problems: [],
  } satisfies RehearsalReport;
  const text = summaryTable(report);
  t.regex(text, /shake \(packets\)\s+ledger\s+3 \/ 600\s+2 \/ 300/, 'ledger row');
  t.regex(text, /clients\s+-\s+2 \/ 299/, 'client row');
  t.regex(text, /FAILED:\n {2}- shake received/, 'the verdict names the difference');
  t.regex(text, /other processes, the busiest over the run: init \(pid 1\) 0\.50 cores/, 'the busiest other process is named');
});

test("a cluster's engine totals (the sum of its nodes') differing from the ledger are notes, not a failure", (t) => {
  const i = input([everything()]);
  // a lease taken back from a node thought dead and leased again is counted issued by both nodes
  present(i.serverTotals, 'the server totals').shake.created = cc(4, 700);
  const r = reconcile({ ...i, serverTotalsOfNodes: true });
  t.true(r.ok, r.differences.join(' | '));
  t.deepEqual(r.notes, ["shake issued: the ledger has 3 packets / 600 cents, the nodes' engines counted 4 packets / 700 cents"]);
  const single = reconcile(i);
  t.false(single.ok, 'a single server must match its own ledger');
  t.deepEqual(single.notes, []);
});

test('a hit paid after its user was answered Unavailable or not at all (a settled doubt) is accounted for, within the Unavailable answers and lost answers the clients counted', (t) => {
  // the ledger paid hits 1 and 2, hit 2 as a settled doubt; the client was told only hit 1
  const withHit2Untold = (client: ReturnType<typeof withoutHit2>) => {
    const i = { ...input([client]), serverTotals: null };
    i.items.paidAfterUnavailable = { hits: [[2, 5, 200]], shares: [] };
    return reconcile(i);
  };
  // it heard Unavailable once
  const client = withoutHit2();
  client.counters.unavailable = 1;
  const r = withHit2Untold(client);
  t.true(r.ok, r.differences.join(' | '));
  t.deepEqual(r.paidAfterUnavailable.hits, cc(1, 200));
  t.true(
    r.notes.some((n) => n.startsWith('paid although answered Unavailable or not at all') && n.includes('1 hits / 200 cents')),
    r.notes.join(' | '),
  );

  // its node was killed before it answered: the client lost the answer with the connection
  const cutOff = withoutHit2();
  cutOff.counters.lost = 1;
  const k = withHit2Untold(cutOff);
  t.true(k.ok, k.differences.join(' | '));

  const u = withHit2Untold(withoutHit2());
  t.false(u.ok, 'more settled doubts than Unavailable answers fails');
  t.true(
    u.differences.some((d) => d.includes('heard Unavailable only 0 times and lost 0 answers')),
    u.differences.join(' | '),
  );

  const plain = reconcile({ ...input([client]), serverTotals: null });
  t.false(plain.ok, 'a paid hit no client received and no journal settled is still a difference');
  t.true(
    plain.differences.some((d) => d.startsWith('shake packet 2 won by user 5: 200 cents in the ledger, no client received it')),
    plain.differences.join(' | '),
  );
});
