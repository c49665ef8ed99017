// Hostile and broken input against a real server: the WebSocket fuzzer and the HTTP fuzzer at the
// same time, well-behaved users beside them (their latency is measured), the server's RSS sampled.
// Afterwards: the server still runs and answers /health, every bad frame and request got its
// documented answer, and — after a clean stop — the ledger holds exactly the moves someone was told
// of (a valid frame hidden in the noise may move money; then it was told), and balances.
import { randomBytes } from 'node:crypto';
import { fuzzHttp, type HttpFuzzResult } from './fuzz-http.ts';
import { fuzzWebSocket, type WsFuzzResult } from './fuzz-ws.ts';
import { ProberProcess, type ProberResult } from './prober.ts';
import { RssSampler } from './rss.ts';
import { ServerProc } from '../../src/process/server-proc.ts';
import { checkTold, Told, type ToldReport } from './told.ts';

export interface FuzzOptions {
  dataDir: string;
  frames: number;
  httpRequests: number;
  seed: number;
  concurrency: number;
  deadlineMs: number;
  goodUsers: number;
  serverArgs: string[];
  log(line: string): void;
}

export interface FuzzResult {
  ok: boolean;
  failures: string[];
  seed: number;
  engine: string;
  ws: WsFuzzResult;
  http: HttpFuzzResult;
  good: ProberResult;
  rssMb: { before: number; peak: number; after: number };
  serverAlive: boolean;
  healthAfter: number;
  exit: { code: number | null; signal: string | null };
  ledger: ToldReport;
}

const MAX_PAYLOAD = 8192;
const MAX_ERRORS = 10;

export async function runFuzz(o: FuzzOptions): Promise<FuzzResult> {
  const env = { HONGBAO_SECRET: randomBytes(24).toString('hex'), HONGBAO_ADMIN_TOKEN: randomBytes(24).toString('hex') };
  // Rate limiting would make answers depend on timing; it is tested on its own (server.auth.test.ts).
  const server = await ServerProc.start({
    dataDir: o.dataDir,
    host: '127.0.0.1',
    env,
    args: ['--max-messages-per-second', '1000000', '--max-errors', String(MAX_ERRORS), '--max-payload', String(MAX_PAYLOAD), ...o.serverArgs],
  });
  const told = new Told();
  const failures: string[] = [];
  let stopped = false;
  try {
    // -- set-up: a slow supply; one packet per well-behaved user; packets of users who never connect
    await server.adminFetch('POST', '/admin/supply', { total: 1_000_000, ratePerSecond: 20, rule: { kind: 'range', min: 1, max: 100 } });
    const goodUsers = Array.from({ length: o.goodUsers }, (_, i) => i + 1);
    const packetOf = new Map<number, number>();
    const packetIds: number[] = [];
    for (const user of goodUsers) {
      const r = await server.adminFetch<{ packetId: number }>('POST', '/admin/packets', {
        sender: 900_000,
        totalCents: 500,
        shareCount: 2,
        recipients: [user, 900_001],
      });
      told.packet(r.body.packetId, 500, 2);
      packetOf.set(user, r.body.packetId);
      packetIds.push(r.body.packetId);
    }
    for (let i = 0; i < 20; i++) {
      const r = await server.adminFetch<{ packetId: number }>('POST', '/admin/packets', {
        sender: 900_000,
        totalCents: 1000 + i,
        shareCount: 3,
        recipients: [900_001, 900_002, 900_003],
      });
      told.packet(r.body.packetId, 1000 + i, 3);
      packetIds.push(r.body.packetId);
    }
    const good = await ProberProcess.start({ url: server.ws, secret: env.HONGBAO_SECRET, users: goodUsers, packetOf, intervalMs: 20 });
    const rss = new RssSampler(server.pid).start();
    await new Promise((r) => setTimeout(r, 500));
    const before = rss.sample() ?? 0;
    o.log(`server up (pid ${server.pid}, RSS ${before.toFixed(1)} MiB); ${o.frames} frames and ${o.httpRequests} HTTP requests, seed ${o.seed}`);

    const [ws, http] = await Promise.all([
      fuzzWebSocket({
        url: server.ws,
        secret: env.HONGBAO_SECRET,
        frames: o.frames,
        concurrency: o.concurrency,
        framesPerConnection: 200,
        maxPayload: MAX_PAYLOAD,
        maxErrors: MAX_ERRORS,
        packetIds,
        firstUser: 100_000,
        seed: o.seed,
        told,
        deadlineMs: o.deadlineMs,
        onProgress: (n) => {
          const mb = (rss.sample() ?? 0).toFixed(1);
          void good.summary().then((l) => o.log(`${n} frames, RSS ${mb} MiB, good users p99 ${l.p99Ms} ms`));
        },
      }),
      fuzzHttp({
        host: '127.0.0.1',
        port: server.ready.port,
        adminPort: server.ready.adminPort,
        secret: env.HONGBAO_SECRET,
        adminToken: env.HONGBAO_ADMIN_TOKEN,
        requests: o.httpRequests,
        concurrency: Math.max(2, Math.floor(o.concurrency / 2)),
        packetIds,
        firstUser: 50_000,
        seed: o.seed + 1,
        told,
        deadlineMs: o.deadlineMs,
      }),
    ]);
    const goodResult = await good.stop(told);
    const rssStats = rss.stop();
    const serverAlive = server.alive;
    let healthAfter = 0;
    try {
      healthAfter = (await fetch(`${server.http}/health`, { signal: AbortSignal.timeout(5000) })).status;
    } catch {
      healthAfter = 0;
    }
    const exit = await server.stop('SIGTERM');
    stopped = true;
    const ledger = checkTold(server.ready.db, told, { exact: true });

    if (!serverAlive) failures.push('the server died during the fuzz');
    if (healthAfter !== 200) failures.push(`GET /health after the fuzz answered ${healthAfter}`);
    if (exit.code !== 0) failures.push(`the server exited ${exit.code ?? exit.signal} on SIGTERM`);
    if (ws.frames < o.frames) failures.push(`only ${ws.frames} of ${o.frames} frames were sent before the deadline`);
    if (http.requests < o.httpRequests) failures.push(`only ${http.requests} of ${o.httpRequests} HTTP requests were sent before the deadline`);
    if (ws.mismatches > 0) failures.push(`${ws.mismatches} WebSocket frames got an undocumented answer: ${ws.examples.slice(0, 3).join(' | ')}`);
    if (http.mismatches > 0) failures.push(`${http.mismatches} HTTP requests got an undocumented answer: ${http.examples.slice(0, 3).join(' | ')}`);
    if (goodResult.failures.length > 0) failures.push(`well-behaved users: ${goodResult.failures.slice(0, 3).join('; ')}`);
    if (!ledger.ok) failures.push(`ledger: ${ledger.differences.slice(0, 3).join('; ')}`);
    return {
      ok: failures.length === 0,
      failures,
      seed: o.seed,
      engine: process.env.HONGBAO_ENGINE ?? 'native',
      ws,
      http,
      good: goodResult,
      rssMb: { before: Math.round(before * 10) / 10, peak: rssStats.peak, after: rssStats.last },
      serverAlive,
      healthAfter,
      exit: { code: exit.code, signal: exit.signal },
      ledger,
    };
  } finally {
    if (!stopped) await server.stop('SIGKILL');
  }
}
