// WebSocket frames for the fuzzer: random bytes, valid frames of every type, and mutations of them
// (truncated, extended, wrong version, unknown type, lying length fields, oversize, spliced), plus
// valid frames aimed at other users' packets and logins as someone else. `expect` is the oracle:
// what docs/protocol.md says the server answers to a frame in a connection's state, written from the
// document (not from the codec), so a decoder that drifts from the document shows up.
import { ClientType, CloseCode, CommonStatus, ErrorCode, ServerType } from '../../src/protocol/codes.ts';
import type { Rng } from './rng.ts';

export interface FrameContext {
  /** this connection's user */
  user: number;
  /** a valid token for `user` */
  token: string;
  /** a token for `user` that expired */
  expiredToken: string;
  /** ids of packets that exist (owned by other users: this user is never a recipient) */
  packetIds: number[];
  maxPayload: number;
}

export interface Generated {
  bytes: Uint8Array;
  /** send as a text frame (the bytes are valid UTF-8) */
  text: boolean;
  kind: string;
}

export type Expectation =
  | { kind: 'error'; code: number; type: number; requestId: number }
  | { kind: 'result'; type: number; requestId: number; createStatus?: number; packetId?: number }
  | { kind: 'login'; requestId: number; userId: number; token: string }
  | { kind: 'close'; codes: number[] };

const HEADER = 6;
const MAX_TITLE = 40;
const MAX_STORY = 280;
const MAX_LIST = 1000;
const MAX_CENTS = 100_000_000;
const utf8 = new TextDecoder('utf-8', { fatal: true });
const enc = new TextEncoder();

