// Clients that never read: each logs in, stops reading its socket, and keeps asking for the details of
// a packet with many opened shares (~8 KB per answer, within the per-connection frame rate). The
// server must cut each off at its backpressure limit (close 4008), keep its own memory bounded, and
// keep serving well-behaved users. At the end each non-reader reads what it was sent, up to the close
// frame, to learn the close code.
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { mintToken } from '../../src/auth/token.ts';
import { encodeLogin } from '../../src/protocol/codec.ts';
import { ClientType, ServerType } from '../../src/protocol/codes.ts';
import { checkUpgradeResponse, encodeClientFrame, newWebSocketKey, Opcode, parseServerFrames, upgradeRequest } from '../../src/simulator/ws-frames.ts';
import { ProberProcess, type ProberResult } from './prober.ts';
import { RssSampler } from './rss.ts';
import type { StatsDocument } from '../../src/server/server.ts';
import { ServerProc } from '../../src/process/server-proc.ts';
import { sleep } from './rng.ts';

const MASK = randomBytes(4);

/** One connection that stops reading after its login. */
class NonReader {
  readonly socket: net.Socket;
  sent = 0;
  writeError: string | null = null;
  closeCode: number | null = null;
  private buf = Buffer.alloc(0);
  private onLogin: (() => void) | null = null;
  private onClose: (() => void) | null = null;
  private reading = true;
  private loggedIn = false;
  private ended = false;

  private constructor(socket: net.Socket) {
    this.socket = socket;
  }

  static open(port: number, user: number, secret: string, timeoutMs = 10_000): Promise<NonReader> {
    return new Promise((resolve, reject) => {
      const key = newWebSocketKey();
      const socket = net.connect({ host: '127.0.0.1', port });
      const nr = new NonReader(socket);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`non-reader ${user}: no login within ${timeoutMs} ms`));
      }, timeoutMs);
      let upgraded = false;
      socket.on('connect', () => socket.write(upgradeRequest('127.0.0.1', port, '/ws', key)));
      socket.on('error', (err) => {
        nr.writeError ??= (err as NodeJS.ErrnoException).code ?? err.message;
      });
      socket.on('close', () => {
        nr.ended = true;
        nr.onClose?.();
      });
      socket.on('data', (d: Buffer) => {
        if (!nr.reading) return;
        nr.buf = Buffer.concat([nr.buf, d]);
        if (!upgraded) {
          const end = nr.buf.indexOf('\r\n\r\n');
          if (end < 0) return;
          const problem = checkUpgradeResponse(nr.buf.toString('latin1', 0, end), key);
          if (problem) {
            clearTimeout(timer);
            socket.destroy();
            reject(new Error(`non-reader ${user}: ${problem}`));
            return;
          }
          upgraded = true;
          nr.buf = nr.buf.subarray(end + 4);
          socket.write(encodeClientFrame(Opcode.Binary, encodeLogin(1, user, mintToken(secret, user, Date.now() / 1000 + 3600)), MASK));
        }
        nr.parse();
      });
      nr.onLogin = () => {
        clearTimeout(timer);
        resolve(nr);
      };
    });
  }

  private parse(): void {
    const at = parseServerFrames(this.buf, 0, {
      frame: (opcode, buf, start, end) => {
        if (opcode === Opcode.Close) this.closeCode = end - start >= 2 ? buf.readUInt16BE(start) : 1005;
        else if (opcode === Opcode.Binary && buf[start + 1] === ServerType.LoginOk && !this.loggedIn) {
          this.loggedIn = true;
          // from here on: read nothing
          this.reading = false;
          this.socket.pause();
          this.onLogin?.();
        }
      },
      protocolError: () => undefined,
    });
    this.buf = at >= 0 ? this.buf.subarray(at) : Buffer.alloc(0);
  }

  /** Ask for a packet's details; false once the connection is gone. */
  ask(packetId: number): boolean {
    if (this.ended || this.writeError) return false;
    const payload = new Uint8Array(10);
    const dv = new DataView(payload.buffer);
    payload[0] = 1;
    payload[1] = ClientType.Details;
    dv.setUint32(2, ++this.sent, true);
    dv.setUint32(6, packetId, true);
    this.socket.write(encodeClientFrame(Opcode.Binary, payload, MASK));
    return true;
  }

  /** A shake (15 bytes back): keeps a waiting non-reader from the idle timeout. */
  poke(): void {
    if (this.ended || this.writeError) return;
    const payload = new Uint8Array(6);
    payload[0] = 1;
    payload[1] = ClientType.Shake;
    new DataView(payload.buffer).setUint32(2, ++this.sent, true);
    this.socket.write(encodeClientFrame(Opcode.Binary, payload, MASK));
  }

  get gone(): boolean {
    return this.ended || this.writeError !== null;
  }

  /** Read everything that was sent, up to the close frame (or the end of the connection). */
  finish(timeoutMs: number): Promise<number | null> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.socket.destroy();
        resolve(this.closeCode);
      };
      const timer = setTimeout(done, timeoutMs);
      this.onClose = done;
      this.reading = true;
      this.socket.on('data', () => {
        if (this.closeCode !== null) done();
      });
      this.socket.resume();
      this.parse();
      if (this.closeCode !== null || this.ended) done();
    });
  }
}

