// The reconciliation: the server's ledger (read after the server drained and exited, checked by the
// ledger check) against the sum of the client tallies, for shakes and for group packets, in count and
// in cents: issued, received by clients, remaining, refunded; then item by item (every packet won,
// every share paid). Any difference makes `ok` false and is named in plain words.
import type { CheckReport } from '../ledger/check.ts';
import type { CountCents, Totals, FlowTotals } from '../engine/types.ts';
import type { FinalTally } from '../simulator/tally.ts';
import type { LedgerItems } from './ledger-items.ts';

export interface FlowFigures {
  issued: CountCents;
  received: CountCents;
  remaining: CountCents;
  refunded: CountCents;
}

export interface FlowReconciliation {
  /** what the ledger database says (the reference) */
  ledger: FlowFigures;
  /** the engine's totals from the server's /stats at the end of the run, null when not fetched */
  server: FlowFigures | null;
  /** what the clients tallied; issued (group only: distinct packets notified) and unclaimed = issued - received */
  clients: { issued: CountCents | null; received: CountCents; unclaimed: CountCents | null };
  ok: boolean;
}

export interface Reconciliation {
  ok: boolean;
  differences: string[];
  /** differences that do not fail the run (a cluster's engine totals against its ledger) */
  notes: string[];
  /** cluster: paid although the user was answered Unavailable (moves in doubt that Redis had made,
   *  settled `paid` in a journal); no client tallies them, each is accounted for item by item */
  paidAfterUnavailable: { hits: CountCents; shares: CountCents };
  /** what the ledger paid to the spare users a person may drive from the shake page (no simulated
   *  client tallies them; their items count as received by "the page") */
  page: { users: number[]; hits: CountCents; shares: CountCents };
  shake: FlowReconciliation;
  group: FlowReconciliation & { packets: { ledger: number; notified: number } };
  ledgerCheck: { ok: boolean; differences: string[] };
}

export interface ReconcileInput {
  check: CheckReport;
  items: LedgerItems;
  serverTotals: Totals | null;
  tallies: FinalTally[];
  /** users signed in on the shake page, not simulated (the rehearsal's spare user) */
  pageUsers?: number[];
  /** the server totals are the sum of many nodes' engines (a cluster): a lease taken back from a
   *  node thought dead, or a move in doubt that settled as paid, is money in Redis and the journals
   *  that no engine counted. Their differences from the ledger are notes, not failures. */
  serverTotalsOfNodes?: boolean;
}

/** What the ledger paid to `users`, as a tally (the page keeps none the rehearsal could read). */
function pageTally(items: LedgerItems, users: Set<number>): FinalTally {
  const hits = items.hits.filter(([, user]) => users.has(user));
  const shares = items.shares.filter(([, user]) => users.has(user));
  return {
    id: 'page',
    users: { from: 0, to: 0, total: 0 },
    startedAt: 0,
    endedAt: 0,
    counters: {} as FinalTally['counters'],
    latency: { count: 0, p50Ms: 0, p90Ms: 0, p99Ms: 0, p999Ms: 0, maxMs: 0, histogram: '' },
    openLatency: { count: 0, p50Ms: 0, p90Ms: 0, p99Ms: 0, p999Ms: 0, maxMs: 0 },
    shake: { received: sumItems(hits), packets: hits },
    group: { notified: [], received: sumItems(shares), shares },
  };
}

const MAX_ITEM_DIFFERENCES = 20;
const cc = (count: number, cents: number): CountCents => ({ count, cents });
const same = (a: CountCents, b: CountCents) => a.count === b.count && a.cents === b.cents;
const minus = (a: CountCents, b: CountCents): CountCents => cc(a.count - b.count, a.cents - b.cents);
const show = (x: CountCents, unit: string) => `${x.count} ${unit} / ${x.cents} cents`;
const hitKey = (packetId: number, user: number) => `${packetId} won by user ${user}`;
const shareKey = (packetId: number, user: number) => `${packetId} share of user ${user}`;
const sumItems = (list: Array<[number, number, number]>) =>
  cc(
    list.length,
    list.reduce((a, [, , c]) => a + c, 0),
  );

function fromFlow(f: FlowTotals): FlowFigures {
  return { issued: f.created, received: f.paid, remaining: f.remaining, refunded: f.refunded };
}

function sum(tallies: FinalTally[], pick: (t: FinalTally) => CountCents): CountCents {
  return tallies.reduce((acc, t) => cc(acc.count + pick(t).count, acc.cents + pick(t).cents), cc(0, 0));
}

