// `hongbao ledger check`: reconciles a ledger database from its own tables, with no engine and no
// server. Paid and refunded amounts come from the `opens` and `refunds` tables, remaining amounts
// from each packet's counters, created amounts from the packets: the identity
// created = paid + remaining + refunded then holds only if all three sources agree, to the cent.
import type Database from 'better-sqlite3';
import type { CountCents } from '../engine/types.ts';
import { openDatabase } from './schema.ts';

export interface FlowCheck {
  created: CountCents;
  paid: CountCents;
  remaining: CountCents;
  refunded: CountCents;
  /** created = paid + remaining + refunded, in count and in cents. */
  balanced: boolean;
}

export interface CheckReport {
  db: string;
  ok: boolean;
  /** Shake packets: count = packets. */
  shake: FlowCheck;
  /** Group packets: count = shares. */
  group: FlowCheck;
  groupPackets: number;
  supplies: number;
  /** Every difference found, in plain words; empty when the ledger balances. */
  differences: string[];
}

interface PacketRow {
  id: number;
  sender: number;
  total_cents: number;
  share_count: number;
  opened_count: number;
  opened_cents: number;
  expired: number;
  refunded_cents: number;
  refunded_shares: number;
  recipients: number;
  paid_count: number;
  paid_cents: number;
  min_cents: number | null;
  min_ord: number | null;
  max_ord: number | null;
  refund_sender: number | null;
  refund_cents: number | null;
  refund_shares: number | null;
}

const cc = (count: number, cents: number): CountCents => ({ count, cents });

function flow(created: CountCents, paid: CountCents, remaining: CountCents, refunded: CountCents): FlowCheck {
  const balanced = created.count === paid.count + remaining.count + refunded.count && created.cents === paid.cents + remaining.cents + refunded.cents;
  return { created, paid, remaining, refunded, balanced };
}

function checkPacket(p: PacketRow, diff: (msg: string) => void): CountCents {
  const at = `group packet ${p.id}`;
  if (p.share_count < 1 || p.total_cents < p.share_count) diff(`${at}: ${p.total_cents} cents cannot pay ${p.share_count} shares of at least 1 cent`);
  if (p.recipients < p.share_count) diff(`${at}: ${p.share_count} shares but ${p.recipients} recipients`);
  if (p.paid_count !== p.opened_count || p.paid_cents !== p.opened_cents) {
    diff(`${at}: opens table pays ${p.paid_count} shares / ${p.paid_cents} cents, the packet counts ${p.opened_count} / ${p.opened_cents}`);
  }
  if (p.min_cents !== null && p.min_cents < 1) diff(`${at}: a share of ${p.min_cents} cents (every share must be at least 1 cent)`);
  if (p.paid_count > 0 && (p.min_ord !== 0 || p.max_ord !== p.paid_count - 1)) diff(`${at}: opening order is not 0..${p.paid_count - 1}`);
  const refundShares = p.refund_shares ?? 0;
  const refundCents = p.refund_cents ?? 0;
  if ((p.expired === 1) !== (p.refund_cents !== null)) diff(`${at}: expired=${p.expired} but ${p.refund_cents === null ? 'no' : 'a'} refund row`);
  if (refundShares !== p.refunded_shares || refundCents !== p.refunded_cents) {
    diff(`${at}: refunds table returns ${refundShares} shares / ${refundCents} cents, the packet counts ${p.refunded_shares} / ${p.refunded_cents}`);
  }
  if (p.refund_sender !== null && p.refund_sender !== p.sender) diff(`${at}: sent by ${p.sender} but refunded to ${p.refund_sender}`);
  const leftShares = p.share_count - p.paid_count - refundShares;
  const leftCents = p.total_cents - p.paid_cents - refundCents;
  if (leftShares < 0 || leftCents < 0)
    diff(`${at}: paid and refunded ${p.paid_count + refundShares} shares / ${p.paid_cents + refundCents} cents of ${p.share_count} / ${p.total_cents}`);
  else if (leftShares === 0 && leftCents !== 0)
    diff(`${at}: every share is paid or refunded yet ${leftCents} cents are unaccounted for (shares sum to ${p.paid_cents + refundCents} of ${p.total_cents})`);
  else if (leftCents < leftShares) diff(`${at}: ${leftCents} cents left for ${leftShares} unopened shares`);
  if (p.expired === 1 && (leftShares !== 0 || leftCents !== 0)) diff(`${at}: expired with ${leftShares} shares / ${leftCents} cents neither paid nor refunded`);
  // What the packet itself says is left (its counters), for the flow totals.
  return cc(p.share_count - p.opened_count - p.refunded_shares, p.total_cents - p.opened_cents - p.refunded_cents);
}

