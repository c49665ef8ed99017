// httpJson, the project's calls to its own endpoints (control ports, admin API, monitor): a GET whose
// connection breaks before the answer (a kept-alive socket the other side closed as it was reused)
// is asked once more; anything else that breaks is an error naming the request and the cause; a 503
// is asked again a second apart for as long as the caller allows, and only then.
import { createServer, type Server } from 'node:http';
import test from 'ava';
import { HttpStatusError, httpJson } from '../src/process/http-json.ts';

/** A server that cuts the first `cut` requests' connections without an answer, then answers {n}. */
async function cutting(cut: number): Promise<{ url: string; server: Server; seen: () => number }> {
  let n = 0;
  const server = createServer((req, res) => {
    n++;
    if (n <= cut) {
      req.socket.destroy();
      return;
    }
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ n }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/stats`, server, seen: () => n };
}

test('a GET whose connection broke before the answer is asked once more', async (t) => {
  const s = await cutting(1);
  t.deepEqual(await httpJson<{ n: number }>(s.url), { n: 2 }, 'the second try answers');
  t.is(s.seen(), 2, 'asked twice');
  s.server.close();
});

test('a GET broken twice, or a POST broken once, is an error naming the request and its cause', async (t) => {
  const s = await cutting(10);
  const get = await t.throwsAsync(httpJson(s.url));
  t.regex(get?.message ?? '', /^GET http:\/\/127\.0\.0\.1:\d+\/stats: fetch failed \(\w+/, 'the method, the URL and the cause');
  t.is(s.seen(), 2, 'a GET is asked at most twice');
  const post = await t.throwsAsync(httpJson(s.url, { method: 'POST', body: {} }));
  t.regex(post?.message ?? '', /^POST .*fetch failed/, 'a POST says so too');
  t.is(s.seen(), 3, 'a POST is not asked again: it may have been done');
  s.server.close();
});

/** A server that answers the first `busy` requests 503 {"error":"unavailable"}, then {n}. */
async function unavailable(busy: number): Promise<{ url: string; server: Server; seen: () => number }> {
  let n = 0;
  const server = createServer((req, res) => {
    n++;
    req.resume();
    res.statusCode = n <= busy ? 503 : 200;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(n <= busy ? { error: 'unavailable', message: 'Command timed out' } : { n }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/admin/supply`, server, seen: () => n };
}

test('a 503 is asked again a second apart while retryUnavailableMs lasts, each repeat told', async (t) => {
  const s = await unavailable(2);
  const told: number[] = [];
  const r = await httpJson<{ n: number }>(s.url, { method: 'DELETE', retryUnavailableMs: 10_000, onRetry: (e) => told.push(e.status) });
  t.deepEqual(r, { n: 3 }, 'the third answer is the one returned');
  t.deepEqual(told, [503, 503], 'both repeats were told');
  s.server.close();
});

test('without retryUnavailableMs, or past it, a 503 is an HttpStatusError with its status', async (t) => {
  const s = await unavailable(100);
  const once = await t.throwsAsync(httpJson(s.url, { method: 'DELETE' }), { instanceOf: HttpStatusError });
  t.is((once as HttpStatusError).status, 503);
  t.regex(once?.message ?? '', /^DELETE .*HTTP 503 .*Command timed out/, 'the message quotes the answer');
  t.is(s.seen(), 1, 'asked once');
  const started = Date.now();
  await t.throwsAsync(httpJson(s.url, { method: 'DELETE', retryUnavailableMs: 2500 }), { instanceOf: HttpStatusError });
  const asked = s.seen() - 1;
  t.true(asked >= 2 && asked <= 3, `asked again a second apart within the 2.5 s allowance, then given up (${asked} asks)`);
  t.true(Date.now() - started < 5000, 'and not kept on long after it');
  s.server.close();
});
