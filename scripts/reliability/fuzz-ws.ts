// The WebSocket fuzzer: `concurrency` connections at a time, each its own user, most logged in; each
// sends fuzz frames in lockstep (the next one after the answer), so every frame's answer is checked
// against the oracle (fuzz-frames.ts `expect`): the documented Error code, result frame or close code.
// The error limit is modelled too: the answer that goes above --max-errors is followed by close 4005.
// Everything a frame was told (a hit, a share, a packet) is recorded, for the "no money moves" check.
import { mintToken, verifyToken } from '../../src/auth/token.ts';
import { ClientType, CloseCode, ServerType } from '../../src/protocol/codes.ts';
import { expect, generate, type Expectation, type FrameContext } from './fuzz-frames.ts';
import { Rng } from './rng.ts';
import type { Told } from './told.ts';
import { WsLink, type LinkEvent } from './ws-link.ts';

export interface WsFuzzOptions {
  url: string;
  secret: string;
  frames: number;
  concurrency: number;
  framesPerConnection: number;
  maxPayload: number;
  maxErrors: number;
  packetIds: number[];
  /** Fuzz users are firstUser, firstUser + 1, ... (one per connection). */
  firstUser: number;
  seed: number;
  told: Told;
  deadlineMs: number;
  answerTimeoutMs?: number;
  onProgress?: (sent: number) => void;
}

export interface WsFuzzResult {
  frames: number;
  connections: number;
  byKind: Record<string, number>;
  answers: Record<string, number>;
  closes: Record<string, number>;
  mismatches: number;
  examples: string[];
  hangs: number;
  elapsedMs: number;
}

const u32 = (b: Uint8Array, at: number) => (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;

function describe(e: LinkEvent | null): string {
  if (e === null) return 'nothing';
  if (e.kind === 'close') return `close ${e.code}`;
  const b = e.bytes;
  if (b.length < 6) return `a ${b.length}-byte frame`;
  const type = b[1];
  if (type === ServerType.Error) return `Error code ${b[6] | (b[7] << 8)} type ${b[8]} request ${u32(b, 2)}`;
  return `frame 0x${type.toString(16)} status ${b[6]} request ${u32(b, 2)}`;
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.subarray(0, 40)).toString('hex') + (b.length > 40 ? `...(${b.length} bytes)` : '');
}

export async function fuzzWebSocket(o: WsFuzzOptions): Promise<WsFuzzResult> {
  const started = Date.now();
  const rng = new Rng(o.seed);
  const r: WsFuzzResult = { frames: 0, connections: 0, byKind: {}, answers: {}, closes: {}, mismatches: 0, examples: [], hangs: 0, elapsedMs: 0 };
  const timeoutMs = o.answerTimeoutMs ?? 5000;
  let nextUser = o.firstUser;
  let nextRequest = 1;
  const bump = (m: Record<string, number>, k: string) => {
    m[k] = (m[k] ?? 0) + 1;
  };
  const mismatch = (msg: string) => {
    r.mismatches++;
    if (r.examples.length < 20) r.examples.push(msg);
  };
  const outOfTime = () => Date.now() - started > o.deadlineMs;

  async function connection(): Promise<void> {
    const user = nextUser++;
    const ctx: FrameContext = {
      user,
      token: mintToken(o.secret, user, Date.now() / 1000 + 3600),
      expiredToken: mintToken(o.secret, user, Date.now() / 1000 - 10),
      packetIds: o.packetIds,
      maxPayload: o.maxPayload,
    };
    let link: WsLink;
    try {
      link = await WsLink.connect(o.url);
    } catch (err) {
      mismatch(`cannot connect: ${(err as Error).message}`);
      return;
    }
    r.connections++;
    let loggedIn = false;
    let errors = 0;
    try {
      if (rng.chance(0.85)) {
        const id = nextRequest++;
        link.send(loginFrame(id, user, ctx.token));
        const e = await link.next(timeoutMs);
        if (e?.kind !== 'frame' || e.bytes[1] !== ServerType.LoginOk) {
          mismatch(`user ${user}: a valid login answered ${describe(e)}`);
          return;
        }
        loggedIn = true;
      }
      for (let k = 0; k < o.framesPerConnection && r.frames < o.frames && !outOfTime(); k++) {
        const g = generate(rng, ctx, nextRequest++);
        const want = expect(g.bytes, loggedIn, o.maxPayload);
        bump(r.byKind, g.kind);
        r.frames++;
        if (r.frames % 5000 === 0) o.onProgress?.(r.frames);
        link.send(g.bytes, g.text);
        const got = await link.next(timeoutMs);
        if (got === null) {
          r.hangs++;
          mismatch(`user ${user} (${loggedIn ? 'logged in' : 'not logged in'}): no answer within ${timeoutMs} ms to ${g.kind} ${hex(g.bytes)}`);
          return;
        }
        const verdict = judge(want, got, g.bytes, user, o.secret, o.told);
        bump(r.answers, verdict.label);
        if (verdict.problem) {
          mismatch(
            `user ${user} (${loggedIn ? 'logged in' : 'not logged in'}), ${g.kind} ${hex(g.bytes)}: expected ${show(want)}, got ${describe(got)} (${verdict.problem})`,
          );
          return;
        }
        if (verdict.loggedIn) loggedIn = true;
        if (got.kind === 'close') {
          bump(r.closes, String(got.code));
          return;
        }
        if (got.bytes[1] === ServerType.Error && ++errors > o.maxErrors) {
          const close = await link.next(timeoutMs);
          bump(r.closes, close?.kind === 'close' ? String(close.code) : 'none');
          if (close?.kind !== 'close' || close.code !== CloseCode.TooManyErrors)
            mismatch(`user ${user}: error ${errors} should close with 4005, got ${describe(close)}`);
          return;
        }
      }
    } finally {
      link.close();
    }
  }

  async function worker(): Promise<void> {
    while (r.frames < o.frames && !outOfTime()) await connection();
  }
  await Promise.all(Array.from({ length: o.concurrency }, () => worker()));
  r.elapsedMs = Date.now() - started;
  return r;
}

