// The server a bench drives, seen alike whichever it is: the bare uWS server (bare-server.ts, the
// baseline: same frame sizes, no engine, no ledger), a hongbao server (hongbao.ts), or one access
// node of a Redis Cluster started as the million-user preset starts its 56. Its pid, URLs, the
// token secret file its clients sign with, and its stop.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { ChildSet } from '../../src/process/child.ts';
import { PRESETS } from '../../src/rehearsal/main.ts';
import { startService } from '../../src/rehearsal/service.ts';
import { type Hongbao, stopHongbao } from './hongbao.ts';
import { spawnReady } from './procs.ts';

export interface Target {
  pid: number;
  wsUrl: string;
  httpUrl: string;
  secretFile: string;
  /** the hongbao server; null for the bare one */
  hongbao: Hongbao | null;
  /** SIGTERM (a hongbao server's data directory is removed then) */
  stop(): Promise<unknown>;
}

/** The bare server with `threads` uWS apps, its log in outDir/<label>.log. */
export async function startBare(o: { threads: number; outDir: string; label: string; nodeArgs?: string[] }): Promise<Target> {
  const secretFile = path.join(o.outDir, 'bare-secret');
  writeFileSync(secretFile, 'bare-server-ignores-tokens\n', { mode: 0o600 });
  const child = await spawnReady('bare', path.join(import.meta.dirname, 'bare-server.ts'), ['--threads', String(o.threads)], {
    nodeArgs: o.nodeArgs,
    logFile: path.join(o.outDir, `${o.label}.log`),
  });
  const port = child.ready.port;
  return { pid: child.pid, wsUrl: `ws://127.0.0.1:${port}/ws`, httpUrl: `http://127.0.0.1:${port}`, secretFile, hongbao: null, stop: () => child.stop() };
}

export function hongbaoTarget(h: Hongbao): Target {
  return { pid: h.pid, wsUrl: h.wsUrl, httpUrl: h.httpUrl, secretFile: h.secretFile, hongbao: h, stop: () => stopHongbao(h) };
}

/** A one-node Redis Cluster service, the node started with the seed preset's Node flags; its log and
 *  the cluster's own under outDir. */
export async function startClusterNode(o: { outDir: string; label: string; monitorUrl: string; serverArgs?: string[] }): Promise<Target> {
  const children = new ChildSet();
  const service = await startService({
    nodes: 1,
    cluster: true,
    threads: 1,
    monitorUrl: o.monitorUrl,
    serverArgs: o.serverArgs ?? [],
    nodeArgs: PRESETS.seed.nodeArgs ?? [],
    outDir: o.outDir,
    children,
    log: () => undefined,
  });
  const secretFile = path.join(o.outDir, `${o.label}-secret`);
  writeFileSync(secretFile, `${service.secret}\n`, { mode: 0o600 });
  const stop = async () => {
    try {
      await service.stopNodes();
      await service.close();
    } finally {
      children.killAll();
    }
  };
  const pid = service.pids().nodes[0];
  if (pid === undefined) {
    await stop();
    throw new Error('the cluster node has no pid');
  }
  const httpUrl = `http://127.0.0.1:${service.port}`;
  return { pid, wsUrl: service.wsUrl, httpUrl, secretFile, hongbao: null, stop };
}
