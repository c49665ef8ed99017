// Serves the built web pages (dist/web/<page>/) from memory: read once at start-up, answered with the
// right content type. Framework-neutral core (`loadStatic`, `lookupStatic`) plus two thin adapters,
// one for node:http and one for uWebSockets.js. The pages are tiny, so no compression or range support.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ROOT, SRC } from '../paths.ts';

export interface StaticFile {
  body: Buffer;
  type: string;
}

export type StaticFiles = Map<string, StaticFile>;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webmanifest': 'application/manifest+json',
  '.txt': 'text/plain; charset=utf-8',
};

export function contentType(path: string): string {
  return TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream';
}

/** Same-origin only; the pages load nothing from elsewhere (uPlot sets inline styles, hence unsafe-inline for styles). */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'content-security-policy': "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'",
};

/** Read every file under `dir` into memory, keyed by URL path (`/app.js`); `/` maps to `/index.html`. */
export function loadStatic(dir: string | URL): StaticFiles {
  const root = typeof dir === 'string' ? dir : fileURLToPath(dir);
  const files: StaticFiles = new Map();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const full = join(d, name);
      if (statSync(full).isDirectory()) walk(full);
      else files.set(`/${relative(root, full).split(sep).join('/')}`, { body: readFileSync(full), type: contentType(name) });
    }
  };
  walk(root);
  const index = files.get('/index.html');
  if (index) files.set('/', index);
  return files;
}

/** The file for a request URL (query and fragment ignored), or undefined. Only GET and HEAD are answered. */
export function lookupStatic(files: StaticFiles, method: string, url: string): StaticFile | undefined {
  const m = method.toUpperCase();
  if (m !== 'GET' && m !== 'HEAD') return undefined;
  const q = url.search(/[?#]/);
  return files.get(q === -1 ? url : url.slice(0, q));
}

/** The repository's dist/web folder (built by `npm run build:web`). */
export const WEB_DIST = join(ROOT, 'dist/web');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const name of readdirSync(dir)) {
    const st = statSync(join(dir, name));
    newest = Math.max(newest, st.isDirectory() ? newestMtime(join(dir, name)) : st.mtimeMs);
  }
  return newest;
}

/** True when dist/web/<page> is missing or older than a source it is built from. */
export function webPageStale(page: 'shake' | 'dashboard'): boolean {
  const index = join(WEB_DIST, page, 'index.html');
  if (!existsSync(index)) return true;
  if (!existsSync(join(SRC, 'web', page))) return false; // deployed without sources: use what is built
  const sources = Math.max(newestMtime(join(SRC, 'web')), newestMtime(join(SRC, 'protocol')), statSync(join(SRC, 'engine', 'types.ts')).mtimeMs);
  return sources > statSync(index).mtimeMs;
}

/**
 * Load one built page (`shake` or `dashboard`). If it was never built (a fresh checkout that skipped
 * `npm run build:web`) or its sources changed since, build it first with esbuild (about a tenth of a
 * second; into a private folder that is then renamed, so concurrent loaders never see half a page).
 */
export async function loadWebPage(page: 'shake' | 'dashboard'): Promise<StaticFiles> {
  if (webPageStale(page)) {
    const { buildWeb } = await import(pathToFileURL(join(ROOT, 'scripts/build-web.mjs')).href);
    await buildWeb({ pages: [page] });
  }
  for (let attempt = 1; ; attempt++) {
    try {
      return loadStatic(join(WEB_DIST, page));
    } catch (err) {
      // A parallel build may be swapping the folder this very moment: read again shortly.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt === 5) throw err;
      await new Promise((r) => setTimeout(r, 50 * attempt));
    }
  }
}

// ---- adapters -----------------------------------------------------------------------------------

/** node:http: answer the request if it names a static file, else return false and touch nothing. */
export function serveStaticNode(files: StaticFiles, req: IncomingMessage, res: ServerResponse): boolean {
  const file = lookupStatic(files, req.method ?? 'GET', req.url ?? '/');
  if (!file) return false;
  res.writeHead(200, {
    'content-type': file.type,
    'content-length': file.body.length,
    'cache-control': 'no-cache',
    ...SECURITY_HEADERS,
  });
  res.end(req.method === 'HEAD' ? undefined : file.body);
  return true;
}

/** The part of a uWS HttpResponse this module uses (kept structural: no import of uWS here). */
export interface UwsResponseLike {
  writeStatus(status: string): UwsResponseLike;
  writeHeader(key: string, value: string): UwsResponseLike;
  end(body?: ArrayBuffer | Uint8Array | string): unknown;
  endWithoutBody(reportedContentLength?: number): unknown;
  cork(cb: () => void): unknown;
}

/**
 * uWebSockets.js: call synchronously inside a `get`/`any` handler with `req.getMethod()` and
 * `req.getUrl()` (read them before any await). Answers and returns true, or returns false untouched.
 */
export function serveStaticUws(files: StaticFiles, res: UwsResponseLike, method: string, url: string): boolean {
  const file = lookupStatic(files, method, url);
  if (!file) return false;
  res.cork(() => {
    res.writeStatus('200 OK').writeHeader('content-type', file.type).writeHeader('cache-control', 'no-cache');
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.writeHeader(k, v);
    if (method.toUpperCase() === 'HEAD') res.endWithoutBody(file.body.length);
    else res.end(file.body);
  });
  return true;
}
