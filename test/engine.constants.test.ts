// The constants Rust and TypeScript both declare, read from the Rust sources and compared with the
// TypeScript values: the status codes (ShakeStatus, OpenStatus, CreateStatus, SplitMode), the
// limits (MAX_PACKET_CENTS, MAX_SHARES, MAX_RECIPIENTS, DEFAULT_SHARDS, MAX_SHARDS) and the code of
// the addon's misuse errors. Any difference, a name or a value on either side, fails here.
import { readFileSync } from 'node:fs';
import test from 'ava';
import { DEFAULT_SHARDS, MAX_SHARDS } from '../src/engine/check.ts';
import { INPUT_ERROR_CODE } from '../src/engine/native.ts';
import { CreateStatus, MAX_PACKET_CENTS, MAX_RECIPIENTS, MAX_SHARES, OpenStatus, ShakeStatus, SplitMode } from '../src/engine/types.ts';

const rust = (file: string) => readFileSync(new URL(`../native/${file}`, import.meta.url), 'utf8');
const TYPES_RS = rust('core/src/types.rs');
const ENGINE_RS = rust('core/src/engine.rs');
const CONVERT_RS = rust('node/src/convert.rs');

/** `pub const NAME: u32 = 1_000;` → 1000 */
function rustConst(source: string, name: string): number {
  const m = new RegExp(`pub const ${name}: u32 = ([0-9_]+);`).exec(source);
  if (!m) throw new Error(`no pub const ${name}: u32 in the Rust source`);
  return Number(m[1].replaceAll('_', ''));
}

/** `pub enum Name { /// doc\n Variant = 0, ... }` → { Variant: 0, ... } */
function rustEnum(source: string, name: string): Record<string, number> {
  const m = new RegExp(`pub enum ${name} \\{([^}]*)\\}`).exec(source);
  if (!m) throw new Error(`no pub enum ${name} in the Rust source`);
  const out: Record<string, number> = {};
  for (const v of m[1].matchAll(/^\s*([A-Z]\w*) = (\d+),/gm)) out[v[1]] = Number(v[2]);
  return out;
}

test('status codes: the Rust enums and the TypeScript objects have the same names and values', (t) => {
  for (const [name, ts] of [
    ['ShakeStatus', ShakeStatus],
    ['OpenStatus', OpenStatus],
    ['CreateStatus', CreateStatus],
    ['SplitMode', SplitMode],
  ] as const) {
    const fromRust = rustEnum(TYPES_RS, name);
    t.true(Object.keys(fromRust).length > 0, `${name}: variants found in types.rs`);
    t.deepEqual({ ...ts }, fromRust, `${name}: native/core/src/types.rs and src/engine/types.ts agree`);
  }
});

test('limits: the same numbers on both sides', (t) => {
  const limits: Array<[string, string, number]> = [
    ['MAX_PACKET_CENTS', TYPES_RS, MAX_PACKET_CENTS],
    ['MAX_SHARES', TYPES_RS, MAX_SHARES],
    ['MAX_RECIPIENTS', TYPES_RS, MAX_RECIPIENTS],
    ['DEFAULT_SHARDS', TYPES_RS, DEFAULT_SHARDS],
    ['MAX_SHARDS', ENGINE_RS, MAX_SHARDS],
  ];
  for (const [name, source, ts] of limits) t.is(ts, rustConst(source, name), `${name}: Rust and TypeScript agree`);
});

test("the addon's misuse code is the one the wrapper tests", (t) => {
  const m = /pub const INPUT_ERROR_CODE: &str = "([^"]+)";/.exec(CONVERT_RS);
  t.is(m?.[1], INPUT_ERROR_CODE, 'native/node/src/convert.rs and src/engine/native.ts agree');
});
