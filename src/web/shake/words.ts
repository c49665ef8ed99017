// Plain words for the shake page: money formatting and parsing (integer cents, never floats), and a
// sentence for every status, error code and close code the server can answer. Pure: tested in Node.
import { CloseCode, CommonStatus, CreateExtraStatus, ErrorCode } from '../../protocol/codes.ts';
import { CreateStatus, MAX_PACKET_CENTS, MAX_RECIPIENTS, MAX_SHARES, OpenStatus } from '../../engine/types.ts';

/** 1234 -> "¥12.34" */
export function formatCents(cents: number): string {
  const sign = cents < 0 ? '-' : '';
  const abs = Math.abs(Math.trunc(cents));
  const yuan = Math.floor(abs / 100).toLocaleString('en-US');
  return `${sign}¥${yuan}.${String(abs % 100).padStart(2, '0')}`;
}

/** "12", "12.3", "12.34", "¥1,000.50" -> cents; anything else (or more than 2 decimals) -> null. Works on the text, not on floats. */
export function parseYuan(text: string): number | null {
  const m = /^\s*¥?\s*(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?\s*$/.exec(text);
  if (!m) return null;
  const yuan = Number(m[1].replace(/,/g, ''));
  const cents = yuan * 100 + Number((m[2] ?? '').padEnd(2, '0'));
  return Number.isSafeInteger(cents) ? cents : null;
}

/** "2, 3 4;5" -> [2, 3, 4, 5]; a word that is not a user id gives the sentence to show instead. */
export function parseRecipients(text: string): number[] | string {
  const words = text.split(/[\s,;，、]+/).filter(Boolean);
  if (words.length === 0) return 'Add at least one recipient: their user ids, separated by commas.';
  const ids: number[] = [];
  for (const w of words) {
    if (!/^\d{1,10}$/.test(w) || Number(w) > 0xfffffffe) return `"${w}" is not a user id (a whole number).`;
    ids.push(Number(w));
  }
  return ids;
}

export function utf8Length(text: string): number {
  return new TextEncoder().encode(text).length;
}

const yuanLimit = formatCents(MAX_PACKET_CENTS);

/** Sentence for a CreateResult status (CreateStatus, CreateExtraStatus, CommonStatus). */
export function createStatusText(status: number): string {
  switch (status) {
    case CreateStatus.Ok:
      return 'Sent.';
    case CreateStatus.TotalBelowShares:
      return 'The total is too small: every share needs at least ¥0.01, so the total must be at least 1 cent per share.';
    case CreateStatus.BadShareCount:
      return `The number of shares must be between 1 and ${MAX_SHARES}, and no more than the number of recipients.`;
    case CreateStatus.BadTotal:
      return `The total must be more than ¥0.00 and at most ${yuanLimit}.`;
    case CreateStatus.BadRecipients:
      return `Check the recipients: list between 1 and ${MAX_RECIPIENTS} people, each only once.`;
    case CreateExtraStatus.BadCover:
      return 'The cover is too long: keep the title within 40 bytes and the story within 280 bytes.';
    default:
      return commonStatusText(status) ?? `The server refused the packet (status ${status}).`;
  }
}

/** Sentence for an OpenResult status; `cents` is the share for Ok and Repeat. */
export function openStatusText(status: number, cents: number): string {
  switch (status) {
    case OpenStatus.Ok:
      return `You got ${formatCents(cents)}!`;
    case OpenStatus.Repeat:
      return `You already opened this one: your share was ${formatCents(cents)}.`;
    case OpenStatus.NotRecipient:
      return 'This packet is not addressed to you.';
    case OpenStatus.Empty:
      return 'Too late: every share has been taken.';
    case OpenStatus.Expired:
      return 'This packet has expired; what was left went back to the sender.';
    case OpenStatus.UnknownPacket:
      return 'There is no packet with that number.';
    default:
      return commonStatusText(status) ?? `The server could not open it (status ${status}).`;
  }
}

/** Sentences for the statuses common to every operation, or null. */
export function commonStatusText(status: number): string | null {
  if (status === CommonStatus.Overloaded) return 'The server is very busy right now: nothing happened, try again in a moment.';
  if (status === CommonStatus.Unavailable) return 'The server cannot record payments right now: nothing happened, try again later.';
  return null;
}

/** Sentence for an Error frame's code. */
export function errorCodeText(code: number): string {
  switch (code) {
    case ErrorCode.BadVersion:
      return 'This page speaks a different protocol version than the server: reload the page.';
    case ErrorCode.UnknownType:
      return 'The server did not understand that request: reload the page.';
    case ErrorCode.BadLength:
      return 'That request was malformed: reload the page.';
    case ErrorCode.NotLoggedIn:
      return 'You are not signed in: sign in again.';
    case ErrorCode.AlreadyLoggedIn:
      return 'You are already signed in on this connection.';
    case ErrorCode.BadField:
      return 'One of the values was refused: check the cover (title up to 40 bytes, story up to 280 bytes) and the amounts.';
    case ErrorCode.RateLimited:
      return 'Slow down a little: too many requests in a short time.';
    default:
      return `The server refused the request (error ${code}).`;
  }
}

/** Sentence for a WebSocket close code, shown on the sign-in form. */
export function closeCodeText(code: number, reason = ''): string {
  switch (code) {
    case CloseCode.AuthFailed:
      return 'Sign-in refused: that token is not valid for this user id.';
    case CloseCode.TokenExpired:
      return 'Sign-in refused: the token has expired. Ask for a new one.';
    case CloseCode.LoginTimeout:
      return 'Sign-in took too long: try again.';
    case CloseCode.Replaced:
      return 'You signed in somewhere else, so this page was signed out.';
    case CloseCode.TooManyErrors:
      return 'The server closed the connection after too many refused requests.';
    case CloseCode.Backpressure:
      return 'The connection was too slow and the server closed it: sign in again.';
    case CloseCode.GoingAway:
      return 'The server is restarting: sign in again in a moment.';
    default:
      return `The connection closed${code ? ` (code ${code}${reason ? `: ${reason}` : ''})` : ''}. Check the server and sign in again.`;
  }
}
