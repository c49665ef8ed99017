// httpJson, the project's calls to its own endpoints (control ports, admin API, monitor): a GET whose
// connection breaks before the answer (a kept-alive socket the other side closed as it was reused)
// is asked once more; anything else that breaks is an error naming the request and the cause.
import { createServer, type Server } from 'node:http';
import test from 'ava';
import { httpJson } from '../src/process/http-json.ts';

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
