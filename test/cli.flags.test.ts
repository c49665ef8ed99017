// The flag helper (src/cli/flags.ts): each kind parsed and checked, mistakes named, --help from the table.
import test from 'ava';
import { FlagError, Flags, runCommand } from '../src/cli/flags.ts';

const flags = new Flags('tool [flags]', 'A tool.', 'after the flags')
  .int('count', 'how many', { default: 3, min: 1, max: 10 })
  .number('scale', 'a factor', { default: 1, above: 0 })
  .string('mode', 'which', { default: 'a', choices: ['a', 'b'] })
  .list('names', 'some names')
  .ints('qps', 'steps', { default: [100, 200], min: 1 })
  .range('users', 'FROM-TO', { min: 1 })
  .intOr('per', 'N or auto', 'auto', { default: 'auto', min: 0 })
  .bool('quiet', 'say less')
  .positionals('steps', 'more steps', { default: [7], min: 0 });

test('defaults come from the table', (t) => {
  t.deepEqual(
    flags.parse([]),
    { count: 3, scale: 1, mode: 'a', names: [], qps: [100, 200], users: undefined, per: 'auto', quiet: false, help: false, steps: [7] },
    'every default, once',
  );
});

test('each kind is parsed', (t) => {
  const v = flags.parse([
    '--count',
    '10',
    '--scale',
    '0.5',
    '--mode',
    'b',
    '--names',
    'x, y',
    '--qps',
    '1,2,3',
    '--users',
    '5-9',
    '--per',
    '40',
    '--quiet',
    '1',
    '2',
  ]);
  t.like(v, { count: 10, scale: 0.5, mode: 'b', per: 40, quiet: true }, 'numbers, choices, words and booleans');
  t.deepEqual(v.names, ['x', 'y'], 'a list, trimmed');
  t.deepEqual(v.qps, [1, 2, 3], 'a list of whole numbers');
  t.deepEqual(v.users, { from: 5, to: 9 }, 'a range');
  t.deepEqual(v.steps, [1, 2], 'the positionals');
  t.true(flags.parse(['-h']).help, '-h is --help');
});

test('mistakes are FlagErrors that name the flag and the value', (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['--count', '11'], /--count must be <= 10, got 11/],
    [['--count', '1.5'], /--count must be a whole number, got "1.5"/],
    [['--scale', '0'], /--scale must be > 0/],
    [['--mode', 'c'], /--mode must be a or b, got "c"/],
    [['--qps', '1,x'], /--qps must be a whole number, got "x", in "1,x"/],
    [['--qps', '1,0'], /--qps must be >= 1, got 0/],
    [['--qps', ''], /--qps needs at least one value/],
    [['--users', '9-5'], /--users 9-5: need 1 <= FROM <= TO/],
    [['--users', 'abc'], /--users must look like FROM-TO/],
    [['--per', 'some'], /--per must be a whole number or auto, got "some"/],
    [['x'], /steps must be a whole number, got "x"/],
    [['--nope'], /Unknown option '--nope'/],
  ];
  for (const [argv, message] of cases) t.throws(() => flags.parse(argv), { instanceOf: FlagError, message }, argv.join(' '));
});

test('--help is printed from the table, with every default', (t) => {
  const help = flags.help();
  for (const line of [
    'usage: tool [flags]',
    '--count N',
    '(default 3)',
    '(default 100,200)',
    '--per N|auto',
    '(default auto)',
    '-h, --help',
    'after the flags',
  ])
    t.true(help.includes(line), `help has ${line}`);
});

test('runCommand: a mistake is one line and exit 2, also from the command own checks', async (t) => {
  const err: string[] = [];
  const io = { stdout: () => {}, stderr: (s: string) => void err.push(s) };
  t.is(await runCommand('tool', flags, ['--count', '0'], async () => 0, io), 2, 'a parse mistake exits 2');
  t.is(
    await runCommand(
      'tool',
      flags,
      [],
      async () => {
        throw new FlagError('--count and --scale disagree');
      },
      io,
    ),
    2,
    'a check across flags exits 2',
  );
  t.deepEqual(err, ['tool: --count must be >= 1, got 0 (tool --help)\n', 'tool: --count and --scale disagree (tool --help)\n'], 'one line each');
});
