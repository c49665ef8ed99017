// One simulated user: one TCP socket speaking WebSocket (ws-frames.ts) and the hongbao protocol.
// It only reports what happens to a shared `ConnectionEvents` sink (events in); the simulator
// counts (counters out). Result frames are read in place, without an object per message.
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { ServerType, PROTOCOL_VERSION, HEADER_SIZE } from '../protocol/codes.ts';
import { encodeLogin } from '../protocol/codec.ts';
import { Opcode, checkUpgradeResponse, encodeClientFrame, newWebSocketKey, parseServerFrames, upgradeRequest, type FrameSink } from './ws-frames.ts';

/** The masking key of every frame this process sends (RFC 6455 requires a mask, not a fresh one). */
export const FRAME_MASK: Uint8Array = randomBytes(4);

export interface ConnectionEvents {
  ready(conn: Connection): void;
  shakeResult(conn: Connection, requestId: number, status: number, packetId: number, cents: number): void;
  openResult(conn: Connection, requestId: number, status: number, packetId: number, cents: number): void;
  notify(conn: Connection, packetId: number, sender: number, shareCount: number, totalCents: number): void;
  serverError(conn: Connection, requestId: number, code: number, offendingType: number): void;
  /** Exactly once per connect(); `wasReady` says whether it had logged in. */
  closed(conn: Connection, code: number, reason: string, wasReady: boolean): void;
}

export interface Target {
  host: string;
  port: number;
  path: string;
  /** handshake + login must finish within this time */
  timeoutMs: number;
}

export type ConnectionState = 'idle' | 'connecting' | 'login' | 'ready' | 'closed';

/** Writes queued beyond this many bytes mean the server is not reading: the caller drops instead. */
const MAX_QUEUED_BYTES = 256 * 1024;
const HEAD_END = Buffer.from('\r\n\r\n');

export class Connection implements FrameSink {
  state: ConnectionState = 'idle';
  /** Index in the simulator's tables. */
  readonly slot: number;
  readonly user: number;
  private socket: net.Socket | null = null;
  private rest: Buffer | null = null;
  private key = '';
  private closeCode = 1006;
  private closeReason = '';
  private timer: NodeJS.Timeout | null = null;

  constructor(
    slot: number,
    user: number,
    private readonly events: ConnectionEvents,
  ) {
    this.slot = slot;
    this.user = user;
  }

  connect(target: Target, token: string, localAddress?: string): void {
    if (this.state !== 'idle' && this.state !== 'closed') throw new Error(`user ${this.user}: connect while ${this.state}`);
    this.state = 'connecting';
    this.rest = null;
    this.closeCode = 1006;
    this.closeReason = 'connection lost';
    this.key = newWebSocketKey();
    const socket = net.connect({ host: target.host, port: target.port, localAddress, noDelay: true });
    this.socket = socket;
    this.timer = setTimeout(() => this.fail(1006, 'handshake or login timed out'), target.timeoutMs);
    socket.on('connect', () => socket.write(upgradeRequest(target.host, target.port, target.path, this.key)));
    socket.on('data', (chunk: Buffer) => this.onData(socket, chunk, token));
    socket.on('error', (err) => {
      this.closeReason = err.message;
    });
    socket.on('close', () => this.onSocketClose());
  }

  /** Send prebuilt, already masked frame bytes. False (nothing queued) when not ready or not draining. */
  send(frame: Uint8Array): boolean {
    const socket = this.socket;
    if (this.state !== 'ready' || socket === null || socket.writableLength > MAX_QUEUED_BYTES) return false;
    socket.write(frame);
    return true;
  }

  /** Close politely (WebSocket close frame, then FIN). */
  close(code = 1000): void {
    if (this.socket === null || this.state === 'closed') return;
    const payload = Buffer.from([code >>> 8, code & 0xff]);
    this.closeCode = code;
    this.closeReason = 'closed by the simulator';
    if (this.state === 'ready' || this.state === 'login') this.socket.write(encodeClientFrame(Opcode.Close, payload, FRAME_MASK));
    this.socket.end();
    this.socket.setTimeout(2000, () => this.socket?.destroy());
  }

