// Binary frames: fixed little-endian layouts behind a 6-byte header (version, type, request id).
// `write*` functions fill a caller's DataView (hot path, no allocation); `encode*` allocate (tests,
// rare messages); `decode*` turn a whole frame into a plain object or a FrameError.
// No Node-only imports: the browser pages use this module too.
import {
  ClientType,
  CreateExtraStatus,
  DetailsStatus,
  ErrorCode,
  FrameSize,
  HEADER_SIZE,
  MAX_STORY_BYTES,
  MAX_TITLE_BYTES,
  MAX_TOKEN_BYTES,
  NO_USER,
  PROTOCOL_VERSION,
  ServerType,
} from './codes.ts';

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

export interface Cover {
  title: string;
  /** 0xRRGGBB */
  colour: number;
  story: string;
}

export type ClientFrame =
  | { type: typeof ClientType.Login; requestId: number; userId: number; token: string }
  | { type: typeof ClientType.Shake; requestId: number }
  | { type: typeof ClientType.Open; requestId: number; packetId: number }
  | { type: typeof ClientType.Details; requestId: number; packetId: number }
  | {
      type: typeof ClientType.Create;
      requestId: number;
      totalCents: number;
      shareCount: number;
      splitMode: number;
      recipients: number[];
      cover: Cover;
    };

export interface DetailsBody {
  id: number;
  sender: number;
  totalCents: number;
  shareCount: number;
  splitMode: number;
  expired: boolean;
  remainingCents: number;
  remainingShares: number;
  refundedCents: number;
  expiresAt: number;
  bestLuck: number | null;
  cover: Cover;
  opened: Array<{ user: number; cents: number }>;
}

export type ServerFrame =
  | { type: typeof ServerType.LoginOk; requestId: number; userId: number; serverTimeMs: number }
  | { type: typeof ServerType.ShakeResult; requestId: number; status: number; packetId: number; cents: number }
  | { type: typeof ServerType.OpenResult; requestId: number; status: number; packetId: number; cents: number }
  | { type: typeof ServerType.CreateResult; requestId: number; status: number; packetId: number }
  | { type: typeof ServerType.DetailsResult; requestId: number; status: number; details: DetailsBody | null }
  | {
      type: typeof ServerType.PacketNotify;
      requestId: number;
      packetId: number;
      sender: number;
      shareCount: number;
      totalCents: number;
      expiresAt: number;
    }
  | { type: typeof ServerType.Error; requestId: number; code: number; offendingType: number };

/** Why a frame could not be decoded; `code` is what the server answers in an Error frame, unless
 *  `resultStatus` is set: then the frame was well formed but a field was refused, and the server
 *  answers a result frame of the request's type with that status (e.g. CreateResult BadCover).
 *  Returned by the decoder, not thrown (it is the client's mistake), but an Error all the same for
 *  whoever logs or throws it. */
export class FrameError extends Error {
  override readonly name = 'FrameError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly requestId: number,
    readonly offendingType: number,
    readonly resultStatus: number | null = null,
  ) {
    super(message);
  }
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function writeHeader(dv: DataView, offset: number, type: number, requestId: number): void {
  dv.setUint8(offset, PROTOCOL_VERSION);
  dv.setUint8(offset + 1, type);
  dv.setUint32(offset + 2, requestId >>> 0, true);
}

// ---- client frames ----------------------------------------------------------------------------

export function encodeLogin(requestId: number, userId: number, token: string): Uint8Array {
  const tokenBytes = utf8Encoder.encode(token);
  if (tokenBytes.length > MAX_TOKEN_BYTES) throw new RangeError(`token longer than ${MAX_TOKEN_BYTES} bytes`);
  const out = new Uint8Array(HEADER_SIZE + 5 + tokenBytes.length);
  const dv = view(out);
  writeHeader(dv, 0, ClientType.Login, requestId);
  dv.setUint32(HEADER_SIZE, userId >>> 0, true);
  dv.setUint8(HEADER_SIZE + 4, tokenBytes.length);
  out.set(tokenBytes, HEADER_SIZE + 5);
  return out;
}

export function writeShake(dv: DataView, offset: number, requestId: number): number {
  writeHeader(dv, offset, ClientType.Shake, requestId);
  return FrameSize.Shake;
}

export function encodeShake(requestId: number): Uint8Array {
  const out = new Uint8Array(FrameSize.Shake);
  writeShake(view(out), 0, requestId);
  return out;
}

function encodePacketRequest(type: number, requestId: number, packetId: number): Uint8Array {
  const out = new Uint8Array(HEADER_SIZE + 4);
  const dv = view(out);
  writeHeader(dv, 0, type, requestId);
  dv.setUint32(HEADER_SIZE, packetId >>> 0, true);
  return out;
}

