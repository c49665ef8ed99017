// The child process of ProberProcess: runs well-behaved users, answers "summary" and "stop" on stdin
// with one JSON line each on stdout.
import { createInterface } from 'node:readline';
import { Prober, type ProberOptions } from './prober.ts';
import { Told } from './told.ts';

const config = JSON.parse(process.argv[2]) as Omit<ProberOptions, 'told' | 'packetOf'> & { packetOf: Array<[number, number]> };
const told = new Told();
const prober = new Prober({ ...config, packetOf: new Map(config.packetOf), told });
await prober.start();
process.stdout.write(`${JSON.stringify({ event: 'ready' })}\n`);
for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'summary') process.stdout.write(`${JSON.stringify(prober.summary())}\n`);
  else if (line === 'stop') {
    const r = await prober.stop();
    process.stdout.write(`${JSON.stringify({ ...r, told: { hits: told.hits, shares: told.shares } })}\n`);
    break;
  }
}
process.exit(0);
