// On a cluster node a repeat open may be the first this node hears of a share another node told
// and died before journaling: the batcher commits repeats to the node's journal with the new
// shares of the run, and tells the repeat only once that commit is durable. A single server keeps
// repeats out of the ledger (it holds the first open already) and answers them after a barrier.
import test from 'ava';
import { testBatcher } from './helpers/batcher.ts';
import { OpenStatus, type Engine, type OpenOut } from '../src/engine/types.ts';
import type { Ledger, LedgerBatch } from '../src/ledger/types.ts';
import type { Replier } from '../src/server/replier.ts';

/** Opens of packet 9: user 1 opens a new share of 40 cents, user 2 repeats the 25 cents it holds. */
const engine = {
  open(users: Uint32Array, _ids: Uint32Array, _now: number, out: OpenOut): void {
    for (let i = 0; i < users.length; i++) {
      out.status[i] = users[i] === 1 ? OpenStatus.Ok : OpenStatus.Repeat;
      out.cents[i] = users[i] === 1 ? 40 : 25;
    }
  },
} as unknown as Engine;

class Answers implements Replier {
  readonly opens: Array<{ requestId: number; status: number; cents: number }> = [];
  shakeResult(): void {}
  openResult(requestId: number, status: number, _packetId: number, cents: number): void {
    this.opens.push({ requestId, status, cents });
  }
  createResult(): void {}
  detailsResult(): void {}
}

/** A ledger whose commits wait until released, keeping what they were given. */
function heldLedger() {
  const commits: LedgerBatch[] = [];
  let barriers = 0;
  const release: Array<() => void> = [];
  const ledger = {
    commit: (b: LedgerBatch) => {
      commits.push(b);
      return new Promise<void>((resolve) => release.push(resolve));
    },
    barrier: () => {
      barriers++;
      return new Promise<void>((resolve) => release.push(resolve));
    },
  } as unknown as Ledger;
  return {
    ledger,
    commits,
    barriers: () => barriers,
    releaseAll: () => {
      for (const r of release.splice(0)) r();
    },
  };
}

function batcherOver(ledger: Ledger, journalRepeats: boolean) {
  return testBatcher(engine, ledger, { journalRepeats });
}

const rows = (b: LedgerBatch) => {
  const o = b.opens;
  if (!o) return [];
  return Array.from({ length: o.count }, (_, i) => [o.users[i], o.packetIds[i], o.cents[i]]);
};

test('a cluster node commits a repeat open with the run and tells it only after that commit', async (t) => {
  const l = heldLedger();
  const batcher = batcherOver(l.ledger, true);
  const a = new Answers();
  batcher.open(a, 1, 1, 9);
  batcher.open(a, 2, 2, 9);
  await new Promise((r) => setTimeout(r, 20));
  t.is(l.commits.length, 1, 'one commit for the run');
  t.deepEqual(rows(l.commits[0]), [
    [1, 9, 40],
    [2, 9, 25],
  ]);
  t.is(l.barriers(), 0, 'no barrier: the repeat waits for its own commit');
  t.deepEqual(a.opens, [], 'nothing told before the commit is durable');
  l.releaseAll();
  await batcher.idle();
  t.deepEqual(
    a.opens.sort((x, y) => x.requestId - y.requestId),
    [
      { requestId: 1, status: OpenStatus.Ok, cents: 40 },
      { requestId: 2, status: OpenStatus.Repeat, cents: 25 },
    ],
  );
});

test('a single server commits only the new share and answers the repeat after a barrier', async (t) => {
  const l = heldLedger();
  const batcher = batcherOver(l.ledger, false);
  const a = new Answers();
  batcher.open(a, 1, 1, 9);
  batcher.open(a, 2, 2, 9);
  await new Promise((r) => setTimeout(r, 20));
  t.deepEqual(rows(l.commits[0]), [[1, 9, 40]]);
  t.is(l.barriers(), 1);
  l.releaseAll();
  await batcher.idle();
  t.deepEqual(a.opens.map((o) => o.status).sort(), [OpenStatus.Ok, OpenStatus.Repeat].sort());
});
