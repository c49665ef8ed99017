// The native engine: a thin wrapper over the napi-rs addon built from native/node (Rust core in
// native/core). The addon's state is process-global, so every worker thread that opens it shares
// one engine. Calls return synchronously; misuse errors from the addon become EngineInputError.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { ROOT } from '../paths.ts';
import {
  EngineInputError,
  type AmountRule,
  type CreateBatch,
  type CreateOut,
  type Engine,
  type EngineOptions,
  type EngineSnapshot,
  type OpenOut,
  type PacketDetails,
  type RefundOut,
  type ReleaseOut,
  type ShakeOut,
  type SupplyOptions,
  type SupplyState,
  type Totals,
} from './types.ts';

/** What src/engine uses of native/node/binding.cjs (its generated binding.d.ts exists only after a build). */
interface NativeBinding {
  privateFdTable(): void;
  engineOpen(options?: EngineOptions | null): EngineInfo;
  engineReset(options?: EngineOptions | null): EngineInfo;
  engineInfo(): EngineInfo;
  startSupply(options: SupplyOptions): void;
  stopSupply(): void;
  supplyState(): SupplyState | null;
  releaseSupply(count: number, ids: Uint32Array, cents: Uint32Array): number;
  shake(users: Uint32Array, status: Uint8Array, packetIds: Uint32Array, cents: Uint32Array): void;
  createGroup(
    senders: Uint32Array,
    totalCents: Uint32Array,
    shareCounts: Uint32Array,
    recipientOffsets: Uint32Array,
    recipients: Uint32Array,
    expiresAt: Float64Array,
    status: Uint8Array,
    packetIds: Uint32Array,
  ): void;
  openPackets(users: Uint32Array, packetIds: Uint32Array, nowMs: number, status: Uint8Array, cents: Uint32Array): void;
  expire(nowMs: number, packetIds: Uint32Array, senders: Uint32Array, cents: Uint32Array, shares: Uint32Array, force?: Uint32Array | null): number;
  evict(beforeMs: number): number;
  drawAmounts(rule: AmountRule, out: Uint32Array): void;
  adoptShakePackets(ids: Uint32Array, cents: Uint32Array): void;
  withdrawShakePackets(ids: Uint32Array, cents: Uint32Array): number;
  splitShares(packetIds: Uint32Array, totalCents: Uint32Array, shareCounts: Uint32Array, out: Uint32Array): void;
  details(packetId: number): PacketDetails | null;
  totals(): Totals;
  snapshotRestore(snapshot: EngineSnapshot): void;
}

interface EngineInfo {
  shards: number;
  seed: number;
  splitMode: number;
  created: boolean;
}

/** The `code` the addon gives misuse errors (native/node/src/convert.rs INPUT_ERROR_CODE). */
export const INPUT_ERROR_CODE = 'EngineInputError';

let binding: NativeBinding | undefined;

function loadBinding(): NativeBinding {
  if (binding) return binding;
  try {
    binding = createRequire(import.meta.url)(join(ROOT, 'native/node/binding.cjs')) as NativeBinding;
  } catch (cause) {
    throw new Error('native engine not built: run `npm run build:native` (or set HONGBAO_ENGINE=ts)', { cause });
  }
  return binding;
}

/** Gives the calling thread a descriptor table of its own (native/node/src/fd_table.rs). */
export function privateFdTable(): void {
  loadBinding().privateFdTable();
}

/** Addon misuse errors, told apart by their code (napi's own argument conversions, before the
 *  binding's code runs, keep napi's InvalidArg). */
function mapError(error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  const { code } = error as { code?: unknown };
  return code === INPUT_ERROR_CODE || code === 'InvalidArg' ? new EngineInputError(error.message) : error;
}

export class NativeEngine implements Engine {
  readonly kind = 'native' as const;
  readonly sharedAcrossThreads = true;

  private constructor(private readonly addon: NativeBinding) {}

  /** Creates the process-global engine with `options` if none exists yet, else attaches to it
   *  (options are then ignored; `reset(options)` replaces it). */
  static open(options: EngineOptions = {}): NativeEngine {
    const addon = loadBinding();
    try {
      addon.engineOpen(options);
    } catch (error) {
      throw mapError(error);
    }
    return new NativeEngine(addon);
  }

  /** Read from the addon each time: another thread may have reset the shared engine. */
  get shardCount(): number {
    return this.addon.engineInfo().shards;
  }

  startSupply(opts: SupplyOptions): void {
    try {
      this.addon.startSupply(opts);
    } catch (error) {
      throw mapError(error);
    }
  }

  stopSupply(): void {
    this.addon.stopSupply();
  }

  supplyState(): SupplyState | null {
    return this.addon.supplyState();
  }

  releaseSupply(count: number, out: ReleaseOut): number {
    try {
      return this.addon.releaseSupply(count, out.ids, out.cents);
    } catch (error) {
      throw mapError(error);
    }
  }

  shake(users: Uint32Array, out: ShakeOut): void {
    try {
      this.addon.shake(users, out.status, out.packetIds, out.cents);
    } catch (error) {
      throw mapError(error);
    }
  }

  createGroup(batch: CreateBatch, out: CreateOut): void {
    try {
      this.addon.createGroup(
        batch.senders,
        batch.totalCents,
        batch.shareCounts,
        batch.recipientOffsets,
        batch.recipients,
        batch.expiresAt,
        out.status,
        out.packetIds,
      );
    } catch (error) {
      throw mapError(error);
    }
  }

  open(users: Uint32Array, packetIds: Uint32Array, nowMs: number, out: OpenOut): void {
    try {
      this.addon.openPackets(users, packetIds, nowMs, out.status, out.cents);
    } catch (error) {
      throw mapError(error);
    }
  }

  expire(nowMs: number, out: RefundOut, force?: Uint32Array): number {
    try {
      return this.addon.expire(nowMs, out.packetIds, out.senders, out.cents, out.shares, force);
    } catch (error) {
      throw mapError(error);
    }
  }

  evict(beforeMs: number): number {
    try {
      return this.addon.evict(beforeMs);
    } catch (error) {
      throw mapError(error);
    }
  }

  drawAmounts(rule: AmountRule, out: Uint32Array): void {
    try {
      this.addon.drawAmounts(rule, out);
    } catch (error) {
      throw mapError(error);
    }
  }

  adoptShakePackets(ids: Uint32Array, cents: Uint32Array): void {
    try {
      this.addon.adoptShakePackets(ids, cents);
    } catch (error) {
      throw mapError(error);
    }
  }

  withdrawShakePackets(out: ReleaseOut): number {
    try {
      return this.addon.withdrawShakePackets(out.ids, out.cents);
    } catch (error) {
      throw mapError(error);
    }
  }

  splitShares(packetIds: Uint32Array, totalCents: Uint32Array, shareCounts: Uint32Array, out: Uint32Array): void {
    try {
      this.addon.splitShares(packetIds, totalCents, shareCounts, out);
    } catch (error) {
      throw mapError(error);
    }
  }

  details(packetId: number): PacketDetails | null {
    try {
      return this.addon.details(packetId);
    } catch (error) {
      throw mapError(error);
    }
  }

  totals(): Totals {
    return this.addon.totals();
  }

  snapshotRestore(snapshot: EngineSnapshot): void {
    try {
      this.addon.snapshotRestore(snapshot);
    } catch (error) {
      throw mapError(error);
    }
  }

  /** Replaces the shared engine; without options it starts over with the current engine's options. */
  reset(options?: EngineOptions): void {
    try {
      this.addon.engineReset(options);
    } catch (error) {
      throw mapError(error);
    }
  }
}
