// Entry of the ledger writer's worker thread; the writer itself is writer.ts.
import { workerData } from 'node:worker_threads';
import type { WriterData } from './wire.ts';
import { runWriter } from './writer.ts';

runWriter(workerData as WriterData);
