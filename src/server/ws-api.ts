// The WebSocket side of one worker's app: upgrade, login, and decoding each frame inside the
// message callback (uWS detaches the ArrayBuffer when it returns). The shake frame is recognised
// by its 6 bytes without building any object; everything else goes through the codec.
import type { WebSocketBehavior } from '@trufflesuite/uws-js-unofficial';
import { verifyToken } from '../auth/token.ts';
import { decodeClientFrame, encodeLoginOk, FrameError } from '../protocol/codec.ts';
import { ClientType, CloseCode, ErrorCode, FrameSize, PROTOCOL_VERSION } from '../protocol/codes.ts';
import type { Batcher } from './batch/batcher.ts';
import type { SessionRegistry } from './registry.ts';
import { Session, type SessionLimits, type UserData } from './session.ts';
import type { Uws } from './uws.ts';

export interface WsApiDeps {
  uws: Uws;
  secret: string;
  limits: SessionLimits;
  maxPayload: number;
  idleTimeout: number;
  counters: Float64Array;
  batcher: Batcher;
  registry: SessionRegistry;
  /** Next global login order number (shared by all threads). */
  nextLoginSeq(): number;
  /** Tell the other threads (and a cluster node's directory) `userId` logged in here at `atMs` with order `seq`. */
  announceLogin(userId: number, seq: number, atMs: number): void;
  /** False once shutdown began: new connections are refused. */
  accepting(): boolean;
}

export function wsBehavior(deps: WsApiDeps): WebSocketBehavior<UserData> {
  const { batcher, registry } = deps;
  return {
    compression: deps.uws.DISABLED,
    maxPayloadLength: deps.maxPayload,
    idleTimeout: deps.idleTimeout,
    // uWS drops frames above maxBackpressure; we close at our lower limit first (session.send).
    maxBackpressure: deps.limits.backpressureLimit * 2 + 64 * 1024,
    closeOnBackpressureLimit: 0,
    sendPingsAutomatically: true,
    upgrade: (res, req, context) => {
      if (!deps.accepting()) {
        res.writeStatus('503 Service Unavailable').end('shutting down');
        return;
      }
      const userData: UserData = { session: new Session(deps.limits, deps.counters, Date.now()) };
      res.upgrade(userData, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), context);
    },
    open: (ws) => {
      const s = ws.getUserData().session;
      s.ws = ws;
      registry.opened(s);
    },
    message: (ws, message) => {
      const s = ws.getUserData().session;
      if (s.closed) return;
      const bytes = new Uint8Array(message);
      const now = Date.now();
      if (!s.admit(now)) {
        s.error(requestIdOf(bytes), ErrorCode.RateLimited, bytes.length > 1 ? bytes[1] : 0);
        return;
      }
      // The hot path: a shake is exactly the 6-byte header.
      if (bytes.length === FrameSize.Shake && bytes[0] === PROTOCOL_VERSION && bytes[1] === ClientType.Shake) {
        if (s.loggedIn) batcher.shake(s, requestIdOf(bytes), s.userId);
        else s.notYetLoggedIn(requestIdOf(bytes), ClientType.Shake);
        return;
      }
      const frame = decodeClientFrame(bytes);
      if (frame instanceof FrameError) {
        if (frame.resultStatus !== null && s.loggedIn && frame.offendingType === ClientType.Create) {
          s.createResult(frame.requestId, frame.resultStatus, 0);
        } else {
          s.error(frame.requestId, frame.code, frame.offendingType);
        }
        return;
      }
      if (frame.type === ClientType.Login) {
        login(deps, s, frame.requestId, frame.userId, frame.token);
        return;
      }
      if (!s.loggedIn) {
        s.notYetLoggedIn(frame.requestId, frame.type);
        return;
      }
      switch (frame.type) {
        case ClientType.Shake: // a shake with a header we did not recognise above cannot reach here
          batcher.shake(s, frame.requestId, s.userId);
          break;
        case ClientType.Open:
          batcher.open(s, frame.requestId, s.userId, frame.packetId);
          break;
        case ClientType.Details:
          batcher.details(s, frame.requestId, frame.packetId);
          break;
        case ClientType.Create: {
          const c = frame.cover;
          const cover = c.title === '' && c.story === '' && c.colour === 0 ? null : c;
          batcher.create({
            target: s,
            requestId: frame.requestId,
            sender: s.userId,
            totalCents: frame.totalCents,
            shareCount: frame.shareCount,
            recipients: frame.recipients,
            cover,
          });
          break;
        }
      }
    },
    close: (ws) => {
      registry.closed(ws.getUserData().session);
    },
  };
}

function requestIdOf(bytes: Uint8Array): number {
  if (bytes.length < 6) return 0;
  return (bytes[2] | (bytes[3] << 8) | (bytes[4] << 16) | (bytes[5] << 24)) >>> 0;
}

function login(deps: WsApiDeps, s: Session, requestId: number, userId: number, token: string): void {
  if (s.loggedIn) {
    s.error(requestId, ErrorCode.AlreadyLoggedIn, ClientType.Login);
    return;
  }
  const check = verifyToken(deps.secret, token);
  if (!check.ok) {
    s.end(check.reason === 'expired' ? CloseCode.TokenExpired : CloseCode.AuthFailed, check.reason === 'expired' ? 'token expired' : 'bad token');
    return;
  }
  if (check.userId !== userId) {
    s.end(CloseCode.AuthFailed, 'token is for another user');
    return;
  }
  const seq = deps.nextLoginSeq();
  deps.registry.loggedIn(s, userId, seq);
  s.send(encodeLoginOk(requestId, userId, Date.now()));
  deps.announceLogin(userId, seq, s.loggedInAt);
}
