// Loads uWebSockets.js and says whether the native binary is the one in use. The package's
// src/uws.js silently falls back to a slow JavaScript implementation when its binary does not
// load (or when UWS_USE_FALLBACK is set): we require the binary ourselves and compare.
import { createRequire } from 'node:module';
import path from 'node:path';

export type Uws = typeof import('@trufflesuite/uws-js-unofficial');

export interface UwsLoad {
  uws: Uws;
  /** True when the package export is the native binary itself. */
  native: boolean;
  binaryPath: string;
  /** Why the native binary is not in use (null when it is). */
  reason: string | null;
}

const require = createRequire(import.meta.url);
const PACKAGE = '@trufflesuite/uws-js-unofficial';

export function binaryPathFor(entry: string): string {
  const file = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  return path.join(path.dirname(entry), '..', 'binaries', file);
}

export function loadUws(): UwsLoad {
  const entry = require.resolve(PACKAGE);
  const binaryPath = binaryPathFor(entry);
  let binary: unknown = null;
  let reason: string | null = null;
  try {
    binary = require(binaryPath);
  } catch (err) {
    reason = `the native binary ${binaryPath} does not load: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`;
  }
  const uws = require(PACKAGE) as Uws;
  const native = binary !== null && (uws as unknown) === binary;
  if (!native && reason === null) reason = 'the package export is not the native binary (UWS_USE_FALLBACK is set?)';
  return { uws, native, binaryPath, reason };
}
