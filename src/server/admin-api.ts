// The admin API (docs/admin-api.md) on its own port, 127.0.0.1 by default. Every request needs
// `Authorization: Bearer <admin token>`, compared in constant time.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { HttpRequest, HttpResponse, TemplatedApp } from '@trufflesuite/uws-js-unofficial';
import { CreateStatus, EngineInputError, MAX_PACKET_CENTS, MAX_RECIPIENTS, MAX_SHARES, type AmountRule } from '../engine/types.ts';
import type { Cover } from '../protocol/codec.ts';
import { CreateExtraStatus, MAX_STORY_BYTES, MAX_TITLE_BYTES } from '../protocol/codes.ts';
import type { Campaign } from './campaign.ts';
import { END_OF_TIME, Unavailable, type GroupMoves } from './groups.ts';
import { bearer, HttpExchange, parseJsonObject } from './http-util.ts';
import type { Metrics } from './metrics.ts';
import type { SupplyControl } from './supply-clock.ts';

export const CREATE_STATUS_NAMES: Record<number, string> = {
  [CreateStatus.Ok]: 'ok',
  [CreateStatus.TotalBelowShares]: 'total-below-shares',
  [CreateStatus.BadShareCount]: 'bad-share-count',
  [CreateStatus.BadTotal]: 'bad-total',
  [CreateStatus.BadRecipients]: 'bad-recipients',
  [CreateExtraStatus.BadCover]: 'bad-cover',
};

export interface AdminDeps {
  token: string;
  splitMode: 'double-mean' | 'line-segment';
  supply: SupplyControl;
  campaign: Campaign;
  groups: GroupMoves;
  metrics: Metrics;
  stats(): Promise<unknown>;
  health(): { ok: boolean; body: unknown };
  log(message: string): void;
}

class BadRequest extends Error {}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

const MAX_BODY = 64 * 1024;
const DAY_MS = 86_400_000;

// ---- body checks: each throws BadRequest with plain words ---------------------------------------

function int(obj: Record<string, unknown>, name: string, min: number, max: number, fallback?: number): number {
  const v = obj[name] ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new BadRequest(`${name} must be an integer in [${min}, ${max}]`);
  }
  return v;
}

function positive(obj: Record<string, unknown>, name: string): number {
  const v = obj[name];
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new BadRequest(`${name} must be a positive number`);
  return v;
}

function rule(obj: Record<string, unknown>): AmountRule {
  const r = obj.rule as Record<string, unknown> | undefined;
  if (!r || typeof r !== 'object') throw new BadRequest('rule must be {"kind":"range","min":..,"max":..} or {"kind":"list","values":[..]}');
  if (r.kind === 'range') {
    const min = int(r, 'min', 1, MAX_PACKET_CENTS);
    const max = int(r, 'max', min, MAX_PACKET_CENTS);
    return { kind: 'range', min, max };
  }
  if (r.kind === 'list' && Array.isArray(r.values) && r.values.length > 0) {
    for (const v of r.values)
      if (!Number.isInteger(v) || v < 1 || v > MAX_PACKET_CENTS) throw new BadRequest(`rule.values must be integers in [1, ${MAX_PACKET_CENTS}]`);
    return { kind: 'list', values: r.values as number[] };
  }
  throw new BadRequest('rule.kind must be "range" (with min, max) or "list" (with values)');
}

/** A cover, or null for none; 'bad' when it breaks the protocol's limits. */
function cover(raw: unknown): Cover | null | 'bad' {
  if (raw === undefined || raw === null) return null;
  if (typeof raw !== 'object') throw new BadRequest('cover must be {"title","colour","story"}');
  const c = raw as Record<string, unknown>;
  const title = c.title ?? '';
  const story = c.story ?? '';
  const colour = c.colour ?? 0;
  if (typeof title !== 'string' || typeof story !== 'string' || typeof colour !== 'number') {
    throw new BadRequest('cover.title and cover.story must be strings, cover.colour a number');
  }
  if (Buffer.byteLength(title) > MAX_TITLE_BYTES || Buffer.byteLength(story) > MAX_STORY_BYTES) return 'bad';
  if (!Number.isInteger(colour) || colour < 0 || colour > 0xffffff) return 'bad';
  return title === '' && story === '' && colour === 0 ? null : { title, colour, story };
}

function recipients(obj: Record<string, unknown>): number[] {
  const r = obj.recipients;
  if (!Array.isArray(r) || r.length > MAX_RECIPIENTS) throw new BadRequest(`recipients must be an array of at most ${MAX_RECIPIENTS} user ids`);
  for (const u of r) if (!Number.isInteger(u) || u < 0 || u > 0xfffffffe) throw new BadRequest('recipients must be user ids (integers in [0, 2^32 - 2])');
  return r as number[];
}

// ---- the routes ---------------------------------------------------------------------------------

