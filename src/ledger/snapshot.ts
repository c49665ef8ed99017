// Reads back what an engine needs after a restart (EngineSnapshot) and the covers of group packets.
// Runs in the writer thread (Ledger.loadSnapshot) or on any read connection; not a hot path.
import type Database from 'better-sqlite3';
import type { AmountRule, EngineSnapshot, SplitMode, SupplyState } from '../engine/types.ts';
import { ledgerKindOf } from './schema.ts';
import type { CoverRecord, LedgerSnapshot } from './types.ts';

interface GroupRow {
  id: number;
  sender: number;
  total_cents: number;
  share_count: number;
  split_mode: number;
  expires_at: number;
  cover_title: string | null;
  cover_colour: number | null;
  cover_story: string | null;
  expired: number;
  refunded_cents: number;
}

function supplyState(db: Database.Database): SupplyState | null {
  const start = db.prepare(`SELECT seq, total, rate, rule, released FROM supply_events WHERE kind = 'start' ORDER BY seq DESC LIMIT 1`).get() as
    | { seq: number; total: number; rate: number; rule: string; released: number }
    | undefined;
  if (!start) return null;
  const stopped = db.prepare(`SELECT 1 FROM supply_events WHERE kind = 'stop' AND seq > ? LIMIT 1`).get(start.seq) !== undefined;
  return { total: start.total, ratePerSecond: start.rate, released: start.released, rule: JSON.parse(start.rule) as AmountRule, active: !stopped };
}

/** Builds the engine snapshot and the covers map from the database, in one read transaction. */
export function loadSnapshot(db: Database.Database): LedgerSnapshot {
  // A cluster node's engine holds only leased shake packets, which Redis gives back when the node
  // restarts: a journal restores nothing.
  if (ledgerKindOf(db) === 'journal') return emptySnapshot();
  return db.transaction((): LedgerSnapshot => {
    const maxShake = db.prepare(`SELECT coalesce(max(id), 0) FROM shake_packets`).pluck().get() as number;
    const maxGroup = db.prepare(`SELECT coalesce(max(id), 0) FROM group_packets`).pluck().get() as number;
    const counts = db
      .prepare(
        `SELECT count(*) AS createdCount, coalesce(sum(cents), 0) AS createdCents,
                count(winner) AS paidCount, coalesce(sum(CASE WHEN winner IS NOT NULL THEN cents END), 0) AS paidCents
         FROM shake_packets`,
      )
      .get() as { createdCount: number; createdCents: number; paidCount: number; paidCents: number };
    const unpaid = db.prepare(`SELECT id, cents FROM shake_packets WHERE winner IS NULL ORDER BY id`).raw().all() as Array<[number, number]>;
    const unpaidIds = unpaid.map((row) => row[0]);
    const unpaidCents = unpaid.map((row) => row[1]);

    // Recipients and opens are read in one pass each, ordered by packet, and zipped with the packets.
    // (better-sqlite3 runs one statement at a time per connection, so these are read whole.)
    const recipients = db.prepare(`SELECT packet_id, user FROM group_recipients ORDER BY packet_id, pos`).raw().all() as Array<[number, number]>;
    const opens = db.prepare(`SELECT packet_id, user, cents FROM opens ORDER BY packet_id, ord`).raw().all() as Array<[number, number, number]>;
    const packets = db
      .prepare(
        `SELECT id, sender, total_cents, share_count, split_mode, expires_at, cover_title, cover_colour, cover_story, expired, refunded_cents
         FROM group_packets ORDER BY id`,
      )
      .all() as GroupRow[];
    let r = 0;
    let o = 0;
    const groups: EngineSnapshot['groups'] = [];
    const covers = new Map<number, CoverRecord>();
    for (const p of packets) {
      const users: number[] = [];
      for (; r < recipients.length && recipients[r][0] <= p.id; r++) if (recipients[r][0] === p.id) users.push(recipients[r][1]);
      const opened: Array<{ user: number; cents: number }> = [];
      for (; o < opens.length && opens[o][0] <= p.id; o++) if (opens[o][0] === p.id) opened.push({ user: opens[o][1], cents: opens[o][2] });
      groups.push({
        id: p.id,
        sender: p.sender,
        totalCents: p.total_cents,
        shareCount: p.share_count,
        splitMode: p.split_mode as SplitMode,
        recipients: users,
        expiresAt: p.expires_at,
        opened,
        expired: p.expired === 1,
        refundedCents: p.refunded_cents,
      });
      if (p.cover_title !== null || p.cover_colour !== null || p.cover_story !== null) {
        covers.set(p.id, { title: p.cover_title ?? '', colour: p.cover_colour ?? 0, story: p.cover_story ?? '' });
      }
    }

    return {
      engine: {
        nextShakeId: maxShake + 1,
        nextGroupId: maxGroup + 1,
        supply: supplyState(db),
        shake: { ...counts, unpaidIds, unpaidCents },
        groups,
      },
      covers,
    };
  })();
}

/** The state of a fresh engine. */
export function emptySnapshot(): LedgerSnapshot {
  return {
    engine: {
      nextShakeId: 1,
      nextGroupId: 1,
      supply: null,
      shake: { createdCount: 0, createdCents: 0, paidCount: 0, paidCents: 0, unpaidIds: [], unpaidCents: [] },
      groups: [],
    },
    covers: new Map(),
  };
}
