// A real `hongbao server` for a bench: fresh data directory (on disk, under bench-out/), free
// ports, the engine and threads asked for, its pushes to the bench's collector.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { CLI, getJson, spawnReady, stop, type Child, type ReadyLine } from './procs.ts';

export interface Hongbao {
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

/** The fields of the server's ready line (src/server/server.ts ReadyInfo) a bench uses, checked. */
function serverReady(line: ReadyLine) {
  const { pid, engine, threads, port, adminPort, secretFile, adminTokenFile } = line;
  if (
    typeof pid !== 'number' ||
    typeof engine !== 'string' ||
    typeof threads !== 'number' ||
    typeof port !== 'number' ||
    typeof adminPort !== 'number' ||
    typeof secretFile !== 'string' ||
    typeof adminTokenFile !== 'string'
  ) {
    throw new Error(`the server's ready line lacks a field a bench needs (token files not written?): ${JSON.stringify(line)}`);
  }
  return { pid, engine, threads, port, adminPort, secretFile, adminTokenFile };
}

export async function startHongbao(o: HongbaoOptions): Promise<Hongbao> {
  const dataDir = mkdtempSync(path.join(o.outDir, `data-${o.label}-`));
  const args = ['server', '--port', '0', '--admin-port', '0', '--data', dataDir];
  if (o.threads) args.push('--threads', String(o.threads));
  if (o.monitorUrl) args.push('--monitor', o.monitorUrl);
  args.push(...(o.args ?? []));
  const cli = o.root ? path.join(o.root, 'src/cli.ts') : CLI;
  const child = await spawnReady(`server-${o.label}`, cli, args, {
    nodeArgs: o.nodeArgs,
    env: { HONGBAO_ENGINE: o.engine, ...o.env },
    wrap: o.wrap,
    logFile: path.join(o.outDir, `${o.label}-server.log`),
    readyTimeoutMs: 120_000,
  });
  const r = serverReady(child.ready);
  const adminToken = readFileSync(r.adminTokenFile, 'utf8').trim();
  return {
    child,
    pid: r.pid,
    engine: r.engine,
    threads: r.threads,
    wsUrl: `ws://127.0.0.1:${r.port}/ws`,
    httpUrl: `http://127.0.0.1:${r.port}`,
    adminUrl: `http://127.0.0.1:${r.adminPort}`,
    adminToken,
    secretFile: r.secretFile,
    secret: readFileSync(r.secretFile, 'utf8').trim(),
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
  const code = await stop(h.child);
  if (!process.env.HONGBAO_BENCH_KEEP_DATA) rmSync(h.dataDir, { recursive: true, force: true });
  return code;
}
