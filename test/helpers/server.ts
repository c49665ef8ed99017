// Starts a real `hongbao server` as a child process on free ports with its own data directory
// (src/process/server-proc.ts), and gives tests its URLs, the admin token and the token secret.
// Also a small WebSocket client that decodes server frames and lets a test wait for the next one
// it cares about.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { decodeServerFrame, encodeLogin, type ServerFrame } from '../../src/protocol/codec.ts';
import { ServerType } from '../../src/protocol/codes.ts';
import type { SupplyState } from '../../src/engine/types.ts';
import type { StatsDocument } from '../../src/server/server.ts';
import { hongbaoCommand, runChild } from '../../src/process/child.ts';
import { ServerProc } from '../../src/process/server-proc.ts';

export type { StatsDocument };

/** A running server of a test: its ready line (ReadyInfo), URLs, tokens, stderr, stop, admin calls. */
export type TestServer = ServerProc;

/** `POST /admin/packets`'s answer (docs/admin-api.md): `ok` with the packet id, else the create status's name. */
export interface CreatedAnswer {
  status: string;
  packetId: number;
  error?: string;
}
/** `POST /admin/supply`'s answer. */
export interface SupplyAnswer {
  ok: boolean;
  supply: SupplyState;
}

/** Folders tempDir() made: removed when the test file's process exits (tests read them, or
 *  restart a server on them, after a stop, so not sooner). */
const madeDirs: string[] = [];
process.once('exit', () => {
  for (const dir of madeDirs) rmSync(dir, { recursive: true, force: true });
});

export function tempDir(prefix = 'hongbao-test-'): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  madeDirs.push(dir);
  return dir;
}

export interface StartOptions {
  dataDir?: string;
  args?: string[];
  env?: Record<string, string>;
  /** Wait for the ready line this long (ms). */
  timeoutMs?: number;
}

/** Run `hongbao server ARGS` to completion (for --help and start-up errors). */
export async function runServerCommand(
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 30_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const r = await runChild({ name: `hongbao server ${args.join(' ')}`, ...hongbaoCommand(['server', ...args]), env: { ...process.env, ...env } }, timeoutMs);
  return { code: r.exit.code, stdout: r.stdout, stderr: r.stderr };
}

/** A `hongbao server` on free ports with its own data directory (killed if the test process exits). */
export function startServer(opts: StartOptions = {}): Promise<TestServer> {
  return ServerProc.start({ dataDir: opts.dataDir ?? tempDir(), args: opts.args, env: opts.env, readyTimeoutMs: opts.timeoutMs });
}

/** A test's WebSocket: decoded frames queue up until a test takes them. */
export class TestClient {
  readonly frames: ServerFrame[] = [];
  private waiters: Array<{ match: (f: ServerFrame) => boolean; resolve: (f: ServerFrame) => void }> = [];
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly socket: WebSocket) {
    socket.binaryType = 'nodebuffer';
    socket.on('message', (data: Buffer) => {
      const frame = decodeServerFrame(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      const i = this.waiters.findIndex((w) => w.match(frame));
      if (i >= 0) this.waiters.splice(i, 1)[0].resolve(frame);
      else this.frames.push(frame);
    });
    this.closed = new Promise((resolve) => socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  static async connect(url: string): Promise<TestClient> {
    const socket = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    return new TestClient(socket);
  }

  /** Connect and log in as `userId`; resolves after LoginOk. */
  static async login(server: TestServer, userId: number): Promise<TestClient> {
    const c = await TestClient.connect(server.ws);
    c.send(encodeLogin(1, userId, server.token(userId)));
    const f = await c.next((x) => x.type === ServerType.LoginOk || x.type === ServerType.Error);
    if (f.type !== ServerType.LoginOk) throw new Error(`login of ${userId} failed: ${JSON.stringify(f)}`);
    return c;
  }

  send(bytes: Uint8Array): void {
    this.socket.send(bytes);
  }

  /** The first queued or next arriving frame that matches (default: any), within `timeoutMs`. */
  next(match: (f: ServerFrame) => boolean = () => true, timeoutMs = 5000): Promise<ServerFrame> {
    const i = this.frames.findIndex(match);
    if (i >= 0) return Promise.resolve(this.frames.splice(i, 1)[0]);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(new Error(`no matching frame within ${timeoutMs} ms (queued: ${JSON.stringify(this.frames)})`));
      }, timeoutMs);
      const done = (f: ServerFrame) => {
        clearTimeout(timer);
        resolve(f);
      };
      this.waiters.push({ match, resolve: done });
    });
  }

  /** The reply to request `requestId`. */
  reply(requestId: number, timeoutMs?: number): Promise<ServerFrame> {
    return this.next((f) => f.requestId === requestId && f.type !== ServerType.PacketNotify, timeoutMs);
  }

  close(): void {
    this.socket.close();
  }
}
