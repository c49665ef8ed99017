// The HTTP fuzzer: malformed requests to the public user API and the admin API over raw TCP (so
// broken HTTP can be sent too), one connection per request. Each case carries the statuses
// docs/protocol.md and docs/admin-api.md allow for it (0 = the server closed without an answer, which
// is what a broken HTTP request may get), and the `error` field a JSON error must carry. Admin requests
// with the right token only ever carry bodies that are invalid by construction, so none moves money;
// any answer that does tell of a move is recorded for the ledger check.
import net from 'node:net';
import { mintToken } from '../../src/auth/token.ts';
import { Rng } from './rng.ts';
import type { Told } from './told.ts';

export interface HttpFuzzOptions {
  host: string;
  port: number;
  adminPort: number;
  secret: string;
  adminToken: string;
  requests: number;
  concurrency: number;
  packetIds: number[];
  /** users of the HTTP fuzz: firstUser .. firstUser + 999 */
  firstUser: number;
  seed: number;
  told: Told;
  deadlineMs: number;
  timeoutMs?: number;
}

export interface HttpFuzzResult {
  requests: number;
  byStatus: Record<string, number>;
  byKind: Record<string, number>;
  mismatches: number;
  examples: string[];
  hangs: number;
  elapsedMs: number;
}

const BROKEN_TIMEOUT_MS = 20_000;
const BROKEN_POOL = 256;

interface Case {
  kind: string;
  admin: boolean;
  request: Buffer;
  /** allowed statuses; 0 = closed without a response */
  allow: number[];
  /** the JSON `error` field required for this status */
  errors?: Record<number, string[]>;
  /** a user whose told moves a 200 answer records */
  user?: number;
  route?: 'shake' | 'open';
}

interface RawResponse {
  status: number;
  body: string;
  timedOut: boolean;
}

/** Sends `request` on a new connection and reads one response (or the close). */
export function rawHttp(host: string, port: number, request: Buffer, timeoutMs: number, halfClose = false): Promise<RawResponse> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    let buf = Buffer.alloc(0);
    let done = false;
    const finish = (r: RawResponse) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => finish({ status: -1, body: '', timedOut: true }), timeoutMs);
    socket.on('connect', () => {
      socket.write(request);
      if (halfClose) socket.end();
    });
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const headEnd = buf.indexOf('\r\n\r\n');
      if (headEnd < 0) return;
      const head = buf.subarray(0, headEnd).toString('latin1');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? -2);
      const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      const body = buf.subarray(headEnd + 4);
      if (cl && body.length >= Number(cl[1])) finish({ status, body: body.subarray(0, Number(cl[1])).toString('utf8'), timedOut: false });
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      const headEnd = buf.indexOf('\r\n\r\n');
      if (headEnd < 0) return finish({ status: 0, body: '', timedOut: false });
      const head = buf.subarray(0, headEnd).toString('latin1');
      finish({ status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? -2), body: buf.subarray(headEnd + 4).toString('utf8'), timedOut: false });
    });
  });
}

