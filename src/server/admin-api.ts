// The admin API (docs/admin-api.md) on its own port, 127.0.0.1 by default. Every request needs
// `Authorization: Bearer <admin token>`, compared in constant time.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { HttpRequest, HttpResponse, TemplatedApp } from '@trufflesuite/uws-js-unofficial';
import { CreateStatus, EngineInputError } from '../engine/types.ts';
import type { Cover } from '../protocol/codec.ts';
import { CreateExtraStatus, MAX_STORY_BYTES, MAX_TITLE_BYTES } from '../protocol/codes.ts';
import type { PacketBody } from './admin-schemas.ts';
import type { Campaign } from './campaign.ts';
import { END_OF_TIME, Unavailable, type GroupMoves } from './groups.ts';
import { BadRequest, bearer, HttpExchange, parseJsonObject } from './http-util.ts';
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

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

const MAX_BODY = 64 * 1024;

/** The POST bodies' schemas, loaded with the first POST: zod takes ~3 MiB of a node's heap, and of
 *  a cluster's many nodes only the one the admin calls go to validates bodies. */
let schemas: Promise<typeof import('./admin-schemas.ts')> | null = null;
const bodies = () => (schemas ??= import('./admin-schemas.ts'));

/** The cover of a packet body, or null for none; 'bad' when it breaks the protocol's limits (422). */
function cover(c: PacketBody['cover']): Cover | null | 'bad' {
  if (c === undefined || c === null) return null;
  const { title, story, colour } = c;
  if (Buffer.byteLength(title) > MAX_TITLE_BYTES || Buffer.byteLength(story) > MAX_STORY_BYTES) return 'bad';
  if (!Number.isInteger(colour) || colour < 0 || colour > 0xffffff) return 'bad';
  return title === '' && story === '' && colour === 0 ? null : { title, colour, story };
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
    const { parseBody, supplyBody } = await bodies();
    const supply = await deps.supply.begin(parseBody(supplyBody, b));
    ex.json(200, { ok: true, supply });
  });

  route('del', '/admin/supply', async (ex) => {
    ex.json(200, { ok: true, supply: await deps.supply.end() });
  });

  route('post', '/admin/campaign', async (ex, b) => {
    const { parseBody, campaignBody } = await bodies();
    const campaign = deps.campaign.start(parseBody(campaignBody, b));
    ex.json(200, { ok: true, campaign });
  });

  route('del', '/admin/campaign', (ex) => {
    ex.json(200, { ok: true, campaign: deps.campaign.stop() });
  });

  route('post', '/admin/packets', async (ex, b) => {
    const { parseBody, packetBody } = await bodies();
    const { splitMode, sender, totalCents, shareCount, recipients, expiresInMs, ...rest } = parseBody(packetBody, b);
    if ((splitMode ?? deps.splitMode) !== deps.splitMode) throw new BadRequest(`this server splits every packet ${deps.splitMode} (--split-mode)`);
    const c = cover(rest.cover);
    if (c === 'bad') {
      ex.json(422, {
        status: 'bad-cover',
        error: 'bad-cover',
        message: `cover title <= ${MAX_TITLE_BYTES} bytes, story <= ${MAX_STORY_BYTES} bytes, colour 0xRRGGBB`,
      });
      return;
    }
    const [r] = await deps.groups.create([{ sender, totalCents, shareCount, recipients, expiresAt: Date.now() + expiresInMs, cover: c }]);
    if (r.status === CreateStatus.Ok) ex.json(200, { status: 'ok', packetId: r.packetId });
    else {
      const name = CREATE_STATUS_NAMES[r.status] ?? String(r.status);
      ex.json(422, { status: name, error: name, message: `the engine refused the packet: ${name}` });
    }
  });

  route('post', '/admin/expire', async (ex, b) => {
    const { parseBody, expireBody } = await bodies();
    const { packetIds } = parseBody(expireBody, b);
    const force = packetIds === undefined ? undefined : Uint32Array.from(packetIds);
    // With ids: only those (and whatever is due anyway); without: every packet, as if time ran out.
    const result = force ? await deps.groups.expire(Date.now(), force) : await deps.groups.expire(END_OF_TIME);
    ex.json(200, result);
  });

  route('get', '/stats', async (ex) => {
    ex.json(200, await deps.stats());
  });

  route('get', '/metrics', async (ex) => {
    const { body, contentType } = await deps.metrics.text();
    ex.text(200, body, contentType);
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
