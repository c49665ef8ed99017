// The ledger's SQLite schema and connection settings. Integer cents only. The constraints are the
// last line of defence against paying twice: a shake packet has one `winner` column (set once by
// `UPDATE ... WHERE winner IS NULL`), an open is keyed by (packet, user) and must name a recipient,
// a refund is keyed by packet. Counters kept on `group_packets` (opened_*, refunded_*) let the
// writer check every open against the packet in O(1); `hongbao ledger check` re-derives them from
// the `opens` and `refunds` tables.
import Database from 'better-sqlite3';
import { JOURNAL_SCHEMA_SQL } from './journal.ts';
import type { LedgerKind } from './types.ts';

export const SCHEMA_VERSION = 1;

/** Every ledger file: its schema version, what it records (0 the server's engine ledger, 1 a cluster
 *  node's journal: src/ledger/journal.ts) and the writer's probe counter. */
const META_SQL = (kind: LedgerKind) => `
CREATE TABLE IF NOT EXISTS meta (
  key   TEXT PRIMARY KEY,
  value INTEGER NOT NULL
);
INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ${SCHEMA_VERSION}), ('probe', 0), ('ledger_kind', ${kind === 'journal' ? 1 : 0});
`;

export const SCHEMA_SQL = `

-- One row per startSupply / stopSupply. 'released' counts the packets released under a start row.
CREATE TABLE IF NOT EXISTS supply_events (
  seq      INTEGER PRIMARY KEY AUTOINCREMENT,
  kind     TEXT    NOT NULL CHECK (kind IN ('start', 'stop')),
  total    INTEGER CHECK (total >= 0),
  rate     REAL,
  rule     TEXT,
  released INTEGER NOT NULL DEFAULT 0 CHECK (released >= 0),
  at       INTEGER NOT NULL,
  CHECK (kind = 'stop' OR (total IS NOT NULL AND rate IS NOT NULL AND rule IS NOT NULL)),
  CHECK (total IS NULL OR released <= total)
);

CREATE TABLE IF NOT EXISTS shake_packets (
  id          INTEGER PRIMARY KEY CHECK (id >= 1),
  cents       INTEGER NOT NULL CHECK (cents >= 1),
  supply_seq  INTEGER NOT NULL REFERENCES supply_events (seq),
  released_at INTEGER NOT NULL,
  winner      INTEGER,
  won_at      INTEGER,
  CHECK ((winner IS NULL) = (won_at IS NULL))
);
CREATE INDEX IF NOT EXISTS shake_packets_supply ON shake_packets (supply_seq);

CREATE TABLE IF NOT EXISTS group_packets (
  id              INTEGER PRIMARY KEY CHECK (id >= 1),
  sender          INTEGER NOT NULL,
  total_cents     INTEGER NOT NULL CHECK (total_cents >= 1),
  share_count     INTEGER NOT NULL CHECK (share_count >= 1 AND share_count <= total_cents),
  split_mode      INTEGER NOT NULL CHECK (split_mode IN (0, 1)),
  expires_at      REAL    NOT NULL,
  created_at      INTEGER NOT NULL,
  cover_title     TEXT,
  cover_colour    INTEGER,
  cover_story     TEXT,
  opened_count    INTEGER NOT NULL DEFAULT 0 CHECK (opened_count >= 0),
  opened_cents    INTEGER NOT NULL DEFAULT 0 CHECK (opened_cents >= 0),
  expired         INTEGER NOT NULL DEFAULT 0 CHECK (expired IN (0, 1)),
  expired_at      INTEGER,
  refunded_cents  INTEGER NOT NULL DEFAULT 0 CHECK (refunded_cents >= 0),
  refunded_shares INTEGER NOT NULL DEFAULT 0 CHECK (refunded_shares >= 0),
  CHECK (opened_count + refunded_shares <= share_count),
  CHECK (opened_cents + refunded_cents <= total_cents)
);

-- Recipients in the order the sender listed them (pos); a user appears once per packet.
CREATE TABLE IF NOT EXISTS group_recipients (
  packet_id INTEGER NOT NULL REFERENCES group_packets (id),
  pos       INTEGER NOT NULL CHECK (pos >= 0),
  user      INTEGER NOT NULL,
  PRIMARY KEY (packet_id, user),
  UNIQUE (packet_id, pos)
) WITHOUT ROWID;

-- One row per share paid. The primary key makes a second payment to the same user impossible,
-- the foreign key a payment to a non-recipient.
CREATE TABLE IF NOT EXISTS opens (
  packet_id INTEGER NOT NULL,
  user      INTEGER NOT NULL,
  cents     INTEGER NOT NULL CHECK (cents >= 1),
  ord       INTEGER NOT NULL CHECK (ord >= 0),
  at        INTEGER NOT NULL,
  PRIMARY KEY (packet_id, user),
  UNIQUE (packet_id, ord),
  FOREIGN KEY (packet_id, user) REFERENCES group_recipients (packet_id, user)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS refunds (
  packet_id INTEGER PRIMARY KEY REFERENCES group_packets (id),
  sender    INTEGER NOT NULL,
  cents     INTEGER NOT NULL CHECK (cents >= 0),
  shares    INTEGER NOT NULL CHECK (shares >= 0),
  at        INTEGER NOT NULL,
  CHECK (cents >= shares AND (shares > 0 OR cents = 0))
);

`;

