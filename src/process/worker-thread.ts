// A worker thread running one of our modules: the compiled file as it is, or the TypeScript source
// loaded through tsx's API (on Node 20 a worker does not get tsx from execArgv).
import { Worker, type WorkerOptions } from 'node:worker_threads';
import { MODULE_EXT } from '../paths.ts';

/** The module `name` (without extension) next to the module at `base` (its import.meta.url). */
export function sibling(base: string, name: string): URL {
  return new URL(`./${name}${MODULE_EXT}`, base);
}

export function moduleWorker(entry: URL, options: WorkerOptions): Worker {
  if (entry.pathname.endsWith('.js')) return new Worker(entry, options);
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsx)}).then((api) => api.tsImport(${JSON.stringify(entry.href)}, ${JSON.stringify(entry.href)}))`;
  return new Worker(boot, { ...options, eval: true });
}
