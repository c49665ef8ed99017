// Argument checks for the TypeScript engine: every check throws EngineInputError, and every batch is
// checked whole before any state changes (docs/engine.md, "Errors").
import { types } from 'node:util';
import { EngineInputError, MAX_PACKET_CENTS, SplitMode } from './types.ts';
import type { AmountRule, EngineOptions } from './types.ts';

const U32_MAX = 0xffff_ffff;
export const DEFAULT_SHARDS = 64;
/** Upper bound on shards: keeps the per-shard arrays and streams small. */
export const MAX_SHARDS = 65_536;

export function fail(message: string): never {
  throw new EngineInputError(message);
}

export function isU32(x: unknown): x is number {
  return typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= U32_MAX;
}

export function checkU32(name: string, x: unknown): number {
  if (!isU32(x)) fail(`${name} must be an integer in [0, 2^32), got ${String(x)}`);
  return x;
}

export function checkFinite(name: string, x: unknown): number {
  if (typeof x !== 'number' || !Number.isFinite(x)) fail(`${name} must be a finite number, got ${String(x)}`);
  return x;
}

/** A clock reading: any number but NaN (an infinite clock expires everything or nothing). */
export function checkTime(name: string, x: unknown): number {
  if (typeof x !== 'number' || Number.isNaN(x)) fail(`${name} must be a number, got ${String(x)}`);
  return x;
}

type TypedArrayKind = Uint8ArrayConstructor | Uint32ArrayConstructor | Float64ArrayConstructor;

/** Typed arrays of another realm (a vm context) fail `instanceof` but are still accepted, as the
 *  native addon accepts them: it looks at the array's element type only. */
const OTHER_REALM = new Map<TypedArrayKind, (a: unknown) => boolean>([
  [Uint8Array, types.isUint8Array],
  [Uint32Array, types.isUint32Array],
  [Float64Array, types.isFloat64Array],
]);

function isTyped(a: unknown, kind: TypedArrayKind): boolean {
  return a instanceof kind || (OTHER_REALM.get(kind) as (a: unknown) => boolean)(a);
}

/** An input batch column: a Uint32Array, as the native addon requires (a plain array or another
 *  typed array is refused by both engines alike). Every uint32 value is valid. */
export function checkU32Array(name: string, a: unknown): Uint32Array {
  if (!isTyped(a, Uint32Array)) fail(`${name} must be a Uint32Array`);
  return a as Uint32Array;
}

/** An input column of times: a Float64Array (its values are checked by the caller). */
export function checkF64Array(name: string, a: unknown): Float64Array {
  if (!isTyped(a, Float64Array)) fail(`${name} must be a Float64Array`);
  return a as Float64Array;
}

/** An output array: a typed array of the right kind with at least `min` items. */
export function checkOut<K extends TypedArrayKind>(name: string, a: unknown, kind: K, min: number): InstanceType<K> {
  if (!isTyped(a, kind)) fail(`${name} must be a ${kind.name}`);
  const out = a as InstanceType<K>;
  if (out.length < min) fail(`${name} has ${out.length} items, needs at least ${min}`);
  return out;
}

export function checkLength(name: string, a: ArrayLike<unknown>, n: number): void {
  if (a.length !== n) fail(`${name} has ${a.length} items, expected ${n}`);
}

function checkCents(name: string, x: unknown): number {
  if (!isU32(x) || x < 1 || x > MAX_PACKET_CENTS) {
    fail(`${name} must be an integer number of cents in [1, ${MAX_PACKET_CENTS}], got ${String(x)}`);
  }
  return x;
}

/** A valid amount rule, copied (so the caller's later edits cannot reach the engine). */
export function checkRule(rule: unknown): AmountRule {
  if (rule == null || typeof rule !== 'object') fail('rule must be an object');
  const r = rule as Record<string, unknown>;
  if (r.kind === 'range') {
    const min = checkCents('rule.min', r.min);
    const max = checkCents('rule.max', r.max);
    if (min > max) fail(`rule.min (${min}) must not exceed rule.max (${max})`);
    return { kind: 'range', min, max };
  }
  if (r.kind === 'list') {
    if (!Array.isArray(r.values) || r.values.length === 0) fail('rule.values must be a non-empty array');
    return { kind: 'list', values: r.values.map((v, i) => checkCents(`rule.values[${i}]`, v)) };
  }
  return fail(`rule.kind must be "range" or "list", got ${String(r.kind)}`);
}

export interface ResolvedOptions {
  shards: number;
  seed: number;
  splitMode: SplitMode;
}

export function resolveOptions(options: EngineOptions | undefined, entropy: () => number): ResolvedOptions {
  const o = options ?? {};
  const shards = o.shards ?? DEFAULT_SHARDS;
  if (!Number.isInteger(shards) || shards < 1 || shards > MAX_SHARDS) {
    fail(`shards must be an integer in [1, ${MAX_SHARDS}], got ${String(shards)}`);
  }
  const seed = o.seed === undefined ? entropy() : checkU32('seed', o.seed);
  const splitMode = o.splitMode ?? SplitMode.DoubleMean;
  if (splitMode !== SplitMode.DoubleMean && splitMode !== SplitMode.LineSegment) {
    fail(`splitMode must be 0 (DoubleMean) or 1 (LineSegment), got ${String(splitMode)}`);
  }
  return { shards, seed, splitMode };
}