/** The clients' items ([packetId, user, cents]) by key, and the ones received twice. */
function receivedItems(
  items: Array<[number, number, number]>,
  keyOf: (packetId: number, user: number) => string,
  what: string,
): [Map<string, number>, string[]] {
  const byKey = new Map<string, number>();
  const dupes: string[] = [];
  for (const [packetId, user, cents] of items) {
    const key = keyOf(packetId, user);
    if (byKey.has(key)) dupes.push(`${what} ${key}: received twice by the clients`);
    byKey.set(key, cents);
  }
  return [byKey, dupes];
}

/** Compare two keyed item lists ([key..., cents]) and name what differs. */
function compareItems(what: string, ledger: Map<string, number>, clients: Map<string, number>, duplicates: string[], diff: (msg: string) => void): void {
  const found: string[] = [...duplicates];
  for (const [key, cents] of ledger) {
    const seen = clients.get(key);
    if (seen === undefined) found.push(`${what} ${key}: ${cents} cents in the ledger, no client received it`);
    else if (seen !== cents) found.push(`${what} ${key}: ${cents} cents in the ledger, the client received ${seen}`);
  }
  for (const [key, cents] of clients) {
    if (!ledger.has(key)) found.push(`${what} ${key}: a client received ${cents} cents the ledger never paid`);
  }
  for (const msg of found.slice(0, MAX_ITEM_DIFFERENCES)) diff(msg);
  if (found.length > MAX_ITEM_DIFFERENCES) diff(`${what}: ${found.length - MAX_ITEM_DIFFERENCES} more item differences`);
}