export interface OpenDatabaseOptions {
  /** PRAGMA busy_timeout, ms. Default 5000. */
  busyTimeoutMs?: number;
  /** Open for reading only (the check tool): the file must exist, the schema is not created, and
   *  the connection is query_only. It is opened read-write when it can be, so that closing it as
   *  the last connection removes the -wal and -shm files as the writer does. */
  readonly?: boolean;
  /** What the file records (default 'engine'); a file of the other kind is refused. */
  kind?: LedgerKind;
}

/** The writer's page cache, KiB. better-sqlite3 builds SQLite with a 16 MB default, which the writer
 *  fills with pages of old rows as the file grows (RSS rose ~1.5 MiB a minute for ten minutes of the
 *  soak); its writes land on the right edges of the B-trees (ids and packet ids only grow) and on
 *  packets still being opened, a working set far smaller than that. */
export const WRITER_CACHE_KIB = 4096;

/** Opens (and on first use creates) a ledger database with the durability settings the design asks for. */
export function openDatabase(path: string, options: OpenDatabaseOptions = {}): Database.Database {
  if (options.readonly) {
    let db: Database.Database;
    try {
      db = new Database(path, { fileMustExist: true });
    } catch {
      db = new Database(path, { readonly: true, fileMustExist: true });
    }
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
    db.pragma('query_only = ON');
    return db;
  }
  const db = new Database(path);
  try {
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
    db.pragma('foreign_keys = ON');
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (String(mode).toLowerCase() !== 'wal') throw new Error(`could not switch ${path} to WAL (journal_mode is ${String(mode)})`);
    db.pragma('synchronous = FULL');
    db.pragma(`cache_size = -${WRITER_CACHE_KIB}`);
    const kind = options.kind ?? 'engine';
    // a file made before the kind was recorded is a server ledger
    if (db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'`).get() !== undefined) {
      db.exec(`INSERT OR IGNORE INTO meta (key, value) VALUES ('ledger_kind', 0)`);
    }
    db.exec(META_SQL(kind));
    const version = db.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).pluck().get();
    if (version !== SCHEMA_VERSION) throw new Error(`${path} has ledger schema version ${String(version)}, this build knows ${SCHEMA_VERSION}`);
    const found = ledgerKindOf(db);
    if (found !== kind) {
      throw new Error(
        `${path} is ${found === 'journal' ? "a cluster node's journal" : "a single server's ledger"}; this server needs ${kind === 'journal' ? 'a journal (a --redis node)' : 'a server ledger (no --redis)'}`,
      );
    }
    db.exec(kind === 'journal' ? JOURNAL_SCHEMA_SQL : SCHEMA_SQL);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

/** What a ledger file records (files made before the kind was written are engine ledgers). */
export function ledgerKindOf(db: Database.Database): LedgerKind {
  const v = db.prepare(`SELECT value FROM meta WHERE key = 'ledger_kind'`).pluck().get();
  return v === 1 ? 'journal' : 'engine';
}
