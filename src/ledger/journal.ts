// An access node's own ledger in cluster mode: what this node told its users, written (SQLite, by
// the same writer thread and group commit as the single-server ledger) after Redis confirmed the
// move and before anyone is told. Redis is the record of who got what; the journals of all nodes
// together must account for every cent of it (`hongbao ledger check --cluster`). So the journal
// does not re-derive packets (a node opens shares of packets other nodes created): its constraints
// keep one node from telling the same money twice, and a move whose outcome the node could not
// learn (answered Unavailable) is kept as a doubt until it is settled against Redis.
import type Database from 'better-sqlite3';
import { DivergenceError } from './apply.ts';
import type { LedgerBatch } from './types.ts';

export const JOURNAL_SCHEMA_SQL = `
-- A shake packet this node told a user they won.
CREATE TABLE IF NOT EXISTS hits (
  packet_id INTEGER PRIMARY KEY CHECK (packet_id >= 1),
  user      INTEGER NOT NULL,
  cents     INTEGER NOT NULL CHECK (cents >= 1),
  at        INTEGER NOT NULL
);

-- A group packet this node created (for a user over WebSocket, the admin API or the campaign).
CREATE TABLE IF NOT EXISTS creates (
  packet_id   INTEGER PRIMARY KEY CHECK (packet_id >= 1),
  sender      INTEGER NOT NULL,
  total_cents INTEGER NOT NULL CHECK (total_cents >= 1),
  share_count INTEGER NOT NULL CHECK (share_count >= 1 AND share_count <= total_cents),
  split_mode  INTEGER NOT NULL CHECK (split_mode IN (0, 1)),
  expires_at  REAL    NOT NULL,
  created_at  INTEGER NOT NULL,
  recipients  TEXT    NOT NULL,
  cover       TEXT
);

-- A share this node told a user they got (a first open; a repeat elsewhere is the same share).
CREATE TABLE IF NOT EXISTS shares (
  packet_id INTEGER NOT NULL,
  user      INTEGER NOT NULL,
  cents     INTEGER NOT NULL CHECK (cents >= 1),
  at        INTEGER NOT NULL,
  PRIMARY KEY (packet_id, user)
) WITHOUT ROWID;

-- A packet this node expired: its unopened remainder went back to the sender.
CREATE TABLE IF NOT EXISTS refunds (
  packet_id INTEGER PRIMARY KEY,
  sender    INTEGER NOT NULL,
  cents     INTEGER NOT NULL CHECK (cents >= 0),
  shares    INTEGER NOT NULL CHECK (shares >= 0),
  at        INTEGER NOT NULL
);

-- A move Redis may or may not have made (the user was answered Unavailable), until settled:
-- outcome 'paid' (Redis has it: the money moved, untold) or 'void' (it did not).
CREATE TABLE IF NOT EXISTS doubts (
  seq        INTEGER PRIMARY KEY AUTOINCREMENT,
  kind       TEXT    NOT NULL CHECK (kind IN ('hit', 'share', 'create', 'refund')),
  packet_id  INTEGER NOT NULL,
  user       INTEGER NOT NULL,
  cents      INTEGER NOT NULL,
  at         INTEGER NOT NULL,
  outcome    TEXT    CHECK (outcome IN ('paid', 'void')),
  settled_at INTEGER
);
CREATE INDEX IF NOT EXISTS doubts_open ON doubts (kind, packet_id, user) WHERE outcome IS NULL;
`;

function isConstraint(err: unknown): boolean {
  const code = err instanceof Error ? (err as Error & { code?: unknown }).code : undefined;
  return typeof code === 'string' && code.startsWith('SQLITE_CONSTRAINT');
}

/** Applies one LedgerBatch to a node journal inside the writer's open transaction. */
export class JournalApplier {
  private readonly s;

