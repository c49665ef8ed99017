// `hongbao server` flags: defaults, the checks that keep uWS from aborting, and the shake ceiling.
import path from 'node:path';
import test from 'ava';
import { newControl, ShakeCeiling } from '../src/server/counters.ts';
import { FlagError, parseFlags } from '../src/server/flags.ts';
import { startServer } from './helpers/server.ts';

test('defaults: public 8080 on all addresses, admin 8081 on 127.0.0.1, ledger in ./data', (t) => {
  const f = parseFlags([]);
  t.like(
    f,
    { port: 8080, host: '0.0.0.0', adminPort: 8081, adminHost: '127.0.0.1', idleTimeout: 120, maxShakesPerSecond: 0, semiSpaceMb: 8 },
    'documented defaults',
  );
  t.is(f.dbFile, path.resolve('data', 'hongbao.db'), 'the ledger lives in the data directory');
  t.is(parseFlags(['--data', '/x']).dbFile, '/x/hongbao.db', '--data moves the ledger with it');
  t.is(parseFlags(['--data', '/x', '--db', '/y/z.db']).dbFile, '/y/z.db', '--db overrides');
});

test('flags that would abort uWS or make no sense are refused with a FlagError', (t) => {
  for (const argv of [
    ['--idle-timeout', '1'],
    ['--idle-timeout', '7'],
    ['--threads', '0'],
    ['--port', 'x'],
    ['--split-mode', 'fair'],
    ['--monitor', 'ftp://x'],
    ['--port', '9', '--admin-port', '9'],
    ['--semi-space-mb', '129'],
    ['--max-shakes-per-second', '4294967296'],
    ['--nope'],
  ]) {
    t.throws(() => parseFlags(argv), { instanceOf: FlagError }, `${argv.join(' ')} is refused`);
  }
  t.is(parseFlags(['--idle-timeout', '0']).idleTimeout, 0, 'idle timeout 0 (off) is fine');
  t.is(parseFlags(['--idle-timeout', '8']).idleTimeout, 8, 'idle timeout 8 is fine');
  t.is(parseFlags(['--semi-space-mb', '0']).semiSpaceMb, 0, 'semi-space 0 leaves the sizing to V8');
});

test('the shake ceiling lets through at most N per second over all callers, then starts over', (t) => {
  const ceiling = new ShakeCeiling(newControl(), 10);
  const second = 1_700_000_000_000;
  t.is(ceiling.take(4, second), 4, 'under the ceiling: all');
  t.is(ceiling.take(4, second + 10), 4, 'still under');
  t.is(ceiling.take(4, second + 20), 2, 'at the ceiling: only what is left');
  t.is(ceiling.take(4, second + 30), 0, 'above: none');
  t.is(ceiling.take(4, second + 1000), 4, 'the next second starts over');
  t.is(new ShakeCeiling(newControl(), 0).take(1_000_000, second), 1_000_000, '0 means no ceiling');
});

test('the TS engine runs one thread, and says it overrides --threads only when --threads was given', async (t) => {
  const quiet = await startServer({ env: { HONGBAO_ENGINE: 'ts' } });
  const asked = await startServer({ env: { HONGBAO_ENGINE: 'ts' }, args: ['--threads', '2'] });
  try {
    t.is(quiet.ready.threads, 1, 'one thread by default');
    t.is(asked.ready.threads, 1, 'one thread when two were asked for');
    t.notRegex(quiet.stderr(), /ONE thread instead of/, 'no warning when --threads was not given');
    t.regex(asked.stderr(), /running ONE thread instead of 2/, 'a warning when --threads 2 was given');
  } finally {
    await Promise.all([quiet.stop(), asked.stop()]);
  }
});