export function reconcile(input: ReconcileInput): Reconciliation {
  const { check, items, serverTotals } = input;
  const pageUsers = new Set(input.pageUsers ?? []);
  const page = pageUsers.size > 0 ? pageTally(items, pageUsers) : null;
  const tallies = page ? [...input.tallies, page] : input.tallies;
  const differences: string[] = [];
  const notes: string[] = [];
  const diff = (msg: string) => void differences.push(msg);
  for (const d of check.differences) diff(`ledger check: ${d}`);

  // ---- what each client received, item by item
  const [clientHits, shakeDupes] = receivedItems(
    tallies.flatMap((t) => t.shake.packets),
    hitKey,
    'shake packet',
  );
  const [clientShares, shareDupes] = receivedItems(
    tallies.flatMap((t) => t.group.shares),
    shareKey,
    'group packet',
  );
  // paid although answered Unavailable, or not answered at all (a node killed between Redis and its
  // journal; its next run settles them): accounted for by the journals, told to nobody
  const untoldHits = (items.paidAfterUnavailable?.hits ?? []).filter(([id, user]) => !clientHits.has(hitKey(id, user)));
  const untoldShares = (items.paidAfterUnavailable?.shares ?? []).filter(([id, user]) => !clientShares.has(shareKey(id, user)));
  const untoldHitSum = sumItems(untoldHits);
  const untoldShareSum = sumItems(untoldShares);
  if (untoldHits.length + untoldShares.length > 0) {
    notes.push(
      `paid although answered Unavailable or not at all (moves in doubt Redis had made; in the journals, told to nobody): ${show(untoldHitSum, 'hits')}, ${show(untoldShareSum, 'shares')}`,
    );
  }
  const answeredUnavailable = input.tallies.reduce((n, t) => n + (t.counters.unavailable ?? 0), 0);
  const unanswered = input.tallies.reduce((n, t) => n + (t.counters.lost ?? 0), 0);
  if (untoldHits.length + untoldShares.length > answeredUnavailable + unanswered) {
    diff(
      `${untoldHits.length} hits and ${untoldShares.length} shares were paid untold, but the clients heard Unavailable only ${answeredUnavailable} times and lost ${unanswered} answers to closed connections`,
    );
  }

  // ---- flow figures
  const shakeLedger = fromFlow(check.shake);
  const groupLedger = fromFlow(check.group);
  const shakeServer = serverTotals ? fromFlow(serverTotals.shake) : null;
  const groupServer = serverTotals ? fromFlow(serverTotals.group) : null;
  const shakeReceived = sum(tallies, (t) => t.shake.received);
  const groupReceived = sum(tallies, (t) => t.group.received);
  const notified = new Map<number, [number, number]>();
  for (const t of tallies) for (const [id, total, shares] of t.group.notified) notified.set(id, [total, shares]);
  const groupIssued = [...notified.values()].reduce((acc, [total, shares]) => cc(acc.count + shares, acc.cents + total), cc(0, 0));

  const units = { shake: 'packets', group: 'shares' } as const;
  const flowsOk: Record<'shake' | 'group', boolean> = { shake: true, group: true };
  const flowDiff = (flow: 'shake' | 'group', msg: string) => {
    flowsOk[flow] = false;
    diff(msg);
  };
  for (const [flow, ledger, server] of [
    ['shake', shakeLedger, shakeServer],
    ['group', groupLedger, groupServer],
  ] as const) {
    if (!check[flow].balanced) flowsOk[flow] = false;
    if (!server) continue;
    for (const k of ['issued', 'received', 'remaining', 'refunded'] as const) {
      if (same(ledger[k], server[k])) continue;
      if (input.serverTotalsOfNodes) {
        notes.push(`${flow} ${k}: the ledger has ${show(ledger[k], units[flow])}, the nodes' engines counted ${show(server[k], units[flow])}`);
      } else flowDiff(flow, `${flow} ${k}: the ledger has ${show(ledger[k], units[flow])}, the server's engine said ${show(server[k], units[flow])}`);
    }
  }
  for (const [flow, ledger, received, untold] of [
    ['shake', shakeLedger, shakeReceived, untoldHitSum],
    ['group', groupLedger, groupReceived, untoldShareSum],
  ] as const) {
    const told = minus(ledger.received, untold);
    if (!same(told, received)) {
      const d = minus(told, received);
      flowDiff(
        flow,
        `${flow} received: the ledger paid ${show(ledger.received, units[flow])}` +
          (untold.count > 0 ? ` (${show(untold, units[flow])} of them after an Unavailable answer)` : '') +
          `, the clients tallied ${show(received, units[flow])} (told minus clients: ${d.count} ${units[flow]} / ${d.cents} cents)`,
      );
    }
  }
  if (!same(groupLedger.issued, groupIssued)) {
    const notifiedIds = new Set(notified.keys());
    const unseen = items.packets.filter(([id]) => !notifiedIds.has(id)).map(([id]) => id);
    flowDiff(
      'group',
      `group issued: the ledger created ${show(groupLedger.issued, 'shares')} in ${items.packets.length} packets, the clients were notified of ` +
        `${show(groupIssued, 'shares')} in ${notified.size} packets` +
        (unseen.length ? ` (never notified: packet ${unseen.slice(0, 10).join(', ')}${unseen.length > 10 ? ', ...' : ''})` : ''),
    );
  }
  const groupUnclaimed = minus(groupIssued, groupReceived);
  const ledgerUnclaimed = cc(groupLedger.remaining.count + groupLedger.refunded.count, groupLedger.remaining.cents + groupLedger.refunded.cents);
  if (!same(minus(groupUnclaimed, untoldShareSum), ledgerUnclaimed)) {
    flowDiff(
      'group',
      `group remaining + refunded: the ledger has ${show(ledgerUnclaimed, 'shares')}, the clients' notified minus received is ${show(groupUnclaimed, 'shares')}`,
    );
  }

  // ---- item by item
  const ledgerHits = new Map(items.hits.map(([id, winner, cents]) => [hitKey(id, winner), cents]));
  for (const [id, user] of untoldHits) ledgerHits.delete(hitKey(id, user));
  const before = differences.length;
  compareItems('shake packet', ledgerHits, clientHits, shakeDupes, diff);
  if (differences.length > before) flowsOk.shake = false;

  const ledgerShares = new Map(items.shares.map(([id, user, cents]) => [shareKey(id, user), cents]));
  for (const [id, user] of untoldShares) ledgerShares.delete(shareKey(id, user));
  const beforeGroup = differences.length;
  compareItems('group packet', ledgerShares, clientShares, shareDupes, diff);
  if (differences.length > beforeGroup) flowsOk.group = false;

  return {
    ok: differences.length === 0,
    differences,
    notes,
    paidAfterUnavailable: { hits: untoldHitSum, shares: untoldShareSum },
    page: { users: [...pageUsers], hits: page?.shake.received ?? cc(0, 0), shares: page?.group.received ?? cc(0, 0) },
    shake: {
      ledger: shakeLedger,
      server: shakeServer,
      clients: { issued: null, received: shakeReceived, unclaimed: null },
      ok: flowsOk.shake,
    },
    group: {
      ledger: groupLedger,
      server: groupServer,
      clients: { issued: groupIssued, received: groupReceived, unclaimed: groupUnclaimed },
      ok: flowsOk.group,
      packets: { ledger: items.packets.length, notified: notified.size },
    },
    ledgerCheck: { ok: check.ok, differences: check.differences },
  };
}
