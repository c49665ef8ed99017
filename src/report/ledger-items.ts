// Every money-moving item of a ledger database, for the item-by-item reconciliation with the clients.
import { openDatabase } from '../ledger/schema.ts';

export interface LedgerItems {
  /** shake packets won: [packetId, winner, cents] */
  hits: Array<[number, number, number]>;
  /** group shares paid: [packetId, user, cents] */
  shares: Array<[number, number, number]>;
  /** group packets: [packetId, totalCents, shareCount] */
  packets: Array<[number, number, number]>;
  /** cluster only: hits and shares whose users were answered Unavailable (a move in doubt) and that
   *  Redis had made after all (settled `paid` in a node's journal): [packetId, user, cents] */
  paidAfterUnavailable?: { hits: Array<[number, number, number]>; shares: Array<[number, number, number]> };
}

export function readLedgerItems(dbPath: string): LedgerItems {
  const db = openDatabase(dbPath, { readonly: true });
  try {
    const rows = <T>(sql: string) => db.prepare(sql).raw(true).all() as T[];
    return {
      hits: rows<[number, number, number]>('SELECT id, winner, cents FROM shake_packets WHERE winner IS NOT NULL ORDER BY id'),
      shares: rows<[number, number, number]>('SELECT packet_id, user, cents FROM opens ORDER BY packet_id, user'),
      packets: rows<[number, number, number]>('SELECT id, total_cents, share_count FROM group_packets ORDER BY id'),
    };
  } finally {
    db.close();
  }
}
