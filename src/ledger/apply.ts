// Applies one LedgerBatch to the database inside the writer's open transaction, checking every
// record against what the ledger already holds. Three outcomes per batch:
// - success;
// - DivergenceError: the batch contradicts the ledger (paid twice, shares that break a total, ...);
// - MissingDependencyError: a record names a packet (or supply) the ledger has not seen yet. With
//   several threads submitting, a hit can reach the writer before the release that created its
//   packet; the writer retries such a batch after the others instead of failing it at once.
// Any other error (SQLITE_FULL, SQLITE_IOERR, ...) is the database failing, not the batch.
import type Database from 'better-sqlite3';
import type { GroupCreateRecord, LedgerBatch } from './types.ts';

export class DivergenceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DivergenceError';
  }
}

export class MissingDependencyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MissingDependencyError';
  }
}

function isConstraint(err: unknown): err is Error & { code: string } {
  const code = err instanceof Error ? (err as Error & { code?: unknown }).code : undefined;
  return typeof code === 'string' && code.startsWith('SQLITE_CONSTRAINT');
}

/** Runs `fn`; a constraint violation becomes a DivergenceError saying what it means. */
function guarded<T>(what: (code: string) => string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (isConstraint(err)) throw new DivergenceError(`${what(err.code)} (${err.code})`);
    throw err;
  }
}

interface PacketRow {
  sender: number;
  total_cents: number;
  share_count: number;
  opened_count: number;
  opened_cents: number;
  expired: number;
}

export class BatchApplier {
  private readonly s;

