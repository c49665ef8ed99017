// The codec's own contract, beside the server tests that use it over real sockets.
import test from 'ava';
import { decodeClientFrame, decodeServerFrame, encodeDetailsResult, FrameError } from '../src/protocol/codec.ts';
import { DetailsStatus, ErrorCode, ServerType } from '../src/protocol/codes.ts';

const body = {
  id: 7,
  sender: 1,
  totalCents: 300,
  shareCount: 3,
  splitMode: 0 as const,
  expired: false,
  remainingCents: 300,
  remainingShares: 3,
  refundedCents: 0,
  expiresAt: 1e12,
  bestLuck: null,
  cover: { title: '', colour: 0, story: '' },
  opened: [],
};

test('a frame the decoder refuses is an Error (name FrameError) carrying the Error code to answer', (t) => {
  const e = decodeClientFrame(new Uint8Array([9, 2, 0, 0, 0, 0]));
  t.true(e instanceof FrameError, 'a FrameError is returned');
  t.true(e instanceof Error, 'and it is an Error');
  t.is((e as FrameError).name, 'FrameError', 'named for what it is');
  t.is((e as FrameError).code, ErrorCode.BadVersion, 'with the error code to answer');
});

test('a details answer follows its status: not Found is the short frame even when details are given', (t) => {
  const notFound = decodeServerFrame(encodeDetailsResult(5, DetailsStatus.UnknownPacket, body));
  t.like(notFound, { type: ServerType.DetailsResult, requestId: 5, status: DetailsStatus.UnknownPacket }, 'the status given is the status sent');
  t.is(encodeDetailsResult(5, DetailsStatus.UnknownPacket, body).length, 7, 'the short frame: header and status');
  const found = decodeServerFrame(encodeDetailsResult(6, DetailsStatus.Found, body));
  t.like(found, { type: ServerType.DetailsResult, requestId: 6, status: DetailsStatus.Found }, 'Found carries the details');
  t.throws(() => encodeDetailsResult(6, DetailsStatus.Found, null), { instanceOf: RangeError }, 'Found without details is a bug, not a frame');
});
