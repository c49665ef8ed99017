// What clients were told (every hit, every share, every packet created), and the check of it
// against the ledger database: everything told must be there with the same cents; in exact mode
// (no crash happened, so nothing committed went untold) the ledger must hold nothing else either.
// Plus the ledger's own identities (checkLedger) and the supply caps.
import Database from 'better-sqlite3';
import { checkLedger, type CheckReport } from '../../src/ledger/check.ts';
import type { FinalTally } from '../../src/simulator/tally.ts';

type Item = [number, number, number];

export class Told {
  /** [packetId, user, cents] per shake hit told */
  readonly hits: Item[] = [];
  /** [packetId, user, cents] per share told (Ok, or a Repeat whose Ok was lost) */
  readonly shares: Item[] = [];
  /** [packetId, totalCents, shareCount] per group packet whose creation was told (create answer or notify) */
  readonly packets: Item[] = [];

  hit(packetId: number, user: number, cents: number): void {
    this.hits.push([packetId, user, cents]);
  }

  share(packetId: number, user: number, cents: number): void {
    this.shares.push([packetId, user, cents]);
  }

  packet(packetId: number, totalCents: number, shareCount: number): void {
    this.packets.push([packetId, totalCents, shareCount]);
  }

  /** Everything a simulator process tallied. */
  addTally(t: FinalTally): void {
    for (const h of t.shake.packets) this.hits.push(h);
    for (const s of t.group.shares) this.shares.push(s);
    for (const p of t.group.notified) this.packets.push(p);
  }

  merge(other: Told): void {
    this.hits.push(...other.hits);
    this.shares.push(...other.shares);
    this.packets.push(...other.packets);
  }
}

export interface ToldReport {
  ok: boolean;
  differences: string[];
  told: { hits: number; hitCents: number; shares: number; shareCents: number; packets: number };
  ledger: { hits: number; hitCents: number; shares: number; shareCents: number; packets: number; supplyTotal: number; released: number };
  /** cents told to a client that the ledger does not hold (or holds with other cents) */
  centsLost: number;
  /** shake packets or shares told to two different users, or told twice with different cents */
  paidTwice: number;
  check: CheckReport;
}

const MAX_LISTED = 20;

