// One WebSocket connection's state, kept in our own object (the uWS user data only points to it),
// and its binary replies: fixed-size frames written into reused buffers, sent corked.
import type { WebSocket } from '@trufflesuite/uws-js-unofficial';
import type { PacketDetails } from '../engine/types.ts';
import { encodeDetailsResult, encodeError, encodeCreateResult, writeResult, type Cover } from '../protocol/codec.ts';
import { CloseCode, ErrorCode, FrameSize, NO_USER, ServerType } from '../protocol/codes.ts';
import { C } from './counters.ts';
import { EMPTY_COVER, type Replier } from './replier.ts';

export interface UserData {
  session: Session;
}

export interface SessionLimits {
  maxMessagesPerSecond: number;
  maxErrors: number;
  backpressureLimit: number;
}

// Reused frame buffers: uWS copies what it sends, so one buffer per frame size is enough.
const resultFrame = new Uint8Array(FrameSize.ShakeResult);
const resultView = new DataView(resultFrame.buffer);

/** uWS send(): 1 written, 0 written with backpressure building up, 2 dropped at uWS's own limit. */
const SENT = 1;
const DROPPED = 2;

const ERROR_WINDOW_MS = 60_000;

/** Encoded details frames by the details object they were made from (see detailsResult). */
const encodedDetails = new WeakMap<PacketDetails, { cover: Cover | null; status: number; frame: Uint8Array }>();

export class Session implements Replier {
  ws: WebSocket<UserData> | null = null;
  userId = NO_USER;
  loggedIn = false;
  closed = false;
  /** Global login order: a later login of the same user replaces this one. */
  loginSeq = 0;
  /** When it logged in (ms): a login of the same user on another access node after it replaces it. */
  loggedInAt = 0;
  readonly openedAt: number;
  private msgSecond = 0;
  private msgCount = 0;
  private errWindowStart = 0;
  private errCount = 0;

  constructor(
    private readonly limits: SessionLimits,
    private readonly counters: Float64Array,
    now: number,
  ) {
    this.openedAt = now;
  }

  /** Count one incoming frame; false when it is above the per-second limit. */
  admit(nowMs: number): boolean {
    const second = Math.floor(nowMs / 1000);
    if (second !== this.msgSecond) {
      this.msgSecond = second;
      this.msgCount = 0;
    }
    return ++this.msgCount <= this.limits.maxMessagesPerSecond;
  }

  /** Send an Error frame; too many in a minute closes the connection with 4005. */
  error(requestId: number, code: number, offendingType: number): void {
    if (this.closed) return;
    this.counters[C.errors]++;
    const now = Date.now();
    if (now - this.errWindowStart > ERROR_WINDOW_MS) {
      this.errWindowStart = now;
      this.errCount = 0;
    }
    this.send(encodeError(requestId, code, offendingType));
    if (++this.errCount > this.limits.maxErrors && !this.closed) this.end(CloseCode.TooManyErrors, 'too many errors');
  }

  /**
   * Send one frame and cut a slow reader off at the backpressure limit. No ws.cork(callback): a
   * send outside a uWS callback corks and flushes its own socket (one write, as cork would), and
   * each frame of a batch goes to a different socket anyway, so the cork only added a native call
   * and a call back into JS per frame. The buffered amount is read only when send reports
   * backpressure (1 means nothing is left buffered).
   */
  send(frame: Uint8Array): void {
    if (this.closed || this.ws === null) return;
    const sent = this.ws.send(frame, true);
    if (sent !== SENT && (sent === DROPPED || this.ws.getBufferedAmount() > this.limits.backpressureLimit)) {
      this.end(CloseCode.Backpressure, 'slow reader');
    }
  }

  end(code: number, reason: string): void {
    if (this.closed || this.ws === null) return;
    const ws = this.ws;
    this.closed = true; // no more sends; the close handler finishes the bookkeeping
    ws.end(code, reason);
  }

  shakeResult(requestId: number, status: number, packetId: number, cents: number): void {
    if (this.closed) return;
    writeResult(resultView, 0, ServerType.ShakeResult, requestId, status, packetId, cents);
    this.send(resultFrame);
  }

  openResult(requestId: number, status: number, packetId: number, cents: number): void {
    if (this.closed) return;
    writeResult(resultView, 0, ServerType.OpenResult, requestId, status, packetId, cents);
    this.send(resultFrame);
  }

  createResult(requestId: number, status: number, packetId: number): void {
    this.send(encodeCreateResult(requestId, status, packetId));
  }

  detailsResult(requestId: number, status: number, d: PacketDetails | null, cover: Cover | null): void {
    if (this.closed) return;
    if (d === null) {
      this.send(encodeDetailsResult(requestId, status, null));
      return;
    }
    // The batcher hands every request for a packet in a batch the same details object: encode it once,
    // then only the request id changes (uWS copies what it sends).
    let e = encodedDetails.get(d);
    if (e === undefined || e.cover !== cover || e.status !== status) {
      e = { cover, status, frame: encodeDetailsResult(requestId, status, { ...d, cover: cover ?? EMPTY_COVER }) };
      encodedDetails.set(d, e);
    } else {
      new DataView(e.frame.buffer, e.frame.byteOffset, e.frame.byteLength).setUint32(2, requestId >>> 0, true);
    }
    this.send(e.frame);
  }

  notYetLoggedIn(requestId: number, type: number): void {
    this.error(requestId, ErrorCode.NotLoggedIn, type);
  }
}