export const encodeOpen = (requestId: number, packetId: number) => encodePacketRequest(ClientType.Open, requestId, packetId);
export const encodeDetails = (requestId: number, packetId: number) => encodePacketRequest(ClientType.Details, requestId, packetId);

function coverSize(title: Uint8Array, story: Uint8Array): number {
  return 1 + title.length + 4 + 2 + story.length;
}

function writeCover(out: Uint8Array, dv: DataView, at: number, title: Uint8Array, colour: number, story: Uint8Array): number {
  dv.setUint8(at, title.length);
  out.set(title, at + 1);
  at += 1 + title.length;
  dv.setUint32(at, colour >>> 0, true);
  dv.setUint16(at + 4, story.length, true);
  out.set(story, at + 6);
  return at + 6 + story.length;
}

export function encodeCreate(
  requestId: number,
  totalCents: number,
  shareCount: number,
  recipients: ArrayLike<number>,
  splitMode = 0,
  cover: Cover = { title: '', colour: 0, story: '' },
): Uint8Array {
  const title = utf8Encoder.encode(cover.title);
  const story = utf8Encoder.encode(cover.story);
  if (title.length > 255 || story.length > 65535) throw new RangeError('cover too long to encode');
  const out = new Uint8Array(HEADER_SIZE + 9 + 4 * recipients.length + coverSize(title, story));
  const dv = view(out);
  writeHeader(dv, 0, ClientType.Create, requestId);
  let at = HEADER_SIZE;
  dv.setUint32(at, totalCents >>> 0, true);
  dv.setUint16(at + 4, shareCount, true);
  dv.setUint8(at + 6, splitMode);
  dv.setUint16(at + 7, recipients.length, true);
  at += 9;
  for (let i = 0; i < recipients.length; i++, at += 4) dv.setUint32(at, recipients[i] >>> 0, true);
  writeCover(out, dv, at, title, cover.colour, story);
  return out;
}

/** Decode a client frame completely; every malformed input gives a FrameError, never a throw. */
export function decodeClientFrame(bytes: Uint8Array): ClientFrame | FrameError {
  if (bytes.length < HEADER_SIZE) return new FrameError(ErrorCode.BadLength, 'frame shorter than its header', 0, 0);
  const dv = view(bytes);
  const type = dv.getUint8(1);
  const requestId = dv.getUint32(2, true);
  if (dv.getUint8(0) !== PROTOCOL_VERSION) {
    return new FrameError(ErrorCode.BadVersion, `unsupported version ${dv.getUint8(0)}`, requestId, type);
  }
  const bad = (message: string, code: ErrorCode = ErrorCode.BadLength) => new FrameError(code, message, requestId, type);
  switch (type) {
    case ClientType.Shake:
      return bytes.length === FrameSize.Shake ? { type, requestId } : bad('shake has no body');
    case ClientType.Open:
    case ClientType.Details:
      if (bytes.length !== HEADER_SIZE + 4) return bad('expected a u32 packet id');
      return { type, requestId, packetId: dv.getUint32(HEADER_SIZE, true) };
    case ClientType.Login: {
      if (bytes.length < HEADER_SIZE + 5) return bad('login too short');
      const tokenLength = dv.getUint8(HEADER_SIZE + 4);
      if (bytes.length !== HEADER_SIZE + 5 + tokenLength) return bad('login length does not match its token length');
      let token: string;
      try {
        token = utf8Decoder.decode(bytes.subarray(HEADER_SIZE + 5));
      } catch {
        return bad('token is not UTF-8', ErrorCode.BadField);
      }
      return { type, requestId, userId: dv.getUint32(HEADER_SIZE, true), token };
    }
    case ClientType.Create:
      return decodeCreate(bytes, dv, requestId, bad);
    default:
      return new FrameError(ErrorCode.UnknownType, `unknown message type ${type}`, requestId, type);
  }
}