  private fail(code: number, reason: string): void {
    this.closeCode = code;
    this.closeReason = reason;
    this.socket?.destroy();
  }

  private onSocketClose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const wasReady = this.state === 'ready';
    this.state = 'closed';
    this.socket = null;
    this.rest = null;
    this.events.closed(this, this.closeCode, this.closeReason, wasReady);
  }

  private onData(socket: net.Socket, chunk: Buffer, token: string): void {
    let buf = this.rest === null ? chunk : Buffer.concat([this.rest, chunk]);
    this.rest = null;
    if (this.state === 'connecting') {
      const headEnd = buf.indexOf(HEAD_END);
      if (headEnd < 0) {
        if (buf.length > 8192) {
          this.fail(1002, 'upgrade answer too long');
          return;
        }
        this.rest = buf;
        return;
      }
      const problem = checkUpgradeResponse(buf.toString('latin1', 0, headEnd), this.key);
      if (problem) {
        this.fail(1002, problem);
        return;
      }
      this.state = 'login';
      socket.write(encodeClientFrame(Opcode.Binary, encodeLogin(0, this.user, token), FRAME_MASK));
      buf = buf.subarray(headEnd + 4);
    }
    const at = parseServerFrames(buf, 0, this);
    if (at < 0) return;
    if (at < buf.length) this.rest = Buffer.from(buf.subarray(at));
  }

  frame(opcode: number, buf: Buffer, start: number, end: number): void {
    if (opcode === Opcode.Binary) {
      this.message(buf, start, end);
      return;
    }
    if (opcode === Opcode.Ping) {
      this.socket?.write(encodeClientFrame(Opcode.Pong, buf.subarray(start, end), FRAME_MASK));
    } else if (opcode === Opcode.Close) {
      this.closeCode = end - start >= 2 ? buf.readUInt16BE(start) : 1005;
      this.closeReason = end - start > 2 ? buf.toString('utf8', start + 2, end) : 'closed by the server';
      if (this.state !== 'closed') this.socket?.end(encodeClientFrame(Opcode.Close, buf.subarray(start, Math.min(end, start + 2)), FRAME_MASK));
    } else if (opcode !== Opcode.Pong) {
      this.protocolError(`unexpected opcode ${opcode}`);
    }
  }

  protocolError(message: string): void {
    this.fail(1002, message);
  }

  private message(buf: Buffer, start: number, end: number): void {
    const length = end - start;
    if (length < HEADER_SIZE || buf[start] !== PROTOCOL_VERSION) {
      this.protocolError('bad hongbao frame');
      return;
    }
    const type = buf[start + 1];
    const requestId = buf.readUInt32LE(start + 2);
    const h = start + HEADER_SIZE;
    switch (type) {
      case ServerType.ShakeResult:
      case ServerType.OpenResult: {
        if (length < HEADER_SIZE + 9) {
          this.protocolError('short result frame');
          return;
        }
        const status = buf[h];
        const packetId = buf.readUInt32LE(h + 1);
        const cents = buf.readUInt32LE(h + 5);
        if (type === ServerType.ShakeResult) this.events.shakeResult(this, requestId, status, packetId, cents);
        else this.events.openResult(this, requestId, status, packetId, cents);
        return;
      }
      case ServerType.PacketNotify:
        if (length < HEADER_SIZE + 22) {
          this.protocolError('short notify frame');
          return;
        }
        this.events.notify(this, buf.readUInt32LE(h), buf.readUInt32LE(h + 4), buf.readUInt16LE(h + 8), buf.readUInt32LE(h + 10));
        return;
      case ServerType.LoginOk:
        if (this.state !== 'login') {
          this.protocolError('unexpected LoginOk');
          return;
        }
        if (this.timer) clearTimeout(this.timer);
        this.timer = null;
        this.state = 'ready';
        this.events.ready(this);
        return;
      case ServerType.Error:
        if (length < HEADER_SIZE + 3) {
          this.protocolError('short error frame');
          return;
        }
        this.events.serverError(this, requestId, buf.readUInt16LE(h), buf[h + 2]);
        return;
      default:
        return; // details and create results: the simulator never asks for them
    }
  }
}
