// `hongbao server --private-fds`: the server on a worker thread whose descriptor table is its own,
// so its sockets (a cluster node's ~19,000) are not listed in /proc/PID/fd. This machine's agent
// (pid 1) walks every process's /proc/PID/fd each second at ~0.23 µs a descriptor: a million users'
// server sockets cost it ~0.2 of a core (docs/rehearsal.md). This thread forwards the stop signals
// and runs the ledger's writer (writer-host.ts), so the process keeps its two isolates.
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { hostLedgerWriters } from '../ledger/writer-host.ts';
import { moduleWorker, sibling } from '../process/worker-thread.ts';
import { log } from './log.ts';

export interface PrivateThreadData {
  argv: string[];
  /** where the thread's ledgers have their writers run: here */
  writers: MessagePort;
}

export type ToServerThread = { t: 'stop'; signal: string };

/** Runs the server on its thread until it ends; its exit code. A stop signal that comes while it
 *  is still starting is answered once it has started, with the usual orderly shutdown. */
export function serveOnPrivateThread(argv: string[]): Promise<number> {
  const { port1, port2 } = new MessageChannel();
  hostLedgerWriters(port1);
  const data: PrivateThreadData = { argv, writers: port2 };
  const worker = moduleWorker(sibling(import.meta.url, 'private-fds-thread'), { workerData: data, transferList: [port2], name: 'hongbao-server' });
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      log(`second ${signal}: exiting at once`);
      process.exit(130);
    }
    signalled = true;
    worker.postMessage({ t: 'stop', signal } satisfies ToServerThread);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return new Promise((resolve) => {
    worker.on('error', (err) => log(`the server thread failed: ${err.stack ?? err.message}`));
    worker.on('exit', (code) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(code);
    });
  });
}
