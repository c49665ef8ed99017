// Picks the packet engine: HONGBAO_ENGINE=native|ts (default native). Selecting native when the
// addon was not built is an error naming the build command, never a silent fallback to ts.
import type { Engine, EngineOptions } from './types.ts';

export type EngineKind = 'native' | 'ts';

export function engineKindFromEnv(env: NodeJS.ProcessEnv = process.env): EngineKind {
  const value = (env.HONGBAO_ENGINE ?? 'native').trim().toLowerCase();
  if (value === 'native' || value === 'ts') return value;
  throw new Error(`HONGBAO_ENGINE must be "native" or "ts", got "${env.HONGBAO_ENGINE}"`);
}

export async function createEngine(options: EngineOptions = {}, kind: EngineKind = engineKindFromEnv()): Promise<Engine> {
  if (kind === 'ts') {
    const { TsEngine } = await import('./ts.ts');
    return new TsEngine(options);
  }
  const { NativeEngine } = await import('./native.ts');
  return NativeEngine.open(options);
}

export * from './types.ts';
