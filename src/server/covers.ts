// The covers of group packets (title, colour, story) an app thread answers Details with, kept
// until the packet itself is evicted from the engine (--retain-expired-ms after its expiry), so
// that they do not pile up for every packet ever made.
import { ExpiryHeap } from '../engine/ts-group.ts';
import type { LedgerSnapshot } from '../ledger/types.ts';
import type { Cover } from '../protocol/codec.ts';

export type CoverEntry = [packetId: number, cover: Cover, expiresAt: number];

export class CoverBook {
  private readonly byId = new Map<number, Cover>();
  private expiry = new ExpiryHeap();

  constructor(entries: CoverEntry[] = []) {
    this.replace(entries);
  }

  get size(): number {
    return this.byId.size;
  }

  get(packetId: number): Cover | undefined {
    return this.byId.get(packetId);
  }

  set(packetId: number, cover: Cover, expiresAt: number): void {
    if (!this.byId.has(packetId)) this.expiry.push(expiresAt, packetId);
    this.byId.set(packetId, cover);
  }

  /** After a rebuild from the ledger: exactly these covers. */
  replace(entries: CoverEntry[]): void {
    this.byId.clear();
    this.expiry = new ExpiryHeap();
    for (const [id, cover, expiresAt] of entries) this.set(id, cover, expiresAt);
  }

  /** Drops the covers of packets expiring at or before `beforeMs` (the engine evicted them). */
  evict(beforeMs: number): void {
    while (this.expiry.size > 0 && this.expiry.peekAt() <= beforeMs) this.byId.delete(this.expiry.pop());
  }
}

/** The covers of a ledger snapshot, each with its packet's expiry. */
export function coverEntries(snapshot: LedgerSnapshot): CoverEntry[] {
  const expiresAt = new Map(snapshot.engine.groups.map((g) => [g.id, g.expiresAt]));
  return [...snapshot.covers.entries()].map(([id, cover]) => [id, cover, expiresAt.get(id) ?? Infinity]);
}
