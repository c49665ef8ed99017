// Every number on the wire. docs/protocol.md describes each one; keep the two in step.
// This module has no Node-only imports: the browser pages use it too.

export const PROTOCOL_VERSION = 1;
/** version u8, type u8, request id u32 LE */
export const HEADER_SIZE = 6;

/** Client to server. */
export const ClientType = {
  Login: 0x01,
  Shake: 0x02,
  Open: 0x03,
  Details: 0x04,
  Create: 0x05,
} as const;
export type ClientType = (typeof ClientType)[keyof typeof ClientType];

/** Server to client. */
export const ServerType = {
  LoginOk: 0x81,
  ShakeResult: 0x82,
  OpenResult: 0x83,
  DetailsResult: 0x84,
  CreateResult: 0x85,
  PacketNotify: 0x90,
  Error: 0xee,
} as const;
export type ServerType = (typeof ServerType)[keyof typeof ServerType];

/** Status byte of a result frame. 0x00-0x3f depend on the operation, 0x40+ are common to all. */
export const ShakeResultStatus = { Miss: 0, Hit: 1 } as const;
// Open results use OpenStatus from src/engine/types.ts (0 Ok .. 5 UnknownPacket).
// Create results use CreateStatus from src/engine/types.ts (0 Ok .. 4 BadRecipients) plus:
export const CreateExtraStatus = {
  /** Cover title/story too long or not valid UTF-8. */
  BadCover: 0x10,
} as const;
export const DetailsStatus = { Found: 0, UnknownPacket: 5 } as const;
export const CommonStatus = {
  /** Above the server's shakes-per-second ceiling: answered at once, nothing moved. */
  Overloaded: 0x40,
  /** The ledger cannot commit (e.g. disk full): no money moves until it can. */
  Unavailable: 0x41,
} as const;

/** u16 code in an Error frame: the request could not be understood or is not allowed. */
export const ErrorCode = {
  BadVersion: 1,
  UnknownType: 2,
  BadLength: 3,
  NotLoggedIn: 4,
  AlreadyLoggedIn: 5,
  BadField: 6,
  RateLimited: 7,
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** WebSocket close codes the server uses (4000-4999 is the application range). */
export const CloseCode = {
  GoingAway: 1001, // server shutting down
  AuthFailed: 4001, // forged or malformed token, or token for another user id
  TokenExpired: 4002,
  LoginTimeout: 4003, // no valid login within the login window
  Replaced: 4004, // the same user logged in on another connection
  TooManyErrors: 4005, // too many malformed or refused frames
  Backpressure: 4008, // slow reader: outgoing buffer above the limit
} as const;

export const NO_USER = 0xffffffff;
export const MAX_TOKEN_BYTES = 128;
export const MAX_TITLE_BYTES = 40;
export const MAX_STORY_BYTES = 280;

/** Fixed frame sizes (bytes, header included). */
export const FrameSize = {
  Shake: HEADER_SIZE,
  Open: HEADER_SIZE + 4,
  Details: HEADER_SIZE + 4,
  ShakeResult: HEADER_SIZE + 9,
  OpenResult: HEADER_SIZE + 9,
  CreateResult: HEADER_SIZE + 5,
  LoginOk: HEADER_SIZE + 12,
  PacketNotify: HEADER_SIZE + 22,
  Error: HEADER_SIZE + 3,
} as const;
