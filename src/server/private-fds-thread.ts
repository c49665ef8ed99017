// Entry of `hongbao server --private-fds`'s server thread: first a descriptor table of its own,
// then the server as on the main thread (serve.ts), its ledger writers run by the main thread.
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { privateFdTable } from '../engine/native.ts';
import { hostWritersOn } from '../ledger/sqlite-ledger.ts';
import { parseFlags } from './flags.ts';
import type { PrivateThreadData, ToServerThread } from './private-fds.ts';
import { log } from './log.ts';
import { serve } from './serve.ts';

const { argv, writers } = workerData as PrivateThreadData;
const parent = parentPort as MessagePort;
const stop = new Promise<string>((resolve) => {
  parent.on('message', (m: ToServerThread) => {
    if (m.t === 'stop') resolve(m.signal);
  });
});
parent.unref(); // the server's own handles keep this thread alive

try {
  privateFdTable();
  hostWritersOn(writers);
} catch (err) {
  log(`--private-fds: ${(err as Error).message}`);
  process.exit(1);
}
process.exitCode = await serve(parseFlags(argv), () => stop);