/** Compare what was told with the ledger at `dbPath` (the server must not be writing). */
export function checkTold(dbPath: string, told: Told, opts: { exact?: boolean } = {}): ToldReport {
  const differences: string[] = [];
  let listed = 0;
  const diff = (msg: string) => {
    if (listed++ < MAX_LISTED) differences.push(msg);
  };
  const check = checkLedger(dbPath);
  for (const d of check.differences) diff(`ledger check: ${d}`);

  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  let ledgerHits: Map<number, [number, number]>;
  let ledgerShares: Map<string, number>;
  let ledgerPackets: Map<number, [number, number]>;
  let supplyTotal = 0;
  let released = 0;
  try {
    const rows = <T>(sql: string) => db.prepare(sql).raw(true).all() as T[];
    ledgerHits = new Map(rows<Item>('SELECT id, winner, cents FROM shake_packets WHERE winner IS NOT NULL').map(([id, u, c]) => [id, [u, c]]));
    ledgerShares = new Map(rows<Item>('SELECT packet_id, user, cents FROM opens').map(([id, u, c]) => [`${id}/${u}`, c]));
    ledgerPackets = new Map(rows<Item>('SELECT id, total_cents, share_count FROM group_packets').map(([id, t, s]) => [id, [t, s]]));
    for (const [total, rel, n] of rows<Item>(
      `SELECT s.total, s.released, (SELECT count(*) FROM shake_packets p WHERE p.supply_seq = s.seq) FROM supply_events s WHERE s.kind = 'start'`,
    )) {
      supplyTotal += total;
      released += rel;
      if (rel > total || n > total) diff(`a supply of ${total} packets released ${Math.max(rel, n)}`);
    }
  } finally {
    db.close();
  }

  let centsLost = 0;
  let paidTwice = 0;
  const toldHits = new Map<number, [number, number]>();
  for (const [id, user, cents] of told.hits) {
    const seen = toldHits.get(id);
    if (seen) {
      paidTwice++;
      diff(`shake packet ${id} told to user ${seen[0]} (${seen[1]} cents) and again to user ${user} (${cents} cents)`);
      continue;
    }
    toldHits.set(id, [user, cents]);
    const row = ledgerHits.get(id);
    if (!row) {
      centsLost += cents;
      diff(`shake packet ${id}: user ${user} was told ${cents} cents, the ledger has no winner`);
    } else if (row[0] !== user || row[1] !== cents) {
      centsLost += cents;
      diff(`shake packet ${id}: user ${user} was told ${cents} cents, the ledger says user ${row[0]} won ${row[1]}`);
    }
  }
  const toldShares = new Map<string, number>();
  for (const [id, user, cents] of told.shares) {
    const key = `${id}/${user}`;
    const seen = toldShares.get(key);
    if (seen !== undefined) {
      if (seen !== cents) {
        paidTwice++;
        diff(`group packet ${id}: user ${user} was told ${seen} cents and later ${cents}`);
      }
      continue;
    }
    toldShares.set(key, cents);
    const row = ledgerShares.get(key);
    if (row === undefined) {
      centsLost += cents;
      diff(`group packet ${id}: user ${user} was told a share of ${cents} cents, the ledger paid none`);
    } else if (row !== cents) {
      centsLost += cents;
      diff(`group packet ${id}: user ${user} was told ${cents} cents, the ledger paid ${row}`);
    }
  }
  const toldPackets = new Map<number, [number, number]>();
  for (const [id, total, shares] of told.packets) {
    const seen = toldPackets.get(id);
    if (seen && (seen[0] !== total || seen[1] !== shares)) diff(`group packet ${id} told as ${seen[0]} cents / ${seen[1]} shares and as ${total} / ${shares}`);
    toldPackets.set(id, [total, shares]);
    const row = ledgerPackets.get(id);
    if (!row) {
      centsLost += total;
      diff(`group packet ${id} (${total} cents, ${shares} shares) was told created, the ledger does not have it`);
    } else if (row[0] !== total || row[1] !== shares) {
      diff(`group packet ${id} was told as ${total} cents / ${shares} shares, the ledger has ${row[0]} / ${row[1]}`);
    }
  }
  if (opts.exact) {
    for (const [id, [user, cents]] of ledgerHits)
      if (!toldHits.has(id)) diff(`shake packet ${id}: the ledger paid user ${user} ${cents} cents nobody was told of`);
    for (const [key, cents] of ledgerShares) if (!toldShares.has(key)) diff(`group share ${key}: the ledger paid ${cents} cents nobody was told of`);
    for (const [id] of ledgerPackets) if (!toldPackets.has(id)) diff(`group packet ${id}: in the ledger, nobody was told it was created`);
  }
  if (listed > MAX_LISTED) differences.push(`... and ${listed - MAX_LISTED} more`);
  const sum = (m: Iterable<number>) => {
    let s = 0;
    for (const x of m) s += x;
    return s;
  };
  return {
    ok: listed === 0,
    differences,
    told: {
      hits: toldHits.size,
      hitCents: sum([...toldHits.values()].map((v) => v[1])),
      shares: toldShares.size,
      shareCents: sum(toldShares.values()),
      packets: toldPackets.size,
    },
    ledger: {
      hits: ledgerHits.size,
      hitCents: sum([...ledgerHits.values()].map((v) => v[1])),
      shares: ledgerShares.size,
      shareCents: sum(ledgerShares.values()),
      packets: ledgerPackets.size,
      supplyTotal,
      released,
    },
    centsLost,
    paidTwice,
    check,
  };
}