function decodeCreate(bytes: Uint8Array, dv: DataView, requestId: number, bad: (message: string, code?: ErrorCode) => FrameError): ClientFrame | FrameError {
  let at = HEADER_SIZE;
  if (bytes.length < at + 9) return bad('create too short');
  const totalCents = dv.getUint32(at, true);
  const shareCount = dv.getUint16(at + 4, true);
  const splitMode = dv.getUint8(at + 6);
  const n = dv.getUint16(at + 7, true);
  at += 9;
  if (bytes.length < at + 4 * n + 7) return bad('create shorter than its recipient list and cover');
  const recipients = new Array<number>(n);
  for (let i = 0; i < n; i++, at += 4) recipients[i] = dv.getUint32(at, true);
  const titleLength = dv.getUint8(at);
  if (bytes.length < at + 1 + titleLength + 6) return bad('create shorter than its cover title');
  const titleBytes = bytes.subarray(at + 1, at + 1 + titleLength);
  at += 1 + titleLength;
  const colour = dv.getUint32(at, true);
  const storyLength = dv.getUint16(at + 4, true);
  at += 6;
  if (bytes.length !== at + storyLength) return bad('create length does not match its cover story');
  if (splitMode > 1) return bad(`unknown split mode ${splitMode}`, ErrorCode.BadField);
  const badCover = (message: string) => new FrameError(ErrorCode.BadField, message, requestId, ClientType.Create, CreateExtraStatus.BadCover);
  if (titleLength > MAX_TITLE_BYTES || storyLength > MAX_STORY_BYTES || colour > 0xffffff) {
    return badCover('cover too long or colour out of range');
  }
  let title: string;
  let story: string;
  try {
    title = utf8Decoder.decode(titleBytes);
    story = utf8Decoder.decode(bytes.subarray(at, at + storyLength));
  } catch {
    return badCover('cover text is not UTF-8');
  }
  return {
    type: ClientType.Create,
    requestId,
    totalCents,
    shareCount,
    splitMode,
    recipients,
    cover: { title, colour, story },
  };
}

// ---- server frames ----------------------------------------------------------------------------

/** Shake and open results share one layout: status u8, packet id u32, cents u32. */
export function writeResult(
  dv: DataView,
  offset: number,
  type: typeof ServerType.ShakeResult | typeof ServerType.OpenResult,
  requestId: number,
  status: number,
  packetId: number,
  cents: number,
): number {
  writeHeader(dv, offset, type, requestId);
  dv.setUint8(offset + HEADER_SIZE, status);
  dv.setUint32(offset + HEADER_SIZE + 1, packetId >>> 0, true);
  dv.setUint32(offset + HEADER_SIZE + 5, cents >>> 0, true);
  return FrameSize.ShakeResult;
}

export function encodeResult(
  type: typeof ServerType.ShakeResult | typeof ServerType.OpenResult,
  requestId: number,
  status: number,
  packetId: number,
  cents: number,
): Uint8Array {
  const out = new Uint8Array(FrameSize.ShakeResult);
  writeResult(view(out), 0, type, requestId, status, packetId, cents);
  return out;
}

export function encodeLoginOk(requestId: number, userId: number, serverTimeMs: number): Uint8Array {
  const out = new Uint8Array(FrameSize.LoginOk);
  const dv = view(out);
  writeHeader(dv, 0, ServerType.LoginOk, requestId);
  dv.setUint32(HEADER_SIZE, userId >>> 0, true);
  dv.setFloat64(HEADER_SIZE + 4, serverTimeMs, true);
  return out;
}

export function encodeCreateResult(requestId: number, status: number, packetId: number): Uint8Array {
  const out = new Uint8Array(FrameSize.CreateResult);
  const dv = view(out);
  writeHeader(dv, 0, ServerType.CreateResult, requestId);
  dv.setUint8(HEADER_SIZE, status);
  dv.setUint32(HEADER_SIZE + 1, packetId >>> 0, true);
  return out;
}

export function encodeError(requestId: number, code: number, offendingType: number): Uint8Array {
  const out = new Uint8Array(FrameSize.Error);
  const dv = view(out);
  writeHeader(dv, 0, ServerType.Error, requestId);
  dv.setUint16(HEADER_SIZE, code, true);
  dv.setUint8(HEADER_SIZE + 2, offendingType);
  return out;
}

export function encodePacketNotify(packetId: number, sender: number, shareCount: number, totalCents: number, expiresAt: number): Uint8Array {
  const out = new Uint8Array(FrameSize.PacketNotify);
  const dv = view(out);
  writeHeader(dv, 0, ServerType.PacketNotify, 0);
  dv.setUint32(HEADER_SIZE, packetId >>> 0, true);
  dv.setUint32(HEADER_SIZE + 4, sender >>> 0, true);
  dv.setUint16(HEADER_SIZE + 8, shareCount, true);
  dv.setUint32(HEADER_SIZE + 10, totalCents >>> 0, true);
  dv.setFloat64(HEADER_SIZE + 14, expiresAt, true);
  return out;
}

