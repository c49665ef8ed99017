// Just enough RFC 6455 for a load generator: the client's upgrade request, the check of the
// server's answer, masked client frames written into a caller's buffer, and a parser for the
// server's (unmasked) frames. No extensions are offered, so no compression; fragmented messages are
// reported as a protocol error (the server sends every message in one frame).
import { createHash, randomBytes } from 'node:crypto';

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export const Opcode = { Continuation: 0x0, Text: 0x1, Binary: 0x2, Close: 0x8, Ping: 0x9, Pong: 0xa } as const;

export function newWebSocketKey(): string {
  return randomBytes(16).toString('base64');
}

export function expectedAccept(key: string): string {
  return createHash('sha1')
    .update(key + WS_GUID)
    .digest('base64');
}

export function upgradeRequest(host: string, port: number, path: string, key: string): string {
  return (
    `GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`
  );
}

/** Check the server's handshake answer (the head up to and excluding the blank line). */
export function checkUpgradeResponse(head: string, key: string): string | null {
  const lines = head.split('\r\n');
  if (!/^HTTP\/1\.1 101\b/.test(lines[0] ?? '')) return `upgrade refused: ${lines[0] ?? '(empty answer)'}`;
  let accept = '';
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === 'sec-websocket-accept') accept = line.slice(colon + 1).trim();
  }
  return accept === expectedAccept(key) ? null : 'bad Sec-WebSocket-Accept';
}

/** Bytes a masked client frame with a payload of `length` bytes takes. */
export function clientFrameSize(length: number): number {
  return (length < 126 ? 2 : length < 65536 ? 4 : 10) + 4 + length;
}

/**
 * Write a masked client frame (FIN set) carrying `payload` into `out` at `at`; returns the new
 * offset. `mask` is 4 bytes; `payload` is read, never modified.
 */
export function writeClientFrame(out: Uint8Array, at: number, opcode: number, payload: Uint8Array, mask: Uint8Array): number {
  const n = payload.length;
  out[at++] = 0x80 | opcode;
  if (n < 126) {
    out[at++] = 0x80 | n;
  } else if (n < 65536) {
    out[at++] = 0x80 | 126;
    out[at++] = n >>> 8;
    out[at++] = n & 0xff;
  } else {
    out[at++] = 0x80 | 127;
    for (let shift = 56; shift >= 0; shift -= 8) out[at++] = shift >= 32 ? 0 : (n >>> shift) & 0xff;
  }
  out[at] = mask[0];
  out[at + 1] = mask[1];
  out[at + 2] = mask[2];
  out[at + 3] = mask[3];
  at += 4;
  for (let i = 0; i < n; i++) out[at + i] = payload[i] ^ mask[i & 3];
  return at + n;
}

/** One masked client frame in a fresh buffer (rare messages: login, close, pong). */
export function encodeClientFrame(opcode: number, payload: Uint8Array, mask: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(clientFrameSize(payload.length));
  writeClientFrame(out, 0, opcode, payload, mask);
  return out;
}

export interface FrameSink {
  /** A complete frame: payload is buf[start, end), valid only during the call. */
  frame(opcode: number, buf: Buffer, start: number, end: number): void;
  protocolError(message: string): void;
}

/**
 * Parse as many complete server frames as `buf` holds from `at`; returns the offset of the first
 * incomplete byte (buf.length when everything was consumed), or -1 after a protocol error.
 */
export function parseServerFrames(buf: Buffer, at: number, sink: FrameSink): number {
  const end = buf.length;
  while (end - at >= 2) {
    const b0 = buf[at];
    const b1 = buf[at + 1];
    if ((b0 & 0x80) === 0) {
      sink.protocolError('fragmented message');
      return -1;
    }
    if (b0 & 0x70) {
      sink.protocolError('reserved bits set (no extension was negotiated)');
      return -1;
    }
    if (b1 & 0x80) {
      sink.protocolError('masked frame from the server');
      return -1;
    }
    let length = b1 & 0x7f;
    let header = 2;
    if (length === 126) {
      if (end - at < 4) break;
      length = buf.readUInt16BE(at + 2);
      header = 4;
    } else if (length === 127) {
      if (end - at < 10) break;
      const high = buf.readUInt32BE(at + 2);
      if (high !== 0) {
        sink.protocolError('frame longer than 4 GiB');
        return -1;
      }
      length = buf.readUInt32BE(at + 6);
      header = 10;
    }
    if (end - at < header + length) break;
    sink.frame(b0 & 0x0f, buf, at + header, at + header + length);
    at += header + length;
  }
  return at;
}