function req(method: string, path: string, headers: Record<string, string>, body = ''): Buffer {
  const lines = [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1'];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  if (body || method === 'POST') lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n${body}`, 'latin1');
}

type Auth = { header: Record<string, string>; status: 0 } | { header: Record<string, string>; status: 401; error: string };

/** User authorization variants: 0 means "valid". */
function userAuth(rng: Rng, user: number, secret: string, adminToken: string): Auth {
  const token = mintToken(secret, user, Date.now() / 1000 + 3600);
  switch (rng.int(10)) {
    case 0:
      return { header: {}, status: 401, error: 'unauthorized' };
    case 1:
      return { header: { Authorization: 'Bearer' }, status: 401, error: 'unauthorized' };
    case 2:
      return { header: { Authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }, status: 401, error: 'unauthorized' };
    case 3:
      return { header: { Authorization: `Bearer ${token.slice(0, -3)}${token.endsWith('AAA') ? 'BBB' : 'AAA'}` }, status: 401, error: 'unauthorized' };
    case 4:
      return { header: { Authorization: `Bearer ${mintToken(secret, user, Date.now() / 1000 - 5)}` }, status: 401, error: 'token-expired' };
    case 5:
      return { header: { Authorization: `Bearer ${adminToken}` }, status: 401, error: 'unauthorized' };
    case 6:
      return { header: { Authorization: `Bearer ${mintToken('another secret', user, Date.now() / 1000 + 3600)}` }, status: 401, error: 'unauthorized' };
    default:
      return { header: { Authorization: `${rng.pick(['Bearer', 'bearer', 'BEARER'])} ${token}` }, status: 0 };
  }
}

const BAD_JSON = ['{', '{"packetId":', '{"packetId":1', 'packetId=1', '[1,2', 'nul', '{"a":1}}', '\u0000', '{"packetId":01}', "{'packetId':1}"];
const NOT_OBJECT = ['[]', '[{"packetId":1}]', '1', '"x"', 'null', 'true'];
const BAD_ID = [
  '{}',
  '{"packetId":null}',
  '{"packetId":-1}',
  '{"packetId":1.5}',
  '{"packetId":4294967296}',
  '{"packetId":"x"}',
  '{"packetId":"12345678901"}',
  '{"packetId":[1]}',
  '{"packetId":{"id":1}}',
  '{"packetId":true}',
  '{"packetId":1e300}',
  '{"packetId":" 1"}',
];

function publicCase(rng: Rng, o: HttpFuzzOptions): Case {
  const user = o.firstUser + rng.int(1000);
  const auth = userAuth(rng, user, o.secret, o.adminToken);
  const authed = (kind: string, request: Buffer, allow: number[], errors: Record<number, string[]>, route?: 'shake' | 'open'): Case =>
    auth.status === 401
      ? { kind: `${kind}, ${auth.error}`, admin: false, request, allow: [401], errors: { 401: [auth.error] } }
      : { kind, admin: false, request, allow, errors, user, route };
  switch (rng.int(9)) {
    case 0:
      return authed('shake', req('POST', '/v1/shake', auth.header, rng.chance(0.3) ? 'junk' : ''), [200, 429, 503], {}, 'shake');
    case 1: {
      const body = rng.pick(BAD_JSON);
      return authed('open: bad JSON', req('POST', '/v1/open', { ...auth.header, 'Content-Type': 'application/json' }, body), [400], { 400: ['bad-json'] });
    }
    case 2:
      return authed('open: not an object', req('POST', '/v1/open', auth.header, rng.pick(NOT_OBJECT)), [400], { 400: ['bad-json'] });
    case 3:
      return authed('open: bad packet id', req('POST', '/v1/open', auth.header, rng.pick(BAD_ID)), [400], { 400: ['bad-field'] });
    case 4: {
      // refused from its Content-Length before the token is looked at (docs/protocol.md)
      const big = JSON.stringify({ packetId: 1, pad: 'x'.repeat(rng.range(1030, 20_000)) });
      const path = rng.chance(0.5) ? '/v1/open' : '/v1/shake';
      return { kind: `${path}: body too large`, admin: false, request: req('POST', path, auth.header, big), allow: [413], errors: { 413: ['too-large'] } };
    }
    case 5: {
      const packetId = rng.chance(0.7) && o.packetIds.length ? rng.pick(o.packetIds) : rng.int(2 ** 32);
      return authed("open: someone else's packet", req('POST', '/v1/open', auth.header, JSON.stringify({ packetId, user: 1 })), [200, 503], {}, 'open');
    }
    case 6: {
      const id = rng.pick(['x', '-1', '1.5', '99999999999', '4294967296', '%31', '0x10', '1;2', 'ab%00cd']);
      return authed('details: bad id', req('GET', `/v1/packets/${id}`, auth.header), [400], { 400: ['bad-field'] });
    }
    case 7: {
      const [method, path] = rng.pick([
        ['GET', '/v1/shake'],
        ['PUT', '/v1/open'],
        ['DELETE', '/v1/packets/1'],
        ['GET', '/admin/supply'],
        ['POST', '/admin/expire'],
        ['GET', '/stats'],
        ['GET', '/metrics'],
        ['GET', '/v2/shake'],
        ['GET', '/../../etc/passwd'],
        ['POST', `/v1/${'a'.repeat(rng.range(1, 3000))}`],
        ['PATCH', '/health'],
      ]);
      return { kind: 'unknown route', admin: false, request: req(method, path, auth.header), allow: [404], errors: { 404: ['not-found'] } };
    }
    default:
      return brokenHttp(rng, false);
  }
}

/** Requests that break HTTP itself: the server may answer 4xx/5xx or close; it must not hang or fall. */
function brokenHttp(rng: Rng, admin: boolean): Case {
  const path = admin ? '/admin/packets' : '/v1/open';
  const variants: Array<[string, string]> = [
    ['garbage request line', 'GARBAGE\r\n\r\n'],
    ['no request line', '\r\n\r\n\r\n'],
    ['header without a colon', `POST ${path} HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n`],
    ['huge header', `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(rng.range(9000, 40_000))}\r\n\r\n`],
    ['many headers', `GET /health HTTP/1.1\r\n${Array.from({ length: 300 }, (_, i) => `X-H${i}: ${i}`).join('\r\n')}\r\n\r\n`],
    ['bad chunked body', `POST ${path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\nxx\r\n0\r\n\r\n`],
    ['content-length and chunked', `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`],
    ['negative content-length', `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n{}`],
    ['non-numeric content-length', `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}`],
    ['two content-lengths', `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 9\r\n\r\n{}`],
    ['HTTP/9.9', 'GET /health HTTP/9.9\r\nHost: x\r\n\r\n'],
    ['HTTP/0.9', 'GET /health\r\n\r\n'],
    ['NUL in the path', 'GET /he\u0000alth HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['very long URL', `GET /${'b'.repeat(rng.range(10_000, 70_000))} HTTP/1.1\r\nHost: x\r\n\r\n`],
    ['binary junk', Buffer.from(rng.bytes(rng.range(1, 2000))).toString('latin1')],
    ['body shorter than content-length, then FIN', `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{"a"`],
    ['header split by a bare LF', `GET /health HTTP/1.1\nHost: x\n\n`],
  ];
  const [kind, text] = rng.pick(variants);
  // Any refusal is fine here: a status from 400 up, a 404 for a path it does not know, or a close.
  return {
    kind: `broken HTTP: ${kind}`,
    admin,
    request: Buffer.from(text, 'latin1'),
    allow: [0, 200, 400, 401, 404, 405, 411, 413, 414, 417, 431, 501, 503, 505],
  };
}

const ADMIN_BODIES: Record<string, { status: number[]; bodies: string[] }> = {
  '/admin/supply': {
    status: [400],
    bodies: [
      '{"total":0,"ratePerSecond":1,"rule":{"kind":"range","min":1,"max":2}}',
      '{"total":-1,"ratePerSecond":1,"rule":{"kind":"range","min":1,"max":2}}',
      '{"total":1.5,"ratePerSecond":1,"rule":{"kind":"range","min":1,"max":2}}',
      '{"total":4294967296,"ratePerSecond":1,"rule":{"kind":"range","min":1,"max":2}}',
      '{"total":10,"ratePerSecond":0,"rule":{"kind":"range","min":1,"max":2}}',
      '{"total":10,"ratePerSecond":"fast","rule":{"kind":"range","min":1,"max":2}}',
      '{"total":10,"ratePerSecond":1}',
      '{"total":10,"ratePerSecond":1,"rule":{"kind":"range","min":5,"max":2}}',
      '{"total":10,"ratePerSecond":1,"rule":{"kind":"range","min":0,"max":2}}',
      '{"total":10,"ratePerSecond":1,"rule":{"kind":"list","values":[]}}',
      '{"total":10,"ratePerSecond":1,"rule":{"kind":"list","values":[0]}}',
      '{"total":10,"ratePerSecond":1,"rule":{"kind":"list","values":[100000001]}}',
      '{"total":10,"ratePerSecond":1,"rule":{"kind":"poisson"}}',
      '{"total":10,"ratePerSecond":1,"rule":"range"}',
    ],
  },
  '/admin/campaign': {
    status: [400],
    bodies: [
      '{"count":10,"ratePerSecond":1,"recipientsPerPacket":0,"userFrom":1,"userTo":10,"rule":{"kind":"range","min":1,"max":2}}',
      '{"count":10,"ratePerSecond":1,"recipientsPerPacket":3,"userFrom":10,"userTo":1,"rule":{"kind":"range","min":1,"max":2}}',
      '{"count":10,"ratePerSecond":1,"recipientsPerPacket":3,"userFrom":1,"userTo":3,"rule":{"kind":"range","min":1,"max":2}}',
      '{"count":0,"ratePerSecond":1,"recipientsPerPacket":3,"userFrom":1,"userTo":10,"rule":{"kind":"range","min":1,"max":2}}',
      '{"count":10,"ratePerSecond":-3,"recipientsPerPacket":3,"userFrom":1,"userTo":10,"rule":{"kind":"range","min":1,"max":2}}',
      '{"count":10,"ratePerSecond":1,"recipientsPerPacket":3,"userFrom":1,"userTo":10}',
      '{"count":10,"ratePerSecond":1,"recipientsPerPacket":3,"userFrom":1,"userTo":10,"rule":{"kind":"range","min":1,"max":2},"expiresInMs":0}',
    ],
  },
  '/admin/packets': {
    status: [400, 422],
    bodies: [
      '{"sender":1,"totalCents":100,"shareCount":3,"recipients":[1,2]}',
      '{"sender":1,"totalCents":0,"shareCount":1,"recipients":[1]}',
      '{"sender":1,"totalCents":2,"shareCount":3,"recipients":[1,2,3]}',
      '{"sender":1,"totalCents":100,"shareCount":2,"recipients":[5,5]}',
      '{"sender":1,"totalCents":100,"shareCount":1,"recipients":[]}',
      '{"sender":1,"totalCents":100,"shareCount":1,"recipients":"1,2"}',
      '{"sender":1,"totalCents":100,"shareCount":1,"recipients":[-1]}',
      '{"sender":-1,"totalCents":100,"shareCount":1,"recipients":[1]}',
      '{"sender":1,"totalCents":100.5,"shareCount":1,"recipients":[1]}',
      '{"sender":1,"totalCents":100000001,"shareCount":1,"recipients":[1]}',
      '{"sender":1,"totalCents":100,"shareCount":1,"recipients":[1],"splitMode":"fair"}',
      '{"sender":1,"totalCents":100,"shareCount":1,"recipients":[1],"expiresInMs":0}',
      `{"sender":1,"totalCents":100,"shareCount":1,"recipients":[1],"cover":{"title":"${'x'.repeat(41)}"}}`,
      '{"sender":1,"totalCents":100,"shareCount":1,"recipients":[1],"cover":{"colour":16777216}}',
      '{"sender":1,"totalCents":100,"shareCount":1,"recipients":[1],"cover":"red"}',
      '{"sender":1,"totalCents":100,"shareCount":1001,"recipients":[1]}',
    ],
  },
  '/admin/expire': {
    status: [400],
    bodies: ['{"packetIds":"all"}', '{"packetIds":[1.5]}', '{"packetIds":[-1]}', '{"packetIds":[4294967296]}', '{"packetIds":null}', '{"packetIds":{"0":1}}'],
  },
};

function adminCase(rng: Rng, o: HttpFuzzOptions): Case {
  const routes = Object.keys(ADMIN_BODIES);
  const roll = rng.int(10);
  if (roll < 3) {
    // no token, a wrong one, a user's token: 401 whatever the route
    const header = rng.pick<Record<string, string>>([
      {},
      { Authorization: 'Bearer wrong' },
      { Authorization: `Bearer ${o.adminToken.slice(0, -1)}` },
      { Authorization: `Bearer ${mintToken(o.secret, 1, Date.now() / 1000 + 60)}` },
      { Authorization: o.adminToken },
    ]);
    const [method, path] = rng.pick([
      ['POST', rng.pick(routes)],
      ['DELETE', '/admin/supply'],
      ['DELETE', '/admin/campaign'],
      ['GET', '/stats'],
      ['GET', '/metrics'],
      ['GET', '/nowhere'],
    ]);
    return {
      kind: 'admin: no or wrong token',
      admin: true,
      request: req(method, path, header, method === 'POST' ? '{}' : ''),
      allow: [401],
      errors: { 401: ['unauthorized'] },
    };
  }
  const auth = { Authorization: `Bearer ${o.adminToken}` };
  if (roll < 7) {
    const route = rng.pick(routes);
    const spec = ADMIN_BODIES[route];
    let body = rng.pick(spec.bodies);
    let kind = `admin ${route}: invalid field`;
    let allow = spec.status;
    let errors: Record<number, string[]> = { 400: ['bad-request'], 422: ['total-below-shares', 'bad-share-count', 'bad-total', 'bad-recipients', 'bad-cover'] };
    if (rng.chance(0.4)) {
      body = body.slice(0, rng.int(body.length)); // a strict prefix of a JSON object is never JSON
      kind = `admin ${route}: truncated JSON`;
      allow = [400];
      errors = { 400: ['bad-json'] };
      if (body.trim() === '') {
        // an empty body is {} (valid for expire: never sent)
        body = '{';
      }
    }
    return { kind, admin: true, request: req('POST', route, { ...auth, 'Content-Type': 'application/json' }, body), allow, errors };
  }
  if (roll < 8) {
    const big = `{"pad":"${'z'.repeat(rng.range(66_000, 90_000))}"}`;
    return { kind: 'admin: body too large', admin: true, request: req('POST', rng.pick(routes), auth, big), allow: [413], errors: { 413: ['too-large'] } };
  }
  if (roll < 9) {
    const [method, path] = rng.pick([
      ['GET', '/admin/supply'],
      ['PUT', '/admin/packets'],
      ['GET', '/v1/shake'],
      ['POST', '/health'],
      ['GET', '/admin'],
    ]);
    return {
      kind: 'admin: unknown route',
      admin: true,
      request: req(method, path, auth, method === 'POST' || method === 'PUT' ? '{}' : ''),
      allow: [404],
      errors: { 404: ['not-found'] },
    };
  }
  return brokenHttp(rng, true);
}

export async function fuzzHttp(o: HttpFuzzOptions): Promise<HttpFuzzResult> {
  const started = Date.now();
  const rng = new Rng(o.seed);
  const r: HttpFuzzResult = { requests: 0, byStatus: {}, byKind: {}, mismatches: 0, examples: [], hangs: 0, elapsedMs: 0 };
  const timeoutMs = o.timeoutMs ?? 5000;
  const mismatch = (msg: string) => {
    r.mismatches++;
    if (r.examples.length < 20) r.examples.push(msg);
  };
  async function one(c: Case): Promise<void> {
    const broken = c.kind.startsWith('broken HTTP');
    const wait = broken ? BROKEN_TIMEOUT_MS : timeoutMs;
    const t0 = Date.now();
    const res = await rawHttp(o.host, c.admin ? o.adminPort : o.port, c.request, wait, c.kind.includes('then FIN'));
    const key = res.timedOut ? 'timeout' : res.status === 0 ? (Date.now() - t0 > 1000 ? 'closed later' : 'closed') : String(res.status);
    r.byStatus[key] = (r.byStatus[key] ?? 0) + 1;
    const where = `${c.admin ? 'admin' : 'public'} ${c.kind} (${c.request.subarray(0, 60).toString('latin1').replace(/\r\n/g, '⏎')})`;
    if (res.timedOut) {
      r.hangs++;
      mismatch(`${where}: no answer and no close within ${wait} ms`);
      return;
    }
    if (!c.allow.includes(res.status)) {
      mismatch(`${where}: status ${res.status}, allowed ${c.allow.join('/')}: ${res.body.slice(0, 120)}`);
      return;
    }
    let json: Answer | null = null;
    try {
      json = JSON.parse(res.body);
    } catch {
      // not JSON
    }
    const want = c.errors?.[res.status];
    if (want && !want.includes(json?.error ?? json?.status ?? ''))
      mismatch(`${where}: status ${res.status} with error ${JSON.stringify(json?.error)}, expected ${want.join(' or ')}`);
    if (res.status === 200 && json) recordTold(c, json, o.told);
  }
  // Broken HTTP may be ignored until uWS's HTTP idle timeout (~10-12 s) closes it: those wait in a
  // pool of their own, so the others keep going.
  const background = new Set<Promise<void>>();
  async function worker(): Promise<void> {
    while (r.requests < o.requests && Date.now() - started < o.deadlineMs) {
      r.requests++;
      const c = rng.chance(0.5) ? publicCase(rng, o) : adminCase(rng, o);
      r.byKind[c.kind.split(':')[0]] = (r.byKind[c.kind.split(':')[0]] ?? 0) + 1;
      if (!c.kind.startsWith('broken HTTP')) {
        await one(c);
        continue;
      }
      while (background.size >= BROKEN_POOL) await Promise.race(background);
      const p: Promise<void> = one(c).finally(() => background.delete(p));
      background.add(p);
    }
  }
  await Promise.all(Array.from({ length: o.concurrency }, () => worker()));
  await Promise.all(background);
  r.elapsedMs = Date.now() - started;
  return r;
}

/** The fields of a JSON answer the fuzzer reads (docs/admin-api.md). */
interface Answer {
  error?: string;
  status?: string;
  packetId: number;
  cents: number;
}

function recordTold(c: Case, json: Answer, told: Told): void {
  const { user } = c; // set on every case with a route
  if (user !== undefined && c.route === 'shake' && json.status === 'hit') told.hit(json.packetId, user, json.cents);
  else if (user !== undefined && c.route === 'open' && (json.status === 'ok' || json.status === 'repeat')) told.share(json.packetId, user, json.cents);
  else if (c.admin && json.status === 'ok' && typeof json.packetId === 'number') told.packet(json.packetId, -1, -1); // must never happen
}
