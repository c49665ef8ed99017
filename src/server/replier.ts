// Where a batched request's answer goes: a WebSocket session or a pending HTTP request. The
// batcher calls these without knowing which; each owns its encoding.
import type { PacketDetails } from '../engine/types.ts';
import type { Cover } from '../protocol/codec.ts';

export interface Replier {
  shakeResult(requestId: number, status: number, packetId: number, cents: number): void;
  openResult(requestId: number, status: number, packetId: number, cents: number): void;
  createResult(requestId: number, status: number, packetId: number): void;
  detailsResult(requestId: number, status: number, details: PacketDetails | null, cover: Cover | null): void;
}

export const EMPTY_COVER: Cover = Object.freeze({ title: '', colour: 0, story: '' });
