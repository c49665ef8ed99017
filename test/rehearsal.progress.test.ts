// The rehearsal's progress line: what a person following a long run reads every few seconds.
import test from 'ava';
import { type ProgressSample, progressLine } from '../src/rehearsal/progress.ts';

const sample: ProgressSample = {
  phase: 'step-1',
  elapsedSeconds: 207,
  targetQps: 30_000,
  clientQps: 29_990,
  serverQps: 29_474,
  hits: 0,
  opens: 0,
  connected: 1_000_000,
  users: 1_000_000,
  p99Ms: 661.5,
  memoryGiB: 5.84,
};

test('the progress line names the phase, the rates, the connections, p99 and memory', (t) => {
  t.is(
    progressLine(sample),
    '[3:27]  step-1    target 30,000  clients 29,990/s  server 29,474/s  hits    0/s  opens    0/s  connected 1,000,000/1,000,000  p99 661.5 ms  mem 5.8 GiB',
  );
});

test("the others' cores are shown once they are more than noise", (t) => {
  t.regex(progressLine({ ...sample, othersCores: 0.523 }), /mem 5\.8 GiB {2}others 0\.52 cores$/, 'half a core of someone else is named');
  t.notRegex(progressLine({ ...sample, othersCores: 0.04 }), /others/, 'the rehearsal and the housekeeping alone are not');
  t.notRegex(progressLine({ ...sample, othersCores: null }), /others/, 'nor is a share not measured yet');
});