/** Runs every check on an open connection. */
export function checkDatabase(db: Database.Database, name = db.name): CheckReport {
  const differences: string[] = [];
  const diff = (msg: string): void => void differences.push(msg);
  const all = <T>(sql: string): T[] => db.prepare(sql).all() as T[];
  const one = <T>(sql: string): T => db.prepare(sql).get() as T;

  return db.transaction((): CheckReport => {
    // ---- shake flow
    const sh = one<{ n: number; c: number; pn: number; pc: number }>(
      `SELECT count(*) n, coalesce(sum(cents), 0) c, count(winner) pn, coalesce(sum(CASE WHEN winner IS NOT NULL THEN cents END), 0) pc FROM shake_packets`,
    );
    const shake = flow(cc(sh.n, sh.c), cc(sh.pn, sh.pc), cc(sh.n - sh.pn, sh.c - sh.pc), cc(0, 0));
    for (const r of all<{ id: number; cents: number }>(`SELECT id, cents FROM shake_packets WHERE cents < 1`)) diff(`shake packet ${r.id}: ${r.cents} cents`);
    for (const r of all<{ id: number }>(`SELECT id FROM shake_packets WHERE (winner IS NULL) <> (won_at IS NULL)`))
      diff(`shake packet ${r.id}: a winner without a time or a time without a winner`);
    for (const r of all<{ id: number }>(`SELECT id FROM shake_packets WHERE supply_seq NOT IN (SELECT seq FROM supply_events WHERE kind = 'start')`)) {
      diff(`shake packet ${r.id}: released by no supply`);
    }
    const supplies = all<{ seq: number; total: number; released: number; n: number }>(
      `SELECT s.seq, s.total, s.released, (SELECT count(*) FROM shake_packets p WHERE p.supply_seq = s.seq) n FROM supply_events s WHERE s.kind = 'start' ORDER BY s.seq`,
    );
    for (const s of supplies) {
      if (s.n !== s.released) diff(`supply ${s.seq}: counts ${s.released} released, ${s.n} shake packets were`);
      if (s.n > s.total) diff(`supply ${s.seq}: released ${s.n} packets, more than its total ${s.total}`);
    }

    // ---- group flow, packet by packet
    const packets = all<PacketRow>(
      `SELECT g.id, g.sender, g.total_cents, g.share_count, g.opened_count, g.opened_cents, g.expired, g.refunded_cents, g.refunded_shares,
              (SELECT count(*) FROM group_recipients r WHERE r.packet_id = g.id) recipients,
              coalesce(o.n, 0) paid_count, coalesce(o.c, 0) paid_cents, o.min_cents, o.min_ord, o.max_ord,
              f.sender refund_sender, f.cents refund_cents, f.shares refund_shares
       FROM group_packets g
       LEFT JOIN (SELECT packet_id, count(*) n, sum(cents) c, min(cents) min_cents, min(ord) min_ord, max(ord) max_ord FROM opens GROUP BY packet_id) o
         ON o.packet_id = g.id
       LEFT JOIN refunds f ON f.packet_id = g.id
       ORDER BY g.id`,
    );
    let createdCount = 0;
    let createdCents = 0;
    let leftCount = 0;
    let leftCents = 0;
    for (const p of packets) {
      createdCount += p.share_count;
      createdCents += p.total_cents;
      const left = checkPacket(p, diff);
      leftCount += left.count;
      leftCents += left.cents;
    }
    for (const r of all<{ packet_id: number; user: number; n: number }>(
      `SELECT packet_id, user, count(*) n FROM opens GROUP BY packet_id, user HAVING n > 1`,
    )) {
      diff(`group packet ${r.packet_id}: user ${r.user} paid ${r.n} times`);
    }
    for (const r of all<{ packet_id: number; n: number }>(`SELECT packet_id, count(*) n FROM refunds GROUP BY packet_id HAVING n > 1`)) {
      diff(`group packet ${r.packet_id}: refunded ${r.n} times`);
    }
    for (const r of all<{ packet_id: number; user: number }>(
      `SELECT o.packet_id, o.user FROM opens o LEFT JOIN group_recipients r ON r.packet_id = o.packet_id AND r.user = o.user WHERE r.user IS NULL`,
    )) {
      diff(`group packet ${r.packet_id}: user ${r.user} was paid but is not a recipient`);
    }
    for (const r of all<{ packet_id: number }>(`SELECT DISTINCT packet_id FROM opens WHERE packet_id NOT IN (SELECT id FROM group_packets)`)) {
      diff(`opens of group packet ${r.packet_id}, which was never created`);
    }
    for (const r of all<{ packet_id: number }>(`SELECT packet_id FROM refunds WHERE packet_id NOT IN (SELECT id FROM group_packets)`)) {
      diff(`refund of group packet ${r.packet_id}, which was never created`);
    }
    const paid = one<{ n: number; c: number }>(`SELECT count(*) n, coalesce(sum(cents), 0) c FROM opens`);
    const refunded = one<{ n: number; c: number }>(`SELECT coalesce(sum(shares), 0) n, coalesce(sum(cents), 0) c FROM refunds`);
    const group = flow(cc(createdCount, createdCents), cc(paid.n, paid.c), cc(leftCount, leftCents), cc(refunded.n, refunded.c));

    for (const [name, f] of [
      ['shake', shake],
      ['group', group],
    ] as const) {
      if (f.balanced) continue;
      const show = (k: 'count' | 'cents'): string => `${f.created[k]} created != ${f.paid[k]} paid + ${f.remaining[k]} remaining + ${f.refunded[k]} refunded`;
      if (f.created.count !== f.paid.count + f.remaining.count + f.refunded.count) diff(`${name} flow, count: ${show('count')}`);
      if (f.created.cents !== f.paid.cents + f.remaining.cents + f.refunded.cents) diff(`${name} flow, cents: ${show('cents')}`);
    }
    return { db: name, ok: differences.length === 0, shake, group, groupPackets: packets.length, supplies: supplies.length, differences };
  })();
}

