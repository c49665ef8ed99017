// The rehearsal's figures from its preset and flags: --server-fds picks whether the servers run
// with --private-fds (the seed preset's nodes do; the default single server does not); the seed preset
// also sets its nodes' loop-delay sampling, and --users-per-worker reaches the native clients.
import test from 'ava';
import { FlagError } from '../src/cli/flags.ts';
import { parseConfig } from '../src/rehearsal/main.ts';

function config(argv: string[]) {
  const parsed = parseConfig(argv);
  if (parsed === 'help') throw new Error('help');
  return parsed.config;
}

test('--server-fds: the preset decides unless the flag is given', (t) => {
  t.false(config([]).privateFds, 'the default preset: the server without --private-fds');
  t.true(config(['--preset', 'seed']).privateFds, 'the seed preset: its nodes with --private-fds');
  t.false(config(['--preset', 'seed', '--server-fds', 'shared']).privateFds, 'shared overrides the seed preset');
  t.true(config(['--server-fds', 'private']).privateFds, 'private overrides the default preset');
  t.throws(() => config(['--server-fds', 'mine']), { instanceOf: FlagError, message: /--server-fds must be private or shared/ });
});

test('--loop-sample-ms and --users-per-worker: the seed preset samples its nodes every 200 ms; the flags reach the config', (t) => {
  t.is(config([]).loopSampleMs, undefined, "the default preset leaves the servers' own interval");
  t.is(config(['--preset', 'seed']).loopSampleMs, 200);
  t.is(config(['--preset', 'seed', '--loop-sample-ms', '50']).loopSampleMs, 50, 'the flag overrides the preset');
  t.is(config(['--preset', 'seed']).usersPerWorker, undefined, "the clients' own split unless asked");
  t.is(config(['--preset', 'seed', '--users', '56000', '--users-per-worker', '1000']).usersPerWorker, 1000);
  t.is(config(['--generator', 'ts', '--users-per-worker', '1000']).usersPerWorker, undefined, 'a native-generator figure only');
  t.throws(() => config(['--users-per-worker', '20000']), { instanceOf: FlagError, message: /--users-per-worker/ });
  t.throws(() => config(['--loop-sample-ms', '5']), { instanceOf: FlagError, message: /--loop-sample-ms/ });
});
