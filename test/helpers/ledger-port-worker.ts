// Runs in a worker thread (started by test/ledger.test.ts): commits group packets through a ledger
// port handed over by the owner thread, the way a uWS worker thread of the server does.
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { connectLedgerPort } from '../../src/ledger/sqlite-ledger.ts';
import { group } from './ledger.ts';

const { port, ids } = workerData as { port: MessagePort; ids: number[] };
const ledger = connectLedgerPort(port);
const results = await Promise.allSettled(ids.map((id) => ledger.commit({ creates: [group(id, 300, [1, 2, 3], { sender: 100 + id })] })));
await ledger.barrier();
const health = ledger.health();
await ledger.close();
if (parentPort === null) throw new Error('ledger-port-worker runs in a worker thread');
parentPort.postMessage({ rejected: results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason)), health });
