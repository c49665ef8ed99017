// The clients' control port hands over the final tally on POST /stop and the process then exits:
// a tally of megabytes (a long run's hits and shares) must arrive whole before the port closes.
import test from 'ava';
import { closeControl, portOf, startControl } from '../src/simulator/control.ts';

test('a large /stop answer arrives whole although the port is closed right after it', async (t) => {
  const tally = { hits: Array.from({ length: 400_000 }, (_, i) => [i + 1, (i * 7) % 19_000, 100 + (i % 400)]) };
  let closed: Promise<void> | null = null;
  const control = await startControl(0, {
    qps: () => ({ qps: 0, pending: [], scheduled: null }),
    setQps: () => ({ qps: 0, pending: [], scheduled: null }),
    stats: () => ({}),
    async stop() {
      // what the simulator's main does: close as soon as the tally is handed over
      setImmediate(() => (closed = closeControl(control)));
      return tally;
    },
  });
  const res = await fetch(`http://127.0.0.1:${portOf(control)}/stop`, { method: 'POST' });
  const text = await res.text();
  t.true(text.length > 4_000_000, `the answer is large (${text.length} bytes)`);
  t.is(JSON.parse(text).hits.length, tally.hits.length, 'and complete');
  t.truthy(closed, 'the port was being closed while it was sent');
  await closed;
  t.false(control.listening, 'and is closed afterwards');
});
