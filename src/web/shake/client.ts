// The browser's end of the binary WebSocket protocol (src/protocol/): sign in, then requests that
// resolve with their result frame (matched by request id), plus packet notifications pushed live.
import { decodeServerFrame, encodeLogin, type ServerFrame } from '../../protocol/codec.ts';
import { ServerType } from '../../protocol/codes.ts';
import { closeCodeText, errorCodeText } from './words.ts';

/** Path of the WebSocket endpoint on the page's own origin (src/server/ serves the page at `/`). */
export const WS_PATH = '/ws';
const REQUEST_TIMEOUT_MS = 10_000;

export type Notify = Extract<ServerFrame, { type: typeof ServerType.PacketNotify }>;

interface Pending {
  resolve(frame: ServerFrame): void;
  reject(err: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

export class HongbaoClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  onNotify: (n: Notify) => void = () => {};
  /** Called once when a signed-in connection ends, with a sentence for the person. */
  onClosed: (sentence: string) => void = () => {};

  private constructor(
    private readonly ws: WebSocket,
    readonly userId: number,
  ) {}

  static wsUrl(loc: Location = location): string {
    return `${loc.protocol === 'https:' ? 'wss:' : 'ws:'}//${loc.host}${WS_PATH}`;
  }

  /** Connect and log in; rejects with a sentence for the sign-in form. */
  static signIn(userId: number, token: string, url = HongbaoClient.wsUrl()): Promise<HongbaoClient> {
    return new Promise((resolve, reject) => {
      let ws: WebSocket;
      try {
        ws = new WebSocket(url);
      } catch {
        reject(new Error('Cannot reach the server from this page.'));
        return;
      }
      ws.binaryType = 'arraybuffer';
      const client = new HongbaoClient(ws, userId);
      let signedIn = false;
      ws.onopen = () => {
        try {
          ws.send(encodeLogin(client.nextId++, userId, token));
        } catch (err) {
          ws.close();
          reject(new Error(err instanceof RangeError ? 'That token is too long to be real.' : 'Could not send the sign-in.'));
        }
      };
      ws.onmessage = (ev) => {
        let frame: ServerFrame;
        try {
          frame = decodeServerFrame(new Uint8Array(ev.data as ArrayBuffer));
        } catch {
          return; // a frame this page does not know: ignore it rather than fail the session
        }
        if (!signedIn) {
          if (frame.type === ServerType.LoginOk) {
            signedIn = true;
            resolve(client);
          } else if (frame.type === ServerType.Error) {
            ws.onclose = null;
            ws.close();
            reject(new Error(`Sign-in refused: ${errorCodeText(frame.code)}`));
          }
          return;
        }
        client.dispatch(frame);
      };
      ws.onclose = (ev) => {
        const sentence = closeCodeText(ev.code, ev.reason);
        client.failAll(sentence);
        if (signedIn) client.onClosed(sentence);
        else reject(new Error(ev.code === 1006 ? 'Cannot reach the server: is it running?' : sentence));
      };
    });
  }

  /** Send a frame built with the given request id; resolves with the answer to it. */
  request(build: (requestId: number) => Uint8Array): Promise<ServerFrame> {
    const requestId = this.nextId++ >>> 0;
    return new Promise((resolve, reject) => {
      if (this.ws.readyState !== WebSocket.OPEN) {
        reject(new Error('Not connected: sign in again.'));
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(requestId);
        reject(new Error('The server did not answer in time.'));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(requestId, { resolve, reject, timer });
      this.ws.send(build(requestId));
    });
  }

  close(): void {
    this.onClosed = () => {};
    this.ws.close(1000);
  }

  private dispatch(frame: ServerFrame): void {
    if (frame.type === ServerType.PacketNotify) {
      this.onNotify(frame);
      return;
    }
    const p = this.pending.get(frame.requestId);
    if (!p) return;
    this.pending.delete(frame.requestId);
    clearTimeout(p.timer);
    p.resolve(frame);
  }

  private failAll(sentence: string): void {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new Error(sentence));
    }
    this.pending.clear();
  }
}