/** A Found answer carries the details; any other status is the short frame, whatever `d` holds. */
export function encodeDetailsResult(requestId: number, status: number, d: DetailsBody | null): Uint8Array {
  if (status === DetailsStatus.Found && !d) throw new RangeError('a Found details answer needs the details');
  if (status !== DetailsStatus.Found || !d) {
    const out = new Uint8Array(HEADER_SIZE + 1);
    const dv = view(out);
    writeHeader(dv, 0, ServerType.DetailsResult, requestId);
    dv.setUint8(HEADER_SIZE, status);
    return out;
  }
  const title = utf8Encoder.encode(d.cover.title);
  const story = utf8Encoder.encode(d.cover.story);
  const fixed = 1 + 4 + 4 + 4 + 2 + 1 + 1 + 4 + 2 + 4 + 8 + 4;
  const out = new Uint8Array(HEADER_SIZE + fixed + coverSize(title, story) + 2 + 8 * d.opened.length);
  const dv = view(out);
  writeHeader(dv, 0, ServerType.DetailsResult, requestId);
  let at = HEADER_SIZE;
  dv.setUint8(at, DetailsStatus.Found);
  dv.setUint32(at + 1, d.id, true);
  dv.setUint32(at + 5, d.sender, true);
  dv.setUint32(at + 9, d.totalCents, true);
  dv.setUint16(at + 13, d.shareCount, true);
  dv.setUint8(at + 15, d.splitMode);
  dv.setUint8(at + 16, d.expired ? 1 : 0);
  dv.setUint32(at + 17, d.remainingCents, true);
  dv.setUint16(at + 21, d.remainingShares, true);
  dv.setUint32(at + 23, d.refundedCents, true);
  dv.setFloat64(at + 27, d.expiresAt, true);
  dv.setUint32(at + 35, d.bestLuck ?? NO_USER, true);
  at = writeCover(out, dv, at + fixed, title, d.cover.colour, story);
  dv.setUint16(at, d.opened.length, true);
  at += 2;
  for (const share of d.opened) {
    dv.setUint32(at, share.user, true);
    dv.setUint32(at + 4, share.cents, true);
    at += 8;
  }
  return out;
}

/** Decode a server frame (clients, simulator, browser). Throws RangeError on a truncated frame. */
export function decodeServerFrame(bytes: Uint8Array): ServerFrame {
  if (bytes.length < HEADER_SIZE) throw new RangeError('frame shorter than its header');
  const dv = view(bytes);
  if (dv.getUint8(0) !== PROTOCOL_VERSION) throw new RangeError(`unsupported version ${dv.getUint8(0)}`);
  const type = dv.getUint8(1);
  const requestId = dv.getUint32(2, true);
  const h = HEADER_SIZE;
  switch (type) {
    case ServerType.LoginOk:
      return { type, requestId, userId: dv.getUint32(h, true), serverTimeMs: dv.getFloat64(h + 4, true) };
    case ServerType.ShakeResult:
    case ServerType.OpenResult:
      return {
        type,
        requestId,
        status: dv.getUint8(h),
        packetId: dv.getUint32(h + 1, true),
        cents: dv.getUint32(h + 5, true),
      };
    case ServerType.CreateResult:
      return { type, requestId, status: dv.getUint8(h), packetId: dv.getUint32(h + 1, true) };
    case ServerType.PacketNotify:
      return {
        type,
        requestId,
        packetId: dv.getUint32(h, true),
        sender: dv.getUint32(h + 4, true),
        shareCount: dv.getUint16(h + 8, true),
        totalCents: dv.getUint32(h + 10, true),
        expiresAt: dv.getFloat64(h + 14, true),
      };
    case ServerType.Error:
      return { type, requestId, code: dv.getUint16(h, true), offendingType: dv.getUint8(h + 2) };
    case ServerType.DetailsResult:
      return { type, requestId, status: dv.getUint8(h), details: bytes.length > h + 1 ? decodeDetails(bytes, dv) : null };
    default:
      throw new RangeError(`unknown server message type ${type}`);
  }
}

function decodeDetails(bytes: Uint8Array, dv: DataView): DetailsBody {
  const h = HEADER_SIZE;
  const bestLuck = dv.getUint32(h + 35, true);
  let at = h + 39;
  const titleLength = dv.getUint8(at);
  const title = utf8Decoder.decode(bytes.subarray(at + 1, at + 1 + titleLength));
  at += 1 + titleLength;
  const colour = dv.getUint32(at, true);
  const storyLength = dv.getUint16(at + 4, true);
  const story = utf8Decoder.decode(bytes.subarray(at + 6, at + 6 + storyLength));
  at += 6 + storyLength;
  const n = dv.getUint16(at, true);
  at += 2;
  const opened = [];
  for (let i = 0; i < n; i++, at += 8) opened.push({ user: dv.getUint32(at, true), cents: dv.getUint32(at + 4, true) });
  return {
    id: dv.getUint32(h + 1, true),
    sender: dv.getUint32(h + 5, true),
    totalCents: dv.getUint32(h + 9, true),
    shareCount: dv.getUint16(h + 13, true),
    splitMode: dv.getUint8(h + 15),
    expired: dv.getUint8(h + 16) === 1,
    remainingCents: dv.getUint32(h + 17, true),
    remainingShares: dv.getUint16(h + 21, true),
    refundedCents: dv.getUint32(h + 23, true),
    expiresAt: dv.getFloat64(h + 27, true),
    bestLuck: bestLuck === NO_USER ? null : bestLuck,
    cover: { title, colour, story },
    opened,
  };
}
