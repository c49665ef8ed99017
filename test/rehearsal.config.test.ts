// The rehearsal's figures from its preset and flags: --server-fds picks whether the servers run
// with --private-fds (the seed preset's nodes do; the default single server does not).
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