/** Opens `dbPath` read-only and checks it. Throws if it cannot be read as a ledger. */
export function checkLedger(dbPath: string): CheckReport {
  const db = openDatabase(dbPath, { readonly: true });
  try {
    return checkDatabase(db, dbPath);
  } finally {
    db.close();
  }
}

/** The human table (for stderr). */
export function formatReport(r: CheckReport): string {
  const cell = (x: CountCents): string => `${x.count} / ${x.cents}`;
  const rows = [
    ['flow', 'created', 'paid', 'remaining', 'refunded', 'balanced'],
    ...(
      [
        ['shake', r.shake],
        ['group', r.group],
      ] as const
    ).map(([name, f]) => [name, cell(f.created), cell(f.paid), cell(f.remaining), cell(f.refunded), f.balanced ? 'yes' : 'NO']),
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  const lines = rows.map((row) =>
    row
      .map((c, i) => c.padEnd(widths[i]))
      .join('  ')
      .trimEnd(),
  );
  lines.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  const head = `ledger ${r.db}: ${r.groupPackets} group packets, ${r.supplies} supplies (count / cents; group counts shares)`;
  const tail = r.ok
    ? 'balanced: every packet and every flow adds up to the cent'
    : `${r.differences.length} difference(s):\n${r.differences.map((d) => `  - ${d}`).join('\n')}`;
  return `${head}\n${lines.join('\n')}\n${tail}\n`;
}