  constructor(db: Database.Database) {
    this.s = {
      hit: db.prepare('INSERT INTO hits (packet_id, user, cents, at) VALUES (?, ?, ?, ?)'),
      hitRow: db.prepare('SELECT user, cents FROM hits WHERE packet_id = ?'),
      create: db.prepare(
        'INSERT INTO creates (packet_id, sender, total_cents, share_count, split_mode, expires_at, created_at, recipients, cover) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      share: db.prepare('INSERT INTO shares (packet_id, user, cents, at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING'),
      shareRow: db.prepare('SELECT cents FROM shares WHERE packet_id = ? AND user = ?').pluck(),
      refund: db.prepare('INSERT INTO refunds (packet_id, sender, cents, shares, at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING'),
      refundRow: db.prepare('SELECT sender, cents, shares FROM refunds WHERE packet_id = ?'),
      doubt: db.prepare('INSERT INTO doubts (kind, packet_id, user, cents, at) VALUES (?, ?, ?, ?, ?)'),
      settle: db.prepare('UPDATE doubts SET outcome = ?, settled_at = ?, cents = ? WHERE kind = ? AND packet_id = ? AND user = ? AND outcome IS NULL'),
    };
  }

  apply(b: LedgerBatch): void {
    if (b.release || b.supplyStart || b.supplyStop) {
      // a cluster node's supply lives in Redis: nothing of it belongs in its journal
      throw new DivergenceError('a cluster node journal records no supply or release');
    }
    const h = b.hits;
    if (h) {
      for (let i = 0; i < h.count; i++) {
        try {
          this.s.hit.run(h.packetIds[i], h.users[i], h.cents[i], h.at);
        } catch (err) {
          if (!isConstraint(err)) throw err;
          const row = this.s.hitRow.get(h.packetIds[i]) as { user: number; cents: number } | undefined;
          throw new DivergenceError(`shake packet ${h.packetIds[i]} told twice: to user ${row?.user} and to user ${h.users[i]}`);
        }
      }
    }
    for (const c of b.creates ?? []) {
      try {
        this.s.create.run(
          c.id,
          c.sender,
          c.totalCents,
          c.shareCount,
          c.splitMode,
          c.expiresAt,
          c.createdAt,
          JSON.stringify(c.recipients),
          c.cover ? JSON.stringify(c.cover) : null,
        );
      } catch (err) {
        if (isConstraint(err)) throw new DivergenceError(`group packet ${c.id} created twice or with an invalid total or share count`);
        throw err;
      }
    }
    const o = b.opens;
    if (o) {
      for (let i = 0; i < o.count; i++) {
        if (this.s.share.run(o.packetIds[i], o.users[i], o.cents[i], o.at).changes === 1) continue;
        const had = this.s.shareRow.get(o.packetIds[i], o.users[i]) as number | undefined;
        if (had !== o.cents[i])
          throw new DivergenceError(`user ${o.users[i]} told two shares of group packet ${o.packetIds[i]}: ${had} and ${o.cents[i]} cents`);
      }
    }
    const r = b.refunds;
    if (r) {
      // a refund recorded again alike is the same refund (a settled sweep finds those already here)
      for (let i = 0; i < r.count; i++) {
        if (this.s.refund.run(r.packetIds[i], r.senders[i], r.cents[i], r.shares[i], r.at).changes === 1) continue;
        const had = this.s.refundRow.get(r.packetIds[i]) as { sender: number; cents: number; shares: number };
        if (had.sender !== r.senders[i] || had.cents !== r.cents[i] || had.shares !== r.shares[i]) {
          throw new DivergenceError(`group packet ${r.packetIds[i]} refunded twice, differently`);
        }
      }
    }
    for (const d of b.doubts ?? []) this.s.doubt.run(d.kind, d.packetId, d.user, d.cents, d.at);
    for (const s of b.settled ?? []) this.s.settle.run(s.outcome, s.at, s.cents, s.kind, s.packetId, s.user);
  }
}