function show(e: Expectation): string {
  switch (e.kind) {
    case 'error':
      return `Error code ${e.code} type ${e.type} request ${e.requestId}`;
    case 'result':
      return `frame 0x${e.type.toString(16)} request ${e.requestId}${e.createStatus !== undefined ? ` status ${e.createStatus}` : ''}`;
    case 'login':
      return `a login of user ${e.userId}`;
    case 'close':
      return `close ${e.codes.join(' or ')}`;
  }
}

interface Verdict {
  label: string;
  problem: string | null;
  loggedIn?: boolean;
}

const SHAKE_STATUSES = new Set([0, 1, 0x40, 0x41]);
const OPEN_STATUSES = new Set([0, 1, 2, 3, 4, 5, 0x40, 0x41]);
const DETAILS_STATUSES = new Set([0, 5, 0x41]);

function judge(want: Expectation, got: LinkEvent, sent: Uint8Array, user: number, secret: string, told: Told): Verdict {
  if (want.kind === 'close') {
    if (got.kind !== 'close') return { label: 'close', problem: 'the connection stayed open' };
    return { label: `close ${got.code}`, problem: want.codes.includes(got.code) ? null : `close code ${got.code}` };
  }
  if (want.kind === 'login') {
    const check = verifyToken(secret, want.token);
    const code = !check.ok
      ? check.reason === 'expired'
        ? CloseCode.TokenExpired
        : CloseCode.AuthFailed
      : check.userId !== want.userId
        ? CloseCode.AuthFailed
        : 0;
    if (code !== 0) {
      if (got.kind !== 'close') return { label: 'login refused', problem: `a bad login (${check.ok ? 'token of another user' : check.reason}) was not closed` };
      return { label: `close ${got.code}`, problem: got.code === code ? null : `close code ${got.code}, expected ${code}` };
    }
    if (got.kind !== 'frame' || got.bytes[1] !== ServerType.LoginOk) return { label: 'login', problem: 'a valid login was not answered LoginOk' };
    return {
      label: 'LoginOk',
      problem: u32(got.bytes, 2) === want.requestId && u32(got.bytes, 6) === want.userId ? null : 'LoginOk for the wrong request or user',
      loggedIn: true,
    };
  }
  if (got.kind !== 'frame') return { label: `close ${got.code}`, problem: 'closed instead of answered' };
  const b = got.bytes;
  if (b.length < 7) return { label: 'short', problem: `a ${b.length}-byte answer` };
  const type = b[1];
  const requestId = u32(b, 2);
  if (want.kind === 'error') {
    if (type !== ServerType.Error) return { label: `0x${type.toString(16)}`, problem: 'not an Error frame' };
    const code = b[6] | (b[7] << 8);
    const offending = b[8];
    const ok = code === want.code && offending === want.type && requestId === want.requestId;
    return { label: `Error ${code}`, problem: ok ? null : `code ${code} type ${offending} request ${requestId}` };
  }
  // a result
  if (type !== want.type) return { label: `0x${type.toString(16)}`, problem: `answer type 0x${type.toString(16)}` };
  if (requestId !== want.requestId) return { label: 'result', problem: `request id ${requestId}` };
  const status = b[6];
  const label = `0x${type.toString(16)}:${status}`;
  switch (type) {
    case ServerType.ShakeResult:
      if (!SHAKE_STATUSES.has(status)) return { label, problem: `shake status ${status}` };
      if (status === 1) told.hit(u32(b, 7), user, u32(b, 11));
      return { label, problem: null };
    case ServerType.OpenResult:
      if (!OPEN_STATUSES.has(status)) return { label, problem: `open status ${status}` };
      if (u32(b, 7) !== want.packetId) return { label, problem: `open answer for packet ${u32(b, 7)}, asked ${want.packetId}` };
      if (status === 0 || status === 1) told.share(u32(b, 7), user, u32(b, 11));
      return { label, problem: null };
    case ServerType.DetailsResult:
      return { label, problem: DETAILS_STATUSES.has(status) ? null : `details status ${status}` };
    case ServerType.CreateResult: {
      if (status === 0x41) return { label, problem: null };
      if (status !== want.createStatus) return { label, problem: `create status ${status}, expected ${want.createStatus}` };
      if (status === 0) told.packet(u32(b, 7), u32(sent, 6), sent[10] | (sent[11] << 8));
      return { label, problem: null };
    }
    default:
      return { label, problem: `unexpected answer type` };
  }
}

function loginFrame(requestId: number, user: number, token: string): Uint8Array {
  const t = Buffer.from(token, 'utf8');
  const b = new Uint8Array(11 + t.length);
  const dv = new DataView(b.buffer);
  b[0] = 1;
  b[1] = ClientType.Login;
  dv.setUint32(2, requestId, true);
  dv.setUint32(6, user, true);
  b[10] = t.length;
  b.set(t, 11);
  return b;
}
