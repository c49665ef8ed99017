// Small helpers for uWS HTTP handlers: a request-state object of our own (never flags on `res`),
// JSON answers that are corked and skipped once aborted, and a bounded body reader.
import type { HttpResponse } from '@trufflesuite/uws-js-unofficial';

const STATUS_TEXT: Record<number, string> = {
  200: '200 OK',
  400: '400 Bad Request',
  401: '401 Unauthorized',
  404: '404 Not Found',
  405: '405 Method Not Allowed',
  413: '413 Payload Too Large',
  422: '422 Unprocessable Entity',
  429: '429 Too Many Requests',
  500: '500 Internal Server Error',
  503: '503 Service Unavailable',
};

export function statusLine(code: number): string {
  return STATUS_TEXT[code] ?? `${code} Status`;
}

/** One HTTP request in flight. Register it (which registers onAborted) before returning from the handler. */
export class HttpExchange {
  aborted = false;
  done = false;

  constructor(readonly res: HttpResponse) {
    res.onAborted(() => {
      this.aborted = true;
    });
  }

  /** Send a JSON answer once; later calls, and calls after an abort, do nothing. */
  json(status: number, body: unknown): void {
    this.text(status, JSON.stringify(body), 'application/json');
  }

  text(status: number, body: string, contentType: string): void {
    if (this.aborted || this.done) return;
    this.done = true;
    this.res.cork(() => {
      this.res.writeStatus(statusLine(status)).writeHeader('content-type', contentType).end(body);
    });
  }

  /** Read the whole body (up to `limit` bytes, else 413) and hand it over as a string. */
  readBody(limit: number, then: (body: string) => void): void {
    const chunks: Buffer[] = [];
    let size = 0;
    this.res.onData((chunk, isLast) => {
      if (this.done || this.aborted) return;
      size += chunk.byteLength;
      if (size > limit) {
        this.json(413, { error: 'too-large', message: `body above ${limit} bytes` });
        return;
      }
      chunks.push(Buffer.from(chunk.slice(0))); // the chunk is detached when this callback returns
      if (isLast) then(Buffer.concat(chunks).toString('utf8'));
    });
  }
}

/** A request refused with 400 bad-request; its message names what is wrong. */
export class BadRequest extends Error {}

/** Parse a JSON object body, or answer 400 and return null. */
export function parseJsonObject(ex: HttpExchange, body: string): Record<string, unknown> | null {
  if (body.trim() === '') return {};
  try {
    const value: unknown = JSON.parse(body);
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // fall through
  }
  ex.json(400, { error: 'bad-json', message: 'the body must be a JSON object' });
  return null;
}

export function bearer(header: string): string | null {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1] : null;
}
