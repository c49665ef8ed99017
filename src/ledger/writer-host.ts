// Runs, on this thread, the ledger writers another thread starts: the main thread of a server run
// on a worker thread (src/server/private-fds.ts) is otherwise idle, and a worker thread of the
// writer's own would cost an isolate (~12.6 MiB of RSS) in every access node.
import type { MessagePort } from 'node:worker_threads';
import type { WriterData } from './wire.ts';
import { runWriter } from './writer.ts';

/** Runs here every writer the thread at the other end of `port` starts (after `hostWritersOn`). */
export function hostLedgerWriters(port: MessagePort): void {
  port.on('message', (m: { t: 'ledger-writer'; data: WriterData }) => {
    if (m.t === 'ledger-writer') runWriter(m.data);
  });
  port.unref(); // each writer's own port keeps the thread alive while it runs
}
