// The public HTTP API (for autocannon and plain clients): POST /v1/shake, POST /v1/open,
// GET /v1/packets/:id, GET /health. User requests carry `Authorization: Bearer <user token>` and
// go through the same turn batches as WebSocket frames; answers are JSON.
import type { HttpRequest, HttpResponse, TemplatedApp } from '@trufflesuite/uws-js-unofficial';
import { verifyToken } from '../auth/token.ts';
import { OpenStatus, ShakeStatus, type PacketDetails } from '../engine/types.ts';
import type { Ledger } from '../ledger/types.ts';
import type { Cover } from '../protocol/codec.ts';
import { CommonStatus } from '../protocol/codes.ts';
import type { Batcher } from './batch/batcher.ts';
import { C } from './counters.ts';
import type { MoveGate } from './gate.ts';
import { bearer, HttpExchange, parseJsonObject } from './http-util.ts';
import { EMPTY_COVER, type Replier } from './replier.ts';
import { serveStaticUws, type StaticFiles } from '../web/static.ts';

export const OPEN_STATUS_NAMES: Record<number, string> = {
  [OpenStatus.Ok]: 'ok',
  [OpenStatus.Repeat]: 'repeat',
  [OpenStatus.NotRecipient]: 'not-recipient',
  [OpenStatus.Empty]: 'empty',
  [OpenStatus.Expired]: 'expired',
  [OpenStatus.UnknownPacket]: 'unknown-packet',
};

function common(ex: HttpExchange, status: number): boolean {
  if (status === CommonStatus.Overloaded) ex.json(429, { status: 'overloaded' });
  else if (status === CommonStatus.Unavailable) ex.json(503, { status: 'unavailable' });
  else return false;
  return true;
}

export function detailsJson(d: PacketDetails, cover: Cover | null): Record<string, unknown> {
  return { ...d, cover: cover ?? EMPTY_COVER };
}

/** A batched HTTP request: the batcher answers it like a WebSocket session. */
class HttpReplier extends HttpExchange implements Replier {
  shakeResult(_requestId: number, status: number, packetId: number, cents: number): void {
    if (common(this, status)) return;
    if (status === ShakeStatus.Hit) this.json(200, { status: 'hit', packetId, cents });
    else this.json(200, { status: 'miss' });
  }

  openResult(_requestId: number, status: number, packetId: number, cents: number): void {
    if (common(this, status)) return;
    this.json(200, { status: OPEN_STATUS_NAMES[status] ?? String(status), packetId, cents });
  }

  createResult(): void {
    this.json(500, { error: 'internal', message: 'no create over HTTP' });
  }

  detailsResult(_requestId: number, status: number, d: PacketDetails | null, cover: Cover | null): void {
    if (common(this, status)) return;
    if (d === null) this.json(404, { error: 'unknown-packet', message: 'no such packet' });
    else this.json(200, detailsJson(d, cover));
  }
}

export interface HttpApiDeps {
  secret: string;
  batcher: Batcher;
  gate: MoveGate;
  ledger: Ledger;
  counters: Float64Array;
  engineKind: string;
  /** The shake page's files, once loaded (null until then, or when the page is not served). */
  web(): StaticFiles | null;
}

/** Largest body of a public request (docs/protocol.md): above it, 413 at once, nothing read. */
export const MAX_PUBLIC_BODY = 1024;

/** A declared body above the limit is refused before anything else (no body, chunked or short: let through). */
function tooLarge(ex: HttpReplier, req: HttpRequest, counters: Float64Array): boolean {
  const length = Number(req.getHeader('content-length'));
  if (!(length > MAX_PUBLIC_BODY)) return false;
  counters[C.errors]++;
  ex.json(413, { error: 'too-large', message: `body above ${MAX_PUBLIC_BODY} bytes` });
  return true;
}

function authenticate(ex: HttpReplier, req: HttpRequest, secret: string, counters: Float64Array): number | null {
  const token = bearer(req.getHeader('authorization'));
  if (token === null) {
    counters[C.errors]++;
    ex.json(401, { error: 'unauthorized', message: 'Authorization: Bearer <user token> is required' });
    return null;
  }
  const check = verifyToken(secret, token);
  if (!check.ok) {
    counters[C.errors]++;
    ex.json(401, { error: check.reason === 'expired' ? 'token-expired' : 'unauthorized', message: `token ${check.reason}` });
    return null;
  }
  return check.userId;
}

/** A packet id in a JSON body: a JSON integer in [0, 2^32), never a string. */
function bodyPacketId(raw: unknown): number | null {
  return typeof raw === 'number' && Number.isInteger(raw) && raw >= 0 && raw <= 0xffffffff ? raw : null;
}

/** A packet id in a path: 1 to 10 decimal digits, in [0, 2^32). */
function pathPacketId(raw: string): number | null {
  if (!/^\d{1,10}$/.test(raw)) return null;
  const n = Number(raw);
  return n <= 0xffffffff ? n : null;
}

export function mountHttpApi(app: TemplatedApp, deps: HttpApiDeps): void {
  const { batcher, counters } = deps;

  app.post('/v1/shake', (res: HttpResponse, req: HttpRequest) => {
    const ex = new HttpReplier(res);
    if (tooLarge(ex, req, counters)) return;
    const user = authenticate(ex, req, deps.secret, counters);
    if (user !== null) batcher.shake(ex, 0, user);
  });

  app.post('/v1/open', (res: HttpResponse, req: HttpRequest) => {
    const ex = new HttpReplier(res);
    if (tooLarge(ex, req, counters)) return;
    const user = authenticate(ex, req, deps.secret, counters);
    if (user === null) return;
    ex.readBody(MAX_PUBLIC_BODY, (body) => {
      const obj = parseJsonObject(ex, body);
      if (obj === null) {
        counters[C.errors]++;
        return;
      }
      const packetId = bodyPacketId(obj.packetId);
      if (packetId === null) {
        counters[C.errors]++;
        ex.json(400, { error: 'bad-field', message: 'packetId must be a JSON integer in [0, 2^32)' });
        return;
      }
      batcher.open(ex, 0, user, packetId);
    });
  });

  app.get('/v1/packets/:id', (res: HttpResponse, req: HttpRequest) => {
    const ex = new HttpReplier(res);
    const raw = req.getParameter(0);
    const user = authenticate(ex, req, deps.secret, counters);
    if (user === null) return;
    const packetId = pathPacketId(raw);
    if (packetId === null) {
      counters[C.errors]++;
      ex.json(400, { error: 'bad-field', message: 'the packet id must be an integer in [0, 2^32)' });
      return;
    }
    batcher.details(ex, 0, packetId);
  });

  app.get('/health', (res: HttpResponse) => {
    const ex = new HttpExchange(res);
    const ledger = deps.ledger.health();
    const ok = deps.gate.state === 'healthy' && ledger.healthy;
    ex.json(ok ? 200 : 503, { ok, state: deps.gate.state, engine: deps.engineKind, ledger });
  });

  app.any('/*', (res: HttpResponse, req: HttpRequest) => {
    const web = deps.web();
    if (web && serveStaticUws(web, res, req.getMethod(), req.getUrl())) return;
    new HttpExchange(res).json(404, { error: 'not-found', message: 'no such endpoint' });
  });
}