export interface SlowOptions {
  dataDir: string;
  clients: number;
  /** details requests per second per non-reader (keep under --max-messages-per-second, 50) */
  ratePerClient: number;
  /** non-readers filling their buffers at the same time */
  wave: number;
  /** stop asking while the machine's TCP memory is above this many pages (/proc/net/sockstat) */
  maxTcpMemPages: number;
  /** give up waiting for the cut-offs after this long */
  cutWithinMs: number;
  goodUsers: number;
  serverArgs: string[];
  log(line: string): void;
}

export interface SlowResult {
  ok: boolean;
  failures: string[];
  engine: string;
  clients: number;
  cut: number;
  closeCodes: Record<string, number>;
  cutAfterMs: { median: number; max: number };
  requestsPerClient: { median: number; max: number };
  rssMb: { before: number; withAllConnected: number; peak: number; after: number };
  connectionsAfter: number;
  good: ProberResult;
}

/** Pages of memory all TCP sockets of the machine hold now. */
export function tcpMemPages(): number {
  try {
    return Number(/TCP:.* mem (\d+)/.exec(readFileSync('/proc/net/sockstat', 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

const median = (xs: number[]) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] : 0);

export async function runSlowClients(o: SlowOptions): Promise<SlowResult> {
  const server = await ServerProc.start({ dataDir: o.dataDir, host: '127.0.0.1', args: o.serverArgs });
  const failures: string[] = [];
  try {
    // A packet whose details are ~8 KB: 1000 opened shares and a full cover.
    const recipients = Array.from({ length: 1000 }, (_, i) => 200_001 + i);
    const made = await server.adminFetch<{ packetId: number }>('POST', '/admin/packets', {
      sender: 200_000,
      totalCents: 1_000_000,
      shareCount: 1000,
      recipients,
      cover: { title: 'x'.repeat(40), colour: 0xff0000, story: 'y'.repeat(280) },
    });
    if (made.status !== 200) throw new Error(`cannot create the big packet: ${JSON.stringify(made.body)}`);
    const big = made.body.packetId;
    for (let i = 0; i < recipients.length; i += 25) {
      await Promise.all(
        recipients.slice(i, i + 25).map((u) =>
          fetch(`${server.http}/v1/open`, {
            method: 'POST',
            headers: { authorization: `Bearer ${server.token(u)}` },
            body: JSON.stringify({ packetId: big }),
          }),
        ),
      );
    }
    const goodUsers = Array.from({ length: o.goodUsers }, (_, i) => i + 1);
    const packetOf = new Map<number, number>();
    for (const u of goodUsers) {
      const r = await server.adminFetch<{ packetId: number }>('POST', '/admin/packets', { sender: 9, totalCents: 100, shareCount: 1, recipients: [u] });
      packetOf.set(u, r.body.packetId);
    }
    const good = await ProberProcess.start({ url: server.ws, secret: server.secret, users: goodUsers, packetOf, intervalMs: 20 });
    const rss = new RssSampler(server.pid).start();
    await sleep(300);
    const before = rss.sample() ?? 0;

    // Log the non-readers in, 50 at a time.
    const readers: NonReader[] = [];
    for (let i = 0; i < o.clients; i += 50) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(50, o.clients - i) }, (_, k) => NonReader.open(server.ready.port, 300_000 + i + k, server.secret)),
      );
      readers.push(...batch);
    }
    await sleep(300);
    const withAll = rss.sample() ?? 0;
    o.log(`${readers.length} non-readers logged in: server RSS ${before.toFixed(1)} MiB before them, ${withAll.toFixed(1)} MiB with them`);

    // Waves of `wave` non-readers ask `ratePerClient` times a second until the server has dropped all of
    // them; then they read what they were sent, up to the close frame. The others wait, logged in and
    // reading nothing. (All 1,000 filling at once would park ~4 MB each in the kernel's send buffers, past
    // the machine-wide TCP memory limits of this shared machine; the server's own share is the same.)
    const cutAt: number[] = [];
    const codes: Array<number | null> = [];
    let poked = Date.now();
    for (let w = 0; w < readers.length; w += o.wave) {
      const wave = readers.slice(w, w + o.wave);
      const expected = o.goodUsers + readers.length - w - wave.length;
      const waveStart = Date.now();
      let next = 0;
      let conns = Infinity;
      while (Date.now() - waveStart < o.cutWithinMs) {
        const tick = Date.now();
        if (tcpMemPages() < o.maxTcpMemPages) for (const r of wave) r.ask(big);
        if (Date.now() - poked > 20_000) {
          poked = Date.now();
          for (const r of readers.slice(w + o.wave)) r.poke();
        }
        if (Date.now() - waveStart >= next) {
          next += 500;
          conns = (await server.adminFetch<StatsDocument>('GET', '/stats')).body.connections;
          rss.sample();
          if (conns <= expected) break;
        }
        await sleep(Math.max(1, 1000 / o.ratePerClient - (Date.now() - tick)));
      }
      const tookMs = Date.now() - waveStart;
      for (let i = 0; i < wave.length; i++) cutAt.push(tookMs);
      codes.push(...(await Promise.all(wave.map((r) => r.finish(15_000)))));
      o.log(
        `wave ${w / o.wave + 1}: ${wave.length} non-readers dropped in ${Math.round(tookMs / 100) / 10} s (server holds ${conns}, ${readers.length - w - wave.length} more non-readers waiting), ` +
          `RSS ${(rss.sample() ?? 0).toFixed(1)} MiB, TCP memory ${Math.round((tcpMemPages() * 4096) / 2 ** 20)} MiB, good p99 ${(await good.summary()).p99Ms} ms`,
      );
    }
    await sleep(500);
    const stats = (await server.adminFetch<StatsDocument>('GET', '/stats')).body;
    const connectionsAfter = stats.connections;
    const goodResult = await good.stop();
    const rssStats = rss.stop();
    const closeCodes: Record<string, number> = {};
    for (const c of codes) closeCodes[String(c)] = (closeCodes[String(c)] ?? 0) + 1;
    const cut = codes.filter((c) => c === 4008).length;
    if (cut !== readers.length)
      failures.push(`${readers.length - cut} of ${readers.length} non-readers were not closed with 4008: ${JSON.stringify(closeCodes)}`);
    if (connectionsAfter > o.goodUsers) failures.push(`the server still holds ${connectionsAfter} connections (${o.goodUsers} well-behaved)`);
    if (goodResult.failures.length) failures.push(`well-behaved users: ${goodResult.failures.slice(0, 3).join('; ')}`);
    if (!server.alive) failures.push('the server died');
    const health = await fetch(`${server.http}/health`).then(
      (r) => r.status,
      () => 0,
    );
    if (health !== 200) failures.push(`/health answered ${health}`);
    return {
      ok: failures.length === 0,
      failures,
      engine: process.env.HONGBAO_ENGINE ?? 'native',
      clients: readers.length,
      cut,
      closeCodes,
      cutAfterMs: { median: median(cutAt), max: Math.max(0, ...cutAt) },
      requestsPerClient: { median: median(readers.map((r) => r.sent)), max: Math.max(0, ...readers.map((r) => r.sent)) },
      rssMb: { before: Math.round(before * 10) / 10, withAllConnected: Math.round(withAll * 10) / 10, peak: rssStats.peak, after: rssStats.last },
      connectionsAfter,
      good: goodResult,
    };
  } finally {
    await server.stop('SIGTERM');
  }
}
