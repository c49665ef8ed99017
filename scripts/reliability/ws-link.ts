// One WebSocket for the reliability tools: frames and the close arrive as events in order, a caller
// awaits the next one (skipping pushes) with a deadline. Uses the `ws` package.
import WebSocket from 'ws';
import { ServerType } from '../../src/protocol/codes.ts';

export type LinkEvent = { kind: 'frame'; bytes: Uint8Array } | { kind: 'close'; code: number; reason: string };

export class WsLink {
  readonly socket: WebSocket;
  closed: { code: number; reason: string } | null = null;
  private readonly queue: LinkEvent[] = [];
  private waiter: ((e: LinkEvent | null) => void) | null = null;
  pushes = 0;

  private constructor(socket: WebSocket) {
    this.socket = socket;
    socket.binaryType = 'nodebuffer';
    socket.on('message', (data: Buffer) => {
      const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      if (bytes.length >= 2 && bytes[1] === ServerType.PacketNotify) {
        this.pushes++;
        return;
      }
      this.push({ kind: 'frame', bytes });
    });
    socket.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.push({ kind: 'close', code, reason: reason.toString() });
    });
    socket.on('error', () => undefined); // the close event follows
  }

  static connect(url: string, timeoutMs = 5000): Promise<WsLink> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, { handshakeTimeout: timeoutMs, maxPayload: 16 * 1024 * 1024 });
      socket.once('open', () => resolve(new WsLink(socket)));
      socket.once('error', reject);
    });
  }

  private push(e: LinkEvent): void {
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w(e);
    } else this.queue.push(e);
  }

  /** The next frame or the close; null when nothing came within `timeoutMs`. */
  next(timeoutMs: number): Promise<LinkEvent | null> {
    const e = this.queue.shift();
    if (e) return Promise.resolve(e);
    if (this.closed) return Promise.resolve({ kind: 'close', ...this.closed });
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        resolve(null);
      }, timeoutMs);
      this.waiter = (ev) => {
        clearTimeout(timer);
        resolve(ev);
      };
    });
  }

  send(bytes: Uint8Array, text = false): void {
    if (this.socket.readyState !== WebSocket.OPEN) return;
    if (text) this.socket.send(Buffer.from(bytes).toString('latin1'), { binary: false });
    else this.socket.send(bytes, { binary: true });
  }

  close(): void {
    if (this.socket.readyState === WebSocket.OPEN || this.socket.readyState === WebSocket.CONNECTING) this.socket.close(1000);
  }

  terminate(): void {
    this.socket.terminate();
  }
}
