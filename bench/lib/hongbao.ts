// A real `hongbao server` for a bench: fresh data directory (on disk, under bench-out/), free
// ports, the engine and threads asked for, its pushes to the bench's collector.
import { mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { ServerProc, writtenFile } from '../../src/process/server-proc.ts';
import { type Child, getJson } from './procs.ts';

export interface Hongbao {
  server: ServerProc;
  child: Child;
  pid: number;
  engine: string;
  threads: number;
  wsUrl: string;
  httpUrl: string;
  adminUrl: string;
  adminToken: string;
  secretFile: string;
  secret: string;
  dataDir: string;
}

export interface HongbaoOptions {
  engine: 'native' | 'ts';
  threads?: number;
  args?: string[];
  nodeArgs?: string[];
  env?: NodeJS.ProcessEnv;
  wrap?: string[];
  monitorUrl?: string;
  outDir: string;
  label: string;
  /** run the server of another checkout (an A/B of two versions in one run) */
  root?: string;
}

export async function startHongbao(o: HongbaoOptions): Promise<Hongbao> {
  const dataDir = mkdtempSync(path.join(o.outDir, `data-${o.label}-`));
  const args: string[] = [];
  if (o.threads) args.push('--threads', String(o.threads));
  if (o.monitorUrl) args.push('--monitor', o.monitorUrl);
  args.push(...(o.args ?? []));
  const server = await ServerProc.start({
    name: `server-${o.label}`,
    dataDir,
    args,
    cli: o.root ? path.join(o.root, 'src/cli.ts') : undefined,
    nodeArgs: o.nodeArgs,
    env: { HONGBAO_ENGINE: o.engine, ...o.env },
    wrap: o.wrap,
    logFile: path.join(o.outDir, `${o.label}-server.log`),
    keepStderr: false,
    readyTimeoutMs: 120_000,
  });
  const r = server.ready;
  return {
    server,
    child: server.child,
    pid: server.pid,
    engine: r.engine,
    threads: r.threads,
    wsUrl: server.ws,
    httpUrl: server.http,
    adminUrl: server.admin,
    adminToken: server.adminToken,
    secretFile: writtenFile(r.secretFile, 'secret'),
    secret: server.secret,
    dataDir,
  };
}

/** The parts of the admin API's answers the benches read (docs/admin-api.md). */
export interface AdminStats {
  cumulative: Record<string, number>;
  ledger: { commits: number; batches: number };
}
export interface AdminCreated {
  packetId: number;
}

export function admin<T>(h: Hongbao, method: string, route: string, body?: unknown): Promise<T> {
  return getJson<T>(`${h.adminUrl}${route}`, { method, body, token: h.adminToken });
}

/** A supply of `ratePerSecond` packets a second, enough for `seconds` seconds. */
export function startSupply(h: Hongbao, ratePerSecond: number, seconds: number): Promise<unknown> {
  return admin(h, 'POST', '/admin/supply', { total: ratePerSecond * seconds, ratePerSecond, rule: { kind: 'range', min: 1, max: 500 } });
}

/** Stop the server (SIGTERM) and remove its data directory (set HONGBAO_BENCH_KEEP_DATA=1 to keep it). */
export async function stopHongbao(h: Hongbao): Promise<number> {
  const { status } = await h.child.stop();
  if (!process.env.HONGBAO_BENCH_KEEP_DATA) rmSync(h.dataDir, { recursive: true, force: true });
  return status;
}
