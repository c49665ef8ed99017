// Details requests of one turn: one engine lookup per packet, not per request (a 1000-share packet's
// details cost the native engine about a millisecond, so a crowd refreshing one popular packet — or
// a client that never reads, asking for it to fill its buffers — would otherwise cost a millisecond
// each), and one encoding per packet in Session, with each answer carrying its own request id.
import test from 'ava';
import { testBatcher } from './helpers/batcher.ts';
import type { Engine, PacketDetails } from '../src/engine/types.ts';
import type { Ledger } from '../src/ledger/types.ts';
import { decodeServerFrame, type Cover } from '../src/protocol/codec.ts';
import { CommonStatus, DetailsStatus, ServerType } from '../src/protocol/codes.ts';
import { newCounters } from '../src/server/counters.ts';
import type { Replier } from '../src/server/replier.ts';
import { Session } from '../src/server/session.ts';
import { present } from './helpers/present.ts';

function packet(id: number, opened: number): PacketDetails {
  return {
    id,
    sender: 1,
    totalCents: 10_000,
    shareCount: 1000,
    splitMode: 0,
    recipients: [],
    expiresAt: 1e13,
    opened: Array.from({ length: opened }, (_, i) => ({ user: 100 + i, cents: 3, order: i })),
    remainingCents: 10_000 - 3 * opened,
    remainingShares: 1000 - opened,
    refundedCents: 0,
    expired: false,
    bestLuck: opened > 0 ? 100 : null,
  } as PacketDetails;
}

function batcherWith(details: (id: number) => PacketDetails | null) {
  const calls: number[] = [];
  const engine = {
    kind: 'ts',
    details: (id: number) => {
      calls.push(id);
      if (id === 13) throw new Error('engine trouble');
      return details(id);
    },
  } as unknown as Engine;
  const ledger = { commit: async () => undefined, barrier: async () => undefined } as unknown as Ledger;
  const batcher = testBatcher(engine, ledger);
  return { batcher, calls };
}

class Collect implements Replier {
  readonly got: Array<{ requestId: number; status: number; details: PacketDetails | null }> = [];
  shakeResult(): void {}
  openResult(): void {}
  createResult(): void {}
  detailsResult(requestId: number, status: number, details: PacketDetails | null): void {
    this.got.push({ requestId, status, details });
  }
}

test('the details requests of one turn cost one engine lookup per packet, and each gets its answer', async (t) => {
  const { batcher, calls } = batcherWith((id) => (id === 7 || id === 8 ? packet(id, 5) : null));
  const target = new Collect();
  for (let i = 0; i < 300; i++) batcher.details(target, i, 7);
  for (let i = 300; i < 305; i++) batcher.details(target, i, 8);
  batcher.details(target, 400, 99);
  batcher.details(target, 401, 13);
  batcher.details(target, 402, 13);
  await batcher.idle();
  t.deepEqual(
    [...calls].sort((a, b) => a - b),
    [7, 8, 13, 99],
    'one lookup per distinct packet',
  );
  t.is(target.got.length, 308, 'every request is answered');
  t.deepEqual(
    target.got.map((g) => g.requestId),
    [...Array.from({ length: 305 }, (_, i) => i), 400, 401, 402],
    'in order, each with its own request id',
  );
  t.true(
    target.got.slice(0, 305).every((g) => g.status === DetailsStatus.Found && g.details !== null),
    'the known packets are Found',
  );
  t.like(target.got[305], { status: DetailsStatus.UnknownPacket, details: null }, 'an unknown packet is UnknownPacket');
  t.like(target.got[306], { status: CommonStatus.Unavailable }, 'a lookup that throws answers Unavailable');
  t.like(target.got[307], { status: CommonStatus.Unavailable }, 'for every request of that packet');
});

test('the next turn looks again: answers never come from an older turn', async (t) => {
  let opened = 1;
  const { batcher, calls } = batcherWith((id) => packet(id, opened));
  const target = new Collect();
  batcher.details(target, 1, 7);
  await batcher.idle();
  opened = 2;
  batcher.details(target, 2, 7);
  await batcher.idle();
  t.is(calls.length, 2, 'one lookup per turn');
  t.is(present(target.got[0].details, 'details in the first answer').opened.length, 1, 'the first turn saw one share');
  t.is(present(target.got[1].details, 'details in the second answer').opened.length, 2, 'the second turn sees two');
});

test('a session encodes the details of one lookup once and answers each request with its own id', (t) => {
  const sent: Uint8Array[] = [];
  const ws = {
    send: (frame: Uint8Array) => {
      sent.push(Uint8Array.from(frame));
      return 1;
    },
    getBufferedAmount: () => 0,
  };
  const s = new Session({ maxMessagesPerSecond: 50, maxErrors: 10, backpressureLimit: 65536 }, newCounters(), Date.now());
  s.ws = ws as never;
  const d = packet(7, 1000);
  const cover: Cover = { title: '新年快乐', colour: 0xff0000, story: 'x'.repeat(280) };
  s.detailsResult(11, DetailsStatus.Found, d, cover);
  s.detailsResult(12, DetailsStatus.Found, d, cover);
  s.detailsResult(13, DetailsStatus.Found, packet(7, 1000), null);
  const frames = sent.map((b) => decodeServerFrame(b));
  t.deepEqual(
    frames.map((f) => f.requestId),
    [11, 12, 13],
    'each answer carries its request id',
  );
  for (const f of frames) t.is(f.type, ServerType.DetailsResult, 'a details answer');
  const [a, b, c] = frames as Array<Extract<(typeof frames)[number], { type: typeof ServerType.DetailsResult }>>;
  t.deepEqual(a.details, b.details, 'the same details for the same lookup');
  const aDetails = present(a.details, 'details in the first answer');
  t.is(aDetails.opened.length, 1000, 'with all 1000 shares');
  t.deepEqual(aDetails.cover, cover, 'and the cover');
  t.deepEqual(
    present(c.details, 'details in the third answer').cover,
    { title: '', colour: 0, story: '' },
    'another lookup is encoded afresh (here without a cover)',
  );
});
