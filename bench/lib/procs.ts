// The benches' side of the child harness (src/process/child.ts): where their output goes, their
// children (`node [nodeArgs] --import tsx SCRIPT args`, optionally under `perf record`), and the
// JSON fetch with a longer timeout for busy servers.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { ROOT, type ReadyChild, startReady } from '../../src/process/child.ts';
import { httpJson } from '../../src/process/http-json.ts';

export { CLI, ROOT } from '../../src/process/child.ts';
export type { ReadyChild as Child } from '../../src/process/child.ts';
export const OUT_ROOT = path.join(ROOT, 'bench-out');

export function outDir(bench: string): string {
  const dir = path.join(OUT_ROOT, bench);
  mkdirSync(dir, { recursive: true });
  return dir;
}

export interface SpawnOptions {
  nodeArgs?: string[];
  /** variables over this process's environment */
  env?: NodeJS.ProcessEnv;
  logFile: string;
  readyTimeoutMs?: number;
  /** `perf record ... --` or similar put in front of node (the pid is then the ready line's) */
  wrap?: string[];
}

/** `node [nodeArgs] --import tsx SCRIPT args`, once it printed its ready line (stderr and later stdout in `logFile`). */
export function spawnReady(name: string, script: string, args: string[], o: SpawnOptions): Promise<ReadyChild> {
  return startReady({
    name,
    args: [...(o.nodeArgs ?? []), '--import', 'tsx', script, ...args],
    env: { ...process.env, ...o.env },
    logFile: o.logFile,
    readyTimeoutMs: o.readyTimeoutMs,
    wrap: o.wrap,
  });
}

/** The rehearsal's JSON fetch, with a longer default timeout for benches that stop busy servers. */
export function getJson<T>(url: string, init: { method?: string; body?: unknown; token?: string; timeoutMs?: number } = {}): Promise<T> {
  return httpJson<T>(url, { ...init, timeoutMs: init.timeoutMs ?? 30_000 });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
