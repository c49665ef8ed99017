// Starts a real `hongbao server` as a child process on free ports with its own data directory,
// and gives tests its URLs, the admin token and the token secret. Also a small WebSocket client
// that decodes server frames and lets a test wait for the next one it cares about.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { mintToken } from '../../src/auth/token.ts';
import { decodeServerFrame, encodeLogin, type ServerFrame } from '../../src/protocol/codec.ts';
import { ServerType } from '../../src/protocol/codes.ts';
import type { SupplyState } from '../../src/engine/types.ts';
import type { StatsDocument } from '../../src/server/server.ts';

export type { StatsDocument };

const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

export interface ReadyLine {
  event: 'ready';
  port: number;
  adminPort: number;
  threads: number;
  engine: string;
  secretFile: string | null;
  adminTokenFile: string | null;
}

export interface TestServer {
  ready: ReadyLine;
  dataDir: string;
  http: string;
  ws: string;
  admin: string;
  adminToken: string;
  secret: string;
  child: ChildProcess;
  /** Everything the server wrote on stderr so far. */
  stderr(): string;
  token(userId: number, ttlSeconds?: number): string;
  /** SIGTERM (or `signal`) and wait for the exit. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Admin API call with the admin token (or `token` if given). `T` is the test's view of the answer's
   *  JSON (docs/admin-api.md; the test asserts it), not checked here; a body that is not JSON is its text. */
  adminFetch<T = unknown>(method: string, route: string, body?: unknown, token?: string | null): Promise<{ status: number; body: T }>;
}

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

export function tempDir(prefix = 'hongbao-test-'): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

export interface StartOptions {
  dataDir?: string;
  args?: string[];
  env?: Record<string, string>;
  /** Wait for the ready line this long (ms). */
  timeoutMs?: number;
}

/** Run `hongbao server ARGS` to completion (for --help and start-up errors). */
export function runServerCommand(
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 30_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'server', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server ${args.join(' ')} did not exit within ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Servers of this test process still running: killed when the process exits (an ava worker that
 *  ends early, e.g. on a timeout, does not run the test files' after hooks). */
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** A file the server's ready line names: null only when the variable that replaces it was set. */
export function writtenFile(file: string | null, what: string): string {
  if (file === null) throw new Error(`the server wrote no ${what} file and none was given in its environment`);
  return file;
}

export async function startServer(opts: StartOptions = {}): Promise<TestServer> {
  const dataDir = opts.dataDir ?? tempDir();
  const args = ['--port', '0', '--admin-port', '0', '--data', dataDir, ...(opts.args ?? [])];
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'server', ...args], {
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.on('exit', () => running.delete(child));
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const ready = await new Promise<ReadyLine>((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server not ready within ${opts.timeoutMs ?? 30_000} ms; stderr:\n${stderr}`));
    }, opts.timeoutMs ?? 30_000);
    child.stdout.on('data', (d) => {
      buffered += d;
      for (const line of buffered.split('\n').slice(0, -1)) {
        try {
          const msg = JSON.parse(line);
          if (msg.event === 'ready') {
            clearTimeout(timer);
            resolve(msg);
          }
        } catch {
          // not JSON: ignore
        }
      }
      buffered = buffered.slice(buffered.lastIndexOf('\n') + 1);
    });
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`server exited (code ${code}) before it was ready; stderr:\n${stderr}`));
    });
  });
  const adminToken = opts.env?.HONGBAO_ADMIN_TOKEN ?? readFileSync(writtenFile(ready.adminTokenFile, 'admin token'), 'utf8').trim();
  const secret = opts.env?.HONGBAO_SECRET ?? readFileSync(writtenFile(ready.secretFile, 'secret'), 'utf8').trim();
  const http = `http://127.0.0.1:${ready.port}`;
  const admin = `http://127.0.0.1:${ready.adminPort}`;
  return {
    ready,
    dataDir,
    http,
    ws: `ws://127.0.0.1:${ready.port}/ws`,
    admin,
    adminToken,
    secret,
    child,
    stderr: () => stderr,
    token: (userId, ttlSeconds = 3600) => mintToken(secret, userId, Date.now() / 1000 + ttlSeconds),
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
    adminFetch: async <T>(method: string, route: string, body?: unknown, token?: string | null) => {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      const t = token === undefined ? adminToken : token;
      if (t !== null) headers.authorization = `Bearer ${t}`;
      const res = await fetch(`${admin}${route}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON (e.g. /metrics)
      }
      return { status: res.status, body: parsed as T };
    },
  };
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