export function mountAdminApi(app: TemplatedApp, deps: AdminDeps): void {
  const expected = digest(deps.token);
  const authorized = (req: HttpRequest) => {
    const given = bearer(req.getHeader('authorization'));
    return given !== null && timingSafeEqual(digest(given), expected);
  };

  /** Route with auth, JSON body (for POST), and one place that turns errors into answers. */
  const route = (method: 'get' | 'post' | 'del', pattern: string, handle: (ex: HttpExchange, body: Record<string, unknown>) => Promise<void> | void) => {
    app[method](pattern, (res: HttpResponse, req: HttpRequest) => {
      const ex = new HttpExchange(res);
      if (!authorized(req)) {
        ex.json(401, { error: 'unauthorized', message: 'Authorization: Bearer <admin token> is required' });
        return;
      }
      const run = (body: Record<string, unknown>) => {
        Promise.resolve()
          .then(() => handle(ex, body))
          .catch((err: unknown) => {
            if (err instanceof BadRequest || err instanceof EngineInputError) ex.json(400, { error: 'bad-request', message: err.message });
            else if (err instanceof Unavailable) ex.json(503, { error: 'unavailable', message: err.message });
            else {
              deps.log(`admin ${method.toUpperCase()} ${pattern} failed: ${(err as Error).stack ?? String(err)}`);
              ex.json(500, { error: 'internal', message: (err as Error).message });
            }
          });
      };
      if (method === 'post') {
        ex.readBody(MAX_BODY, (text) => {
          const body = parseJsonObject(ex, text);
          if (body !== null) run(body);
        });
      } else {
        run({});
      }
    });
  };

  route('post', '/admin/supply', async (ex, b) => {
    const supply = await deps.supply.begin({ total: int(b, 'total', 1, 0xffffffff), ratePerSecond: positive(b, 'ratePerSecond'), rule: rule(b) });
    ex.json(200, { ok: true, supply });
  });

  route('del', '/admin/supply', async (ex) => {
    ex.json(200, { ok: true, supply: await deps.supply.end() });
  });

  route('post', '/admin/campaign', (ex, b) => {
    const recipientsPerPacket = int(b, 'recipientsPerPacket', 1, MAX_SHARES);
    const userFrom = int(b, 'userFrom', 0, 0xfffffffe);
    const userTo = int(b, 'userTo', userFrom, 0xfffffffe);
    if (userTo - userFrom < recipientsPerPacket)
      throw new BadRequest('the user range needs more users than recipientsPerPacket (the sender is not a recipient)');
    const campaign = deps.campaign.start({
      count: int(b, 'count', 1, 0xffffffff),
      ratePerSecond: positive(b, 'ratePerSecond'),
      recipientsPerPacket,
      userFrom,
      userTo,
      rule: rule(b),
      expiresInMs: int(b, 'expiresInMs', 1, 365 * DAY_MS, DAY_MS),
    });
    ex.json(200, { ok: true, campaign });
  });

  route('del', '/admin/campaign', (ex) => {
    ex.json(200, { ok: true, campaign: deps.campaign.stop() });
  });

  route('post', '/admin/packets', async (ex, b) => {
    const mode = b.splitMode ?? deps.splitMode;
    if (mode !== 'double-mean' && mode !== 'line-segment') throw new BadRequest('splitMode must be "double-mean" or "line-segment"');
    if (mode !== deps.splitMode) throw new BadRequest(`this server splits every packet ${deps.splitMode} (--split-mode)`);
    const c = cover(b.cover);
    const sender = int(b, 'sender', 0, 0xfffffffe);
    const totalCents = int(b, 'totalCents', 0, 0xffffffff);
    const shareCount = int(b, 'shareCount', 0, 0xffff);
    const to = recipients(b);
    const expiresInMs = int(b, 'expiresInMs', 1, 365 * DAY_MS, DAY_MS);
    if (c === 'bad') {
      ex.json(422, {
        status: 'bad-cover',
        error: 'bad-cover',
        message: `cover title <= ${MAX_TITLE_BYTES} bytes, story <= ${MAX_STORY_BYTES} bytes, colour 0xRRGGBB`,
      });
      return;
    }
    const [r] = await deps.groups.create([{ sender, totalCents, shareCount, recipients: to, expiresAt: Date.now() + expiresInMs, cover: c }]);
    if (r.status === CreateStatus.Ok) ex.json(200, { status: 'ok', packetId: r.packetId });
    else {
      const name = CREATE_STATUS_NAMES[r.status] ?? String(r.status);
      ex.json(422, { status: name, error: name, message: `the engine refused the packet: ${name}` });
    }
  });

  route('post', '/admin/expire', async (ex, b) => {
    let force: Uint32Array | undefined;
    if (b.packetIds !== undefined) {
      if (!Array.isArray(b.packetIds) || b.packetIds.some((id) => !Number.isInteger(id) || id < 0 || id > 0xffffffff)) {
        throw new BadRequest('packetIds must be an array of packet ids');
      }
      force = Uint32Array.from(b.packetIds as number[]);
    }
    // With ids: only those (and whatever is due anyway); without: every packet, as if time ran out.
    const result = force ? await deps.groups.expire(Date.now(), force) : await deps.groups.expire(END_OF_TIME);
    ex.json(200, result);
  });

  route('get', '/stats', async (ex) => {
    ex.json(200, await deps.stats());
  });

  route('get', '/metrics', async (ex) => {
    ex.text(200, await deps.metrics.text(), deps.metrics.registry.contentType);
  });

  route('get', '/health', (ex) => {
    const h = deps.health();
    ex.json(h.ok ? 200 : 503, h.body);
  });

  app.any('/*', (res: HttpResponse, req: HttpRequest) => {
    const ex = new HttpExchange(res);
    if (!authorized(req)) ex.json(401, { error: 'unauthorized', message: 'Authorization: Bearer <admin token> is required' });
    else ex.json(404, { error: 'not-found', message: 'no such admin endpoint' });
  });
}
