// Group-packet creates as the engine and the ledger take them, for both places that create
// packets (WebSocket creates in a turn, batch/creates.ts; the admin API and the campaign,
// groups.ts): one CreateBatch of typed arrays per call, one ledger record per created packet.
import type { CreateBatch, SplitMode } from '../../engine/types.ts';
import type { GroupCreateRecord } from '../../ledger/types.ts';
import type { Cover } from '../../protocol/codec.ts';

/** What a create asks for. */
export interface CreateSpec {
  sender: number;
  totalCents: number;
  shareCount: number;
  recipients: number[];
  cover: Cover | null;
}

/** The engine's batch of `specs`; item i expires at `expiresAt(i)`. */
export function createBatchOf(specs: readonly CreateSpec[], expiresAt: (i: number) => number): CreateBatch {
  const n = specs.length;
  let recipientCount = 0;
  for (const s of specs) recipientCount += s.recipients.length;
  const batch = {
    senders: new Uint32Array(n),
    totalCents: new Uint32Array(n),
    shareCounts: new Uint32Array(n),
    recipientOffsets: new Uint32Array(n + 1),
    recipients: new Uint32Array(recipientCount),
    expiresAt: new Float64Array(n),
    covers: specs.map((s) => s.cover),
  };
  let at = 0;
  for (let i = 0; i < n; i++) {
    const s = specs[i];
    batch.senders[i] = s.sender;
    batch.totalCents[i] = s.totalCents;
    batch.shareCounts[i] = s.shareCount;
    batch.recipients.set(s.recipients, at);
    at += s.recipients.length;
    batch.recipientOffsets[i + 1] = at;
    batch.expiresAt[i] = expiresAt(i);
  }
  return batch;
}

/** The ledger record of `spec`, created as packet `id`. */
export function createRecordOf(spec: CreateSpec, id: number, splitMode: SplitMode, expiresAt: number, createdAt: number): GroupCreateRecord {
  return {
    id,
    sender: spec.sender,
    totalCents: spec.totalCents,
    shareCount: spec.shareCount,
    splitMode,
    recipients: spec.recipients,
    expiresAt,
    createdAt,
    cover: spec.cover,
  };
}