  constructor(db: Database.Database) {
    this.s = {
      supplyStart: db.prepare(`INSERT INTO supply_events (kind, total, rate, rule, at) VALUES ('start', ?, ?, ?, ?)`),
      supplyStop: db.prepare(`INSERT INTO supply_events (kind, at) VALUES ('stop', ?)`),
      currentSupply: db.prepare(`SELECT seq, total, released FROM supply_events WHERE kind = 'start' ORDER BY seq DESC LIMIT 1`),
      addReleased: db.prepare(`UPDATE supply_events SET released = released + @n WHERE seq = @seq AND released + @n <= total`),
      release: db.prepare(`INSERT INTO shake_packets (id, cents, supply_seq, released_at) VALUES (?, ?, ?, ?)`),
      win: db.prepare(`UPDATE shake_packets SET winner = ?, won_at = ? WHERE id = ? AND cents = ? AND winner IS NULL`),
      shakePacket: db.prepare(`SELECT cents, winner FROM shake_packets WHERE id = ?`),
      create: db.prepare(
        `INSERT INTO group_packets (id, sender, total_cents, share_count, split_mode, expires_at, created_at, cover_title, cover_colour, cover_story)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      recipient: db.prepare(`INSERT INTO group_recipients (packet_id, pos, user) VALUES (?, ?, ?)`),
      packet: db.prepare(`SELECT sender, total_cents, share_count, opened_count, opened_cents, expired FROM group_packets WHERE id = ?`),
      // Takes the next share only if the packet can still pay it: not expired, a share left, and at
      // least one cent left for every other unopened share (the last share takes exactly the rest).
      takeShare: db
        .prepare(
          `UPDATE group_packets SET opened_count = opened_count + 1, opened_cents = opened_cents + @cents
           WHERE id = @id AND expired = 0 AND opened_count < share_count
             AND total_cents - opened_cents - @cents >= share_count - opened_count - 1
             AND (opened_count + 1 < share_count OR opened_cents + @cents = total_cents)
           RETURNING opened_count - 1 AS ord`,
        )
        .pluck(),
      open: db.prepare(`INSERT INTO opens (packet_id, user, cents, ord, at) VALUES (?, ?, ?, ?, ?)`),
      expire: db.prepare(`UPDATE group_packets SET expired = 1, expired_at = ?, refunded_cents = ?, refunded_shares = ? WHERE id = ? AND expired = 0`),
      refund: db.prepare(`INSERT INTO refunds (packet_id, sender, cents, shares, at) VALUES (?, ?, ?, ?, ?)`),
    };
  }

  apply(b: LedgerBatch): void {
    if (b.supplyStart) {
      const { total, ratePerSecond, rule, at } = b.supplyStart;
      this.s.supplyStart.run(total, ratePerSecond, JSON.stringify(rule), at);
    }
    if (b.supplyStop) this.s.supplyStop.run(b.supplyStop.at);
    if (b.release && b.release.count > 0) this.release(b.release);
    if (b.hits && b.hits.count > 0) this.hits(b.hits);
    if (b.creates) for (const c of b.creates) this.create(c);
    if (b.opens && b.opens.count > 0) this.opens(b.opens);
    if (b.refunds && b.refunds.count > 0) this.refunds(b.refunds);
  }

  private release(r: NonNullable<LedgerBatch['release']>): void {
    const supply = this.s.currentSupply.get() as { seq: number; total: number; released: number } | undefined;
    if (!supply) throw new MissingDependencyError(`a release of ${r.count} shake packets before any supply was started`);
    if (this.s.addReleased.run({ n: r.count, seq: supply.seq }).changes !== 1) {
      throw new DivergenceError(`supply ${supply.seq} would release ${supply.released} + ${r.count} packets, more than its total ${supply.total}`);
    }
    for (let i = 0; i < r.count; i++) {
      const id = r.ids[i];
      guarded(
        () => `shake packet ${id} released twice or with ${r.cents[i]} cents`,
        () => this.s.release.run(id, r.cents[i], supply.seq, r.at),
      );
    }
  }

  private hits(h: NonNullable<LedgerBatch['hits']>): void {
    for (let i = 0; i < h.count; i++) {
      const id = h.packetIds[i];
      const user = h.users[i];
      const cents = h.cents[i];
      if (this.s.win.run(user, h.at, id, cents).changes === 1) continue;
      const row = this.s.shakePacket.get(id) as { cents: number; winner: number | null } | undefined;
      if (!row) throw new MissingDependencyError(`shake packet ${id} won by user ${user} was never released`);
      if (row.winner !== null) throw new DivergenceError(`shake packet ${id} won twice: by user ${row.winner} and by user ${user}`);
      throw new DivergenceError(`shake packet ${id} holds ${row.cents} cents, the hit of user ${user} says ${cents}`);
    }
  }

  private create(c: GroupCreateRecord): void {
    if (!Array.isArray(c.recipients) || c.shareCount > c.recipients.length) {
      throw new DivergenceError(`group packet ${c.id} has ${c.shareCount} shares for ${c.recipients?.length ?? 0} recipients`);
    }
    const cover = c.cover;
    guarded(
      () => `group packet ${c.id} created twice or with an invalid total/share count (${c.totalCents} cents, ${c.shareCount} shares)`,
      () =>
        this.s.create.run(
          c.id,
          c.sender,
          c.totalCents,
          c.shareCount,
          c.splitMode,
          c.expiresAt,
          c.createdAt,
          cover?.title ?? null,
          cover?.colour ?? null,
          cover?.story ?? null,
        ),
    );
    c.recipients.forEach((user, pos) => {
      guarded(
        () => `group packet ${c.id} lists recipient ${user} twice`,
        () => this.s.recipient.run(c.id, pos, user),
      );
    });
  }

  private opens(o: NonNullable<LedgerBatch['opens']>): void {
    for (let i = 0; i < o.count; i++) {
      const id = o.packetIds[i];
      const user = o.users[i];
      const cents = o.cents[i];
      const ord = this.s.takeShare.get({ cents, id }) as number | undefined;
      if (ord === undefined) this.explainRefusedOpen(id, user, cents);
      guarded(
        (code) =>
          code === 'SQLITE_CONSTRAINT_FOREIGNKEY'
            ? `user ${user} is not a recipient of group packet ${id}`
            : code === 'SQLITE_CONSTRAINT_PRIMARYKEY'
              ? `user ${user} paid twice for group packet ${id}`
              : `a share of ${cents} cents to user ${user} from group packet ${id} (every share is at least 1 cent)`,
        () => this.s.open.run(id, user, cents, ord, o.at),
      );
    }
  }

  private explainRefusedOpen(id: number, user: number, cents: number): never {
    const p = this.s.packet.get(id) as PacketRow | undefined;
    if (!p) throw new MissingDependencyError(`group packet ${id} opened by user ${user} was never created`);
    if (p.expired) throw new DivergenceError(`group packet ${id} opened by user ${user} after its refund`);
    if (p.opened_count >= p.share_count) throw new DivergenceError(`group packet ${id} opened by user ${user} after all ${p.share_count} shares were paid`);
    const leftCents = p.total_cents - p.opened_cents - cents;
    const leftShares = p.share_count - p.opened_count - 1;
    throw new DivergenceError(
      `group packet ${id}: a share of ${cents} cents to user ${user} leaves ${leftCents} cents for ${leftShares} shares (total ${p.total_cents}, ${p.opened_cents} paid)`,
    );
  }

  private refunds(r: NonNullable<LedgerBatch['refunds']>): void {
    for (let i = 0; i < r.count; i++) {
      const id = r.packetIds[i];
      const cents = r.cents[i];
      const shares = r.shares[i];
      const p = this.s.packet.get(id) as PacketRow | undefined;
      if (!p) throw new MissingDependencyError(`group packet ${id} refunded but never created`);
      if (p.expired) throw new DivergenceError(`group packet ${id} refunded twice`);
      if (p.sender !== r.senders[i]) throw new DivergenceError(`group packet ${id} was sent by ${p.sender}, its refund goes to ${r.senders[i]}`);
      const leftShares = p.share_count - p.opened_count - shares;
      const leftCents = p.total_cents - p.opened_cents - cents;
      if (leftShares < 0 || leftCents < leftShares || (leftShares === 0 && leftCents !== 0)) {
        throw new DivergenceError(
          `group packet ${id}: refund of ${cents} cents / ${shares} shares does not match ${p.total_cents - p.opened_cents} cents / ${p.share_count - p.opened_count} shares unopened`,
        );
      }
      // Shares are unaccounted for: opens the engine made before the expiry are still on their way.
      if (leftShares > 0) throw new MissingDependencyError(`group packet ${id} refunded while ${leftShares} of its opens have not reached the ledger`);
      this.s.expire.run(r.at, cents, shares, id);
      guarded(
        () => `group packet ${id} refunded twice`,
        () => this.s.refund.run(id, r.senders[i], cents, shares, r.at),
      );
    }
  }
}
