// Helpers for the ledger tests: temporary databases, small batch builders, and a driver that turns a
// list of commands into engine calls plus the ledger batches those calls produce (what the server does).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { CreateStatus, OpenStatus, ShakeStatus, type Engine, type SplitMode } from '../../src/engine/types.ts';
import type { CoverRecord, GroupCreateRecord, LedgerBatch } from '../../src/ledger/types.ts';

export const AT = 1_764_086_400_000;
export const FAR = 4_102_444_800_000; // 2100-01-01: nothing expires unless forced

/** A fresh directory removed when the test ends; returns the path of a database file inside it. */
export function tempDb(t: ExecutionContext, name = 'ledger.db'): string {
  const dir = mkdtempSync(join(tmpdir(), 'hongbao-ledger-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, name);
}

export const u32 = (xs: number[]): Uint32Array => Uint32Array.from(xs);

export function supplyStart(total: number, at = AT): LedgerBatch {
  return { supplyStart: { total, ratePerSecond: 200, rule: { kind: 'range', min: 1, max: 500 }, at } };
}

export function release(ids: number[], cents: number[], at = AT): LedgerBatch {
  return { release: { count: ids.length, ids: u32(ids), cents: u32(cents), at } };
}

export function hits(pairs: Array<[user: number, packetId: number, cents: number]>, at = AT): LedgerBatch {
  return {
    hits: { count: pairs.length, users: u32(pairs.map((p) => p[0])), packetIds: u32(pairs.map((p) => p[1])), cents: u32(pairs.map((p) => p[2])), at },
  };
}

export function group(
  id: number,
  totalCents: number,
  recipients: number[],
  opts: { sender?: number; shareCount?: number; splitMode?: SplitMode; cover?: CoverRecord | null; expiresAt?: number } = {},
): GroupCreateRecord {
  return {
    id,
    sender: opts.sender ?? 7,
    totalCents,
    shareCount: opts.shareCount ?? recipients.length,
    splitMode: opts.splitMode ?? 0,
    recipients,
    expiresAt: opts.expiresAt ?? FAR,
    createdAt: AT,
    cover: opts.cover ?? null,
  };
}

export function opens(triples: Array<[user: number, packetId: number, cents: number]>, at = AT): LedgerBatch {
  return {
    opens: {
      count: triples.length,
      users: u32(triples.map((p) => p[0])),
      packetIds: u32(triples.map((p) => p[1])),
      cents: u32(triples.map((p) => p[2])),
      at,
    },
  };
}

export function refunds(rows: Array<[packetId: number, sender: number, cents: number, shares: number]>, at = AT): LedgerBatch {
  return {
    refunds: {
      count: rows.length,
      packetIds: u32(rows.map((r) => r[0])),
      senders: u32(rows.map((r) => r[1])),
      cents: u32(rows.map((r) => r[2])),
      shares: u32(rows.map((r) => r[3])),
      at,
    },
  };
}

// ---- driving an engine the way the server does, recording what it would commit

export type Command =
  | { k: 'start'; total: number; min: number; max: number }
  | { k: 'stop' }
  | { k: 'release'; n: number }
  | { k: 'shake'; users: number[] }
  | { k: 'create'; sender: number; total: number; shares: number; recipients: number[]; cover: boolean }
  | { k: 'open'; picks: Array<[userPick: number, packetPick: number]> }
  | { k: 'expire'; picks: number[] };

/** Runs one command on the engine and returns the ledger batch for what moved (null if nothing did). */
export async function drive(engine: Engine, cmd: Command, splitMode: SplitMode, now: number): Promise<LedgerBatch | null> {
  switch (cmd.k) {
    case 'start':
      await engine.startSupply({ total: cmd.total, ratePerSecond: 10, rule: { kind: 'range', min: cmd.min, max: cmd.max } });
      return { supplyStart: { total: cmd.total, ratePerSecond: 10, rule: { kind: 'range', min: cmd.min, max: cmd.max }, at: now } };
    case 'stop':
      await engine.stopSupply();
      return { supplyStop: { at: now } };
    case 'release': {
      // Oversized, reused buffers, as a server keeps them: the ledger must copy [0, count).
      const out = { ids: new Uint32Array(cmd.n + 8), cents: new Uint32Array(cmd.n + 8) };
      const count = await engine.releaseSupply(cmd.n, out);
      return count > 0 ? { release: { count, ids: out.ids, cents: out.cents, at: now } } : null;
    }
    case 'shake': {
      const n = cmd.users.length;
      const out = { status: new Uint8Array(n), packetIds: new Uint32Array(n), cents: new Uint32Array(n) };
      await engine.shake(u32(cmd.users), out);
      const won = cmd.users
        .map((user, i) => [user, out.packetIds[i], out.cents[i]] as [number, number, number])
        .filter((_, i) => out.status[i] === ShakeStatus.Hit);
      return won.length > 0 ? hits(won, now) : null;
    }
    case 'create': {
      const batch = {
        senders: u32([cmd.sender]),
        totalCents: u32([cmd.total]),
        shareCounts: u32([cmd.shares]),
        recipientOffsets: u32([0, cmd.recipients.length]),
        recipients: u32(cmd.recipients),
        expiresAt: Float64Array.of(FAR),
      };
      const out = { status: new Uint8Array(1), packetIds: new Uint32Array(1) };
      await engine.createGroup(batch, out);
      if (out.status[0] !== CreateStatus.Ok) return null;
      const cover = cmd.cover ? { title: `packet ${out.packetIds[0]}`, colour: 0xff0000, story: '恭喜发财' } : null;
      return {
        creates: [{ ...group(out.packetIds[0], cmd.total, cmd.recipients, { sender: cmd.sender, shareCount: cmd.shares, splitMode, cover }), createdAt: now }],
      };
    }
    case 'open': {
      const totals = await engine.totals();
      if (totals.groupPackets === 0) return null;
      const users: number[] = [];
      const ids: number[] = [];
      for (const [userPick, packetPick] of cmd.picks) {
        const id = 1 + (packetPick % totals.groupPackets);
        const d = await engine.details(id);
        if (!d) continue;
        users.push(d.recipients[userPick % d.recipients.length]);
        ids.push(id);
      }
      const out = { status: new Uint8Array(users.length), cents: new Uint32Array(users.length) };
      await engine.open(u32(users), u32(ids), now, out);
      const ok = users.map((user, i) => [user, ids[i], out.cents[i]] as [number, number, number]).filter((_, i) => out.status[i] === OpenStatus.Ok);
      return ok.length > 0 ? opens(ok, now) : null;
    }
    case 'expire': {
      const totals = await engine.totals();
      if (totals.groupPackets === 0) return null;
      const cap = cmd.picks.length;
      const out = { packetIds: new Uint32Array(cap), senders: new Uint32Array(cap), cents: new Uint32Array(cap), shares: new Uint32Array(cap) };
      const n = await engine.expire(now, out, u32(cmd.picks.map((p) => 1 + (p % totals.groupPackets))));
      return n > 0 ? { refunds: { count: n, ...out, at: now } } : null;
    }
  }
}