function u32(b: Uint8Array, at: number): number {
  return (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
}

function u16(b: Uint8Array, at: number): number {
  return b[at] | (b[at + 1] << 8);
}

function isUtf8(b: Uint8Array): boolean {
  try {
    utf8.decode(b);
    return true;
  } catch {
    return false;
  }
}

/**
 * What the server must answer to `b` on a connection that is (or is not) logged in, before any
 * error limit: an Error frame, a result frame of a type, a login to verify, or a close.
 */
export function expect(b: Uint8Array, loggedIn: boolean, maxPayload: number): Expectation {
  if (b.length > maxPayload) return { kind: 'close', codes: [1006, 1009] };
  if (b.length < HEADER) return { kind: 'error', code: ErrorCode.BadLength, type: 0, requestId: 0 };
  const version = b[0];
  const type = b[1];
  const requestId = u32(b, 2);
  const err = (code: number) => ({ kind: 'error' as const, code, type, requestId });
  if (version !== 1) return err(ErrorCode.BadVersion);
  const gated = (e: Expectation): Expectation => (loggedIn ? e : err(ErrorCode.NotLoggedIn));
  switch (type) {
    case ClientType.Shake:
      return b.length === HEADER ? gated({ kind: 'result', type: ServerType.ShakeResult, requestId }) : err(ErrorCode.BadLength);
    case ClientType.Open:
    case ClientType.Details:
      if (b.length !== HEADER + 4) return err(ErrorCode.BadLength);
      return gated({ kind: 'result', type: type === ClientType.Open ? ServerType.OpenResult : ServerType.DetailsResult, requestId, packetId: u32(b, HEADER) });
    case ClientType.Login: {
      if (b.length < HEADER + 5) return err(ErrorCode.BadLength);
      const n = b[HEADER + 4];
      if (b.length !== HEADER + 5 + n) return err(ErrorCode.BadLength);
      const token = b.subarray(HEADER + 5);
      if (!isUtf8(token)) return err(ErrorCode.BadField);
      if (loggedIn) return err(ErrorCode.AlreadyLoggedIn);
      return { kind: 'login', requestId, userId: u32(b, HEADER), token: new TextDecoder().decode(token) };
    }
    case ClientType.Create:
      return expectCreate(b, loggedIn, requestId);
    default:
      return err(ErrorCode.UnknownType);
  }
}

function expectCreate(b: Uint8Array, loggedIn: boolean, requestId: number): Expectation {
  const type = ClientType.Create;
  const err = (code: number) => ({ kind: 'error' as const, code, type, requestId });
  // 6 total, 10 shares, 12 mode, 13 r, 15 recipients, then t, title, colour, s, story
  if (b.length < 15) return err(ErrorCode.BadLength);
  const r = u16(b, 13);
  const tAt = 15 + 4 * r;
  if (b.length < tAt + 1) return err(ErrorCode.BadLength);
  const t = b[tAt];
  const colourAt = tAt + 1 + t;
  if (b.length < colourAt + 6) return err(ErrorCode.BadLength);
  const s = u16(b, colourAt + 4);
  if (b.length !== colourAt + 6 + s) return err(ErrorCode.BadLength);
  if (b[12] > 1) return err(ErrorCode.BadField);
  const colour = u32(b, colourAt);
  const badCover = t > MAX_TITLE || s > MAX_STORY || colour > 0xffffff || !isUtf8(b.subarray(tAt + 1, colourAt)) || !isUtf8(b.subarray(colourAt + 6));
  if (badCover) return loggedIn ? { kind: 'result', type: ServerType.CreateResult, requestId, createStatus: 0x10 } : err(ErrorCode.BadField);
  if (!loggedIn) return err(ErrorCode.NotLoggedIn);
  const total = u32(b, 6);
  const shares = u16(b, 10);
  const recipients = new Set<number>();
  for (let i = 0; i < r; i++) recipients.add(u32(b, 15 + 4 * i));
  let status = 0;
  if (r === 0 || r > MAX_LIST || recipients.size !== r) status = 4;
  else if (shares === 0 || shares > MAX_LIST || shares > r) status = 2;
  else if (total === 0 || total > MAX_CENTS) status = 3;
  else if (total < shares) status = 1;
  return { kind: 'result', type: ServerType.CreateResult, requestId, createStatus: status };
}

/** Statuses a result frame may carry besides the operation's own. */
export const COMMON = [CommonStatus.Overloaded, CommonStatus.Unavailable];
export const CLOSE_TOO_MANY_ERRORS = CloseCode.TooManyErrors;

// ---- generation ---------------------------------------------------------------------------------

function header(type: number, requestId: number, bodyLength: number, version = 1): Uint8Array {
  const b = new Uint8Array(HEADER + bodyLength);
  b[0] = version;
  b[1] = type;
  new DataView(b.buffer).setUint32(2, requestId >>> 0, true);
  return b;
}

function login(requestId: number, user: number, token: string): Uint8Array {
  const t = enc.encode(token);
  const b = header(ClientType.Login, requestId, 5 + t.length);
  new DataView(b.buffer).setUint32(HEADER, user >>> 0, true);
  b[HEADER + 4] = t.length & 0xff;
  b.set(t, HEADER + 5);
  return b;
}

function packetFrame(type: number, requestId: number, packetId: number): Uint8Array {
  const b = header(type, requestId, 4);
  new DataView(b.buffer).setUint32(HEADER, packetId >>> 0, true);
  return b;
}

function create(rng: Rng, requestId: number, user: number): Uint8Array {
  const r = rng.chance(0.05) ? 0 : rng.range(1, rng.chance(0.05) ? 1100 : 5);
  const title = enc.encode(rng.pick(['', '恭喜发财', 'x'.repeat(rng.range(0, 45)), 'é']));
  const story = enc.encode(rng.pick(['', 'gong xi', 'y'.repeat(rng.range(0, 290))]));
  const b = new Uint8Array(15 + 4 * r + 1 + title.length + 6 + story.length);
  const dv = new DataView(b.buffer);
  b[0] = 1;
  b[1] = ClientType.Create;
  dv.setUint32(2, requestId >>> 0, true);
  dv.setUint32(6, rng.pick([0, 1, 2, rng.range(1, 5000), MAX_CENTS, MAX_CENTS + 1, 0xffffffff]), true);
  dv.setUint16(10, rng.pick([0, 1, 2, 3, rng.range(0, 1200)]), true);
  b[12] = rng.chance(0.9) ? rng.int(2) : rng.range(2, 255);
  dv.setUint16(13, r, true);
  for (let i = 0; i < r; i++) dv.setUint32(15 + 4 * i, rng.chance(0.1) ? user : rng.chance(0.1) ? 7 : rng.range(1, 50_000), true);
  let at = 15 + 4 * r;
  b[at] = title.length & 0xff;
  b.set(title, at + 1);
  at += 1 + title.length;
  dv.setUint32(at, rng.chance(0.9) ? rng.int(0x1000000) : rng.range(0x1000000, 0xffffffff), true);
  dv.setUint16(at + 4, story.length, true);
  b.set(story, at + 6);
  return b;
}

/** A valid frame of some type, as this user. */
function valid(rng: Rng, ctx: FrameContext, requestId: number): Uint8Array {
  switch (rng.int(6)) {
    case 0:
      return header(ClientType.Shake, requestId, 0);
    case 1:
      return packetFrame(ClientType.Open, requestId, rng.chance(0.7) && ctx.packetIds.length ? rng.pick(ctx.packetIds) : rng.int(2 ** 32));
    case 2:
      return packetFrame(ClientType.Details, requestId, rng.chance(0.7) && ctx.packetIds.length ? rng.pick(ctx.packetIds) : rng.int(2 ** 32));
    case 3:
      return create(rng, requestId, ctx.user);
    case 4: // logins: as someone else with my token, expired, or my own
      return rng.chance(0.5)
        ? login(requestId, ctx.user + 1 + rng.int(1000), ctx.token)
        : login(requestId, ctx.user, rng.chance(0.5) ? ctx.expiredToken : ctx.token);
    default:
      return login(
        requestId,
        ctx.user,
        rng.pick(['', 'hello', `${ctx.user}.9999999999.${'A'.repeat(43)}`, ctx.token.slice(0, -1) + (ctx.token.endsWith('A') ? 'Q' : 'A')]),
      );
  }
}

function mutate(rng: Rng, b: Uint8Array, maxPayload: number): Uint8Array {
  const copy = () => Uint8Array.from(b);
  switch (rng.int(9)) {
    case 0: // truncate
      return b.subarray(0, rng.int(b.length + 1));
    case 1: {
      // extend with junk
      const out = new Uint8Array(b.length + rng.range(1, 40));
      out.set(b);
      out.set(rng.bytes(out.length - b.length), b.length);
      return out;
    }
    case 2: {
      const out = copy();
      if (out.length) out[rng.int(out.length)] ^= 1 << rng.int(8);
      return out;
    }
    case 3: {
      const out = copy();
      for (let i = rng.range(1, 4); i > 0 && out.length; i--) out[rng.int(out.length)] = rng.int(256);
      return out;
    }
    case 4: {
      const out = copy();
      if (out.length) out[0] = rng.pick([0, 2, 255, rng.int(256)]);
      return out;
    }
    case 5: {
      const out = copy();
      if (out.length > 1) out[1] = rng.pick([0, 6, 0x7f, 0x81, 0xee, rng.int(256)]);
      return out;
    }
    case 6: {
      // lie in a length field: token length (login), recipient count, title or story length (create)
      const out = copy();
      if (out.length > 10 && out[1] === ClientType.Login) out[10] = rng.int(256);
      else if (out.length > 15 && out[1] === ClientType.Create) {
        const at = rng.pick([13, 14, 15 + 4 * u16(out, 13)]);
        if (at < out.length) out[at] = rng.int(256);
      }
      return out;
    }
    case 7: {
      // two frames glued together
      const out = new Uint8Array(b.length * 2);
      out.set(b);
      out.set(b, b.length);
      return out.length > maxPayload ? b : out;
    }
    default:
      return new Uint8Array(0);
  }
}

/** One fuzz frame for a connection of `ctx.user`. */
export function generate(rng: Rng, ctx: FrameContext, requestId: number): Generated {
  const roll = rng.int(100);
  let bytes: Uint8Array;
  let kind: string;
  if (roll < 15) {
    kind = 'random';
    bytes = rng.bytes(rng.chance(0.2) ? rng.int(6) : rng.range(6, rng.chance(0.1) ? 600 : 48));
    if (bytes.length > 1 && rng.chance(0.6)) bytes[0] = 1;
    if (bytes.length > 1 && rng.chance(0.5)) bytes[1] = rng.range(1, 5);
  } else if (roll < 45) {
    kind = 'valid';
    bytes = valid(rng, ctx, requestId);
  } else if (roll < 97) {
    kind = 'mutated';
    bytes = mutate(rng, valid(rng, ctx, requestId), ctx.maxPayload);
  } else {
    kind = 'oversize';
    bytes = rng.bytes(ctx.maxPayload + rng.range(1, ctx.maxPayload));
    bytes[0] = 1;
    bytes[1] = ClientType.Shake;
  }
  // Some frames as text: only printable ASCII bytes qualify (uWS requires valid UTF-8 in text).
  const text = kind === 'random' && rng.chance(0.1);
  if (text) for (let i = 0; i < bytes.length; i++) bytes[i] = 0x20 + (bytes[i] % 95);
  return { bytes, text, kind };
}
