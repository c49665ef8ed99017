// Entry of one worker thread: its own uWS app on the shared port, a handle on the process-global
// native engine, and a ledger client over the port the main thread handed over.
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { createEngine } from '../engine/index.ts';
import { connectLedgerPort } from '../ledger/sqlite-ledger.ts';
import { runApp } from './app.ts';
import type { AppConfig } from './link.ts';
import { loadUws } from './uws.ts';

export interface WorkerData {
  config: AppConfig;
  ledgerPort: MessagePort;
}

async function start(): Promise<void> {
  const { config, ledgerPort } = workerData as WorkerData;
  const link = parentPort as unknown as MessagePort;
  const log = (message: string) => process.stderr.write(`hongbao server [thread ${config.index}]: ${message}\n`);
  const loaded = loadUws();
  if (!loaded.native && !config.allowUwsFallback) {
    link.postMessage({ t: 'failed', message: `uWS native binary not in use in thread ${config.index}: ${loaded.reason}` });
    return;
  }
  // Attaches to the process-global native engine the main thread set up; it does not reset it.
  const engine = await createEngine(config.engineOptions, config.engineKind);
  const ledger = connectLedgerPort(ledgerPort);
  await runApp({ uws: loaded.uws, config, engine, ledger, link, log });
  // Every socket is closed: end the thread ourselves (the port to the main thread would keep it
  // alive, and terminate() from outside while uWS handles are open aborts the whole process).
  await ledger.close();
  setImmediate(() => process.exit(0));
}

start().catch((err) => {
  (parentPort as unknown as MessagePort).postMessage({ t: 'failed', message: `thread start failed: ${(err as Error).message}` });
});
