// Turn batching: every shake, open, create and details request that arrives in one event-loop turn
// is queued in reused typed arrays and handed to the engine as ONE batch (flushed in setImmediate,
// after uWS has dispatched all of the turn's messages). Misses and refusals are answered at once;
// hits, opens and creates only after `ledger.commit` of the batch resolves; repeat opens and details
// after a `ledger.barrier()` issued behind that commit, so nothing is told before it is durable.
import {
  CreateStatus,
  OpenStatus,
  ShakeStatus,
  type CreateOut,
  type Engine,
  type OpenOut,
  type PacketDetails,
  type ShakeOut,
  type SplitMode,
} from '../engine/types.ts';
import type { GroupCreateRecord, Ledger, LedgerBatch } from '../ledger/types.ts';
import type { Cover } from '../protocol/codec.ts';
import { CommonStatus, DetailsStatus } from '../protocol/codes.ts';
import { C, type ShakeCeiling } from './counters.ts';
import type { MoveGate } from './gate.ts';
import type { Replier } from './replier.ts';

export interface CreateRequest {
  target: Replier;
  requestId: number;
  sender: number;
  totalCents: number;
  shareCount: number;
  recipients: number[];
  cover: Cover | null;
}

/** A group packet just committed: what its recipients are told (and its cover, for details). */
export interface NotifyItem {
  id: number;
  sender: number;
  shareCount: number;
  totalCents: number;
  expiresAt: number;
  recipients: number[];
  cover: Cover | null;
}

export interface BatcherDeps {
  engine: Engine;
  ledger: Ledger;
  counters: Float64Array;
  ceiling: ShakeCeiling;
  gate: MoveGate;
  covers: { get(packetId: number): Cover | undefined };
  splitMode: SplitMode;
  packetTtlMs: number;
  /** Committed group packets, to notify their recipients. */
  onCreated(items: NotifyItem[]): void;
  log(message: string): void;
}

const INITIAL_CAPACITY = 1024;

function isThenable(x: unknown): x is PromiseLike<unknown> {
  return x !== null && typeof x === 'object' && typeof (x as { then?: unknown }).then === 'function';
}

/** One turn's requests. Two of these alternate, so a batch still in an (async) engine call keeps its arrays. */
class Queue {
  shakeUsers: Uint32Array = new Uint32Array(INITIAL_CAPACITY);
  shakeReqs: Uint32Array = new Uint32Array(INITIAL_CAPACITY);
  shakeTargets: Replier[] = [];
  nShake = 0;
  openUsers: Uint32Array = new Uint32Array(INITIAL_CAPACITY);
  openIds: Uint32Array = new Uint32Array(INITIAL_CAPACITY);
  openReqs: Uint32Array = new Uint32Array(INITIAL_CAPACITY);
  openTargets: Replier[] = [];
  nOpen = 0;
  creates: CreateRequest[] = [];
  details: Array<{ target: Replier; requestId: number; packetId: number }> = [];

  get empty(): boolean {
    return this.nShake === 0 && this.nOpen === 0 && this.creates.length === 0 && this.details.length === 0;
  }

  clear(): void {
    // Drop the references so closed sessions and finished HTTP requests can be collected.
    this.shakeTargets.fill(null as unknown as Replier, 0, this.nShake);
    this.openTargets.fill(null as unknown as Replier, 0, this.nOpen);
    this.nShake = 0;
    this.nOpen = 0;
    this.creates = [];
    this.details = [];
  }
}

function grow(a: Uint32Array): Uint32Array {
  const b = new Uint32Array(a.length * 2);
  b.set(a);
  return b;
}

/** What one batch must tell after its commit. Allocated per batch only when money moved (rare). */
class Pending {
  hitTargets: Replier[] = [];
  hitReqs: number[] = [];
  hitUsers: number[] = [];
  hitIds: number[] = [];
  hitCents: number[] = [];
  openTargets: Replier[] = [];
  openReqs: number[] = [];
  openUsers: number[] = [];
  openIds: number[] = [];
  openCents: number[] = [];
  createTargets: Replier[] = [];
  createReqs: number[] = [];
  creates: GroupCreateRecord[] = [];
  repeatTargets: Replier[] = [];
  repeatReqs: number[] = [];
  repeatIds: number[] = [];
  repeatCents: number[] = [];

  get movesMoney(): boolean {
    return this.hitIds.length > 0 || this.openIds.length > 0 || this.creates.length > 0;
  }
}

export class Batcher {
  private current = new Queue();
  private spare = new Queue();
  private scheduled = false;
  private flushing = false;
  private inflight = 0;
  private idleWaiters: Array<() => void> = [];
  private shakeOut: ShakeOut = {
    status: new Uint8Array(INITIAL_CAPACITY),
    packetIds: new Uint32Array(INITIAL_CAPACITY),
    cents: new Uint32Array(INITIAL_CAPACITY),
  };
  private openOut: OpenOut = { status: new Uint8Array(INITIAL_CAPACITY), cents: new Uint32Array(INITIAL_CAPACITY) };
  private readonly flushBound = () => this.flush();

  constructor(private readonly deps: BatcherDeps) {}

  shake(target: Replier, requestId: number, user: number): void {
    const q = this.current;
    if (q.nShake === q.shakeUsers.length) {
      q.shakeUsers = grow(q.shakeUsers);
      q.shakeReqs = grow(q.shakeReqs);
    }
    q.shakeUsers[q.nShake] = user;
    q.shakeReqs[q.nShake] = requestId;
    q.shakeTargets[q.nShake] = target;
    q.nShake++;
    this.schedule();
  }

  open(target: Replier, requestId: number, user: number, packetId: number): void {
    const q = this.current;
    if (q.nOpen === q.openUsers.length) {
      q.openUsers = grow(q.openUsers);
      q.openIds = grow(q.openIds);
      q.openReqs = grow(q.openReqs);
    }
    q.openUsers[q.nOpen] = user;
    q.openIds[q.nOpen] = packetId;
    q.openReqs[q.nOpen] = requestId;
    q.openTargets[q.nOpen] = target;
    q.nOpen++;
    this.schedule();
  }

  create(request: CreateRequest): void {
    this.current.creates.push(request);
    this.schedule();
  }

  details(target: Replier, requestId: number, packetId: number): void {
    this.current.details.push({ target, requestId, packetId });
    this.schedule();
  }

  /** Resolves once nothing is queued, in an engine call, or waiting for the ledger. */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    if (!this.scheduled && !this.flushing && !this.current.empty) this.flush();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private isIdle(): boolean {
    return this.inflight === 0 && !this.flushing && this.current.empty;
  }

  private settle(): void {
    if (!this.isIdle() || this.idleWaiters.length === 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.flushBound);
  }

  private flush(): void {
    this.scheduled = false;
    if (this.flushing || this.current.empty) return;
    const q = this.current;
    this.current = this.spare;
    this.spare = q;
    this.flushing = true;
    let result: void | Promise<void>;
    try {
      result = this.run(q);
    } catch (err) {
      this.batchFailed(err);
      return;
    }
    if (isThenable(result)) result.then(this.flushDoneBound, this.batchFailedBound);
    else this.flushDone();
  }

  // The flush's continuations are bound once: under tsx (esbuild keepNames) every named closure
  // created on the hot path costs an Object.defineProperty call.
  private readonly flushDoneBound = () => this.flushDone();
  private readonly batchFailedBound = (err: unknown) => this.batchFailed(err);

  private batchFailed(err: unknown): void {
    this.deps.log(`batch failed: ${(err as Error).message}`);
    this.flushDone();
  }

  /** The queue being flushed (this.spare) is done: clear it and let waiters and the next turn in. */
  private flushDone(): void {
    this.spare.clear();
    this.flushing = false;
    if (!this.current.empty) this.schedule();
    this.settle();
  }

  // State of the run in progress (runs never overlap: `flushing`).
  private runEpoch = 0;
  private runNow = 0;
  /** What the run must tell after its commit, made on the first money move (a batch of misses allocates nothing). */
  private runPending: Pending | null = null;

  private pendingForRun(): Pending {
    let p = this.runPending;
    if (p === null) {
      p = new Pending();
      this.runPending = p;
    }
    return p;
  }

  /** Synchronous when the engine answers synchronously (both engines do): misses leave in this turn.
   *  Continuations are closures only on the asynchronous path. */
  private run(q: Queue): void | Promise<void> {
    const { gate, counters } = this.deps;
    const moving = gate.canMove();
    this.runEpoch = gate.epoch;
    this.runNow = Date.now();
    this.runPending = null;
    if (q.nShake > 0) {
      counters[C.shakes] += q.nShake;
      if (!moving) this.refuseShakes(q, 0, q.nShake, CommonStatus.Unavailable);
      else {
        const allowed = this.deps.ceiling.take(q.nShake, this.runNow);
        if (allowed < q.nShake) this.refuseShakes(q, allowed, q.nShake, CommonStatus.Overloaded);
        if (allowed > 0) {
          const r = this.shakeEngine(q, allowed);
          if (r) return r.then(() => this.afterShakes(q));
        }
      }
    }
    return this.afterShakes(q);
  }

  private afterShakes(q: Queue): void | Promise<void> {
    if (q.nOpen > 0) {
      if (!this.deps.gate.canMove()) this.refuseOpens(q);
      else {
        const r = this.openEngine(q, this.runNow);
        if (r) return r.then(() => this.afterOpens(q));
      }
    }
    return this.afterOpens(q);
  }

  private afterOpens(q: Queue): void | Promise<void> {
    if (q.creates.length > 0) {
      if (!this.deps.gate.canMove()) this.refuseCreates(q.creates);
      else {
        const r = this.createEngine(q.creates, this.runNow);
        if (r) return r.then(() => this.finishRun(q));
      }
    }
    this.finishRun(q);
  }

  private finishRun(q: Queue): void {
    const p = this.runPending;
    this.runPending = null;
    this.commit(p, q.details, this.runEpoch);
  }

  private refuseShakes(q: Queue, from: number, to: number, status: number): void {
    this.deps.counters[status === CommonStatus.Overloaded ? C.overloaded : C.unavailable] += to - from;
    for (let i = from; i < to; i++) q.shakeTargets[i].shakeResult(q.shakeReqs[i], status, 0, 0);
  }

  private refuseOpens(q: Queue): void {
    this.deps.counters[C.unavailable] += q.nOpen;
    for (let i = 0; i < q.nOpen; i++) q.openTargets[i].openResult(q.openReqs[i], CommonStatus.Unavailable, q.openIds[i], 0);
  }

  private refuseCreates(creates: CreateRequest[]): void {
    this.deps.counters[C.unavailable] += creates.length;
    for (const c of creates) c.target.createResult(c.requestId, CommonStatus.Unavailable, 0);
  }

  private ensureOut(n: number): void {
    if (this.shakeOut.status.length < n) {
      let size = this.shakeOut.status.length;
      while (size < n) size *= 2;
      this.shakeOut = { status: new Uint8Array(size), packetIds: new Uint32Array(size), cents: new Uint32Array(size) };
    }
    if (this.openOut.status.length < n) {
      let size = this.openOut.status.length;
      while (size < n) size *= 2;
      this.openOut = { status: new Uint8Array(size), cents: new Uint32Array(size) };
    }
  }

  private shakeEngine(q: Queue, n: number): Promise<void> | null {
    this.ensureOut(n);
    let r: unknown;
    try {
      r = this.deps.engine.shake(q.shakeUsers.subarray(0, n), this.shakeOut);
    } catch (err) {
      this.engineFailed('shake', err);
      this.refuseShakes(q, 0, n, CommonStatus.Unavailable);
      return null;
    }
    if (isThenable(r)) {
      return Promise.resolve(r).then(
        () => this.answerShakes(q, n),
        (err) => {
          this.engineFailed('shake', err);
          this.refuseShakes(q, 0, n, CommonStatus.Unavailable);
        },
      );
    }
    this.answerShakes(q, n);
    return null;
  }

  /** Misses are answered now; hits wait for the commit. */
  private answerShakes(q: Queue, n: number): void {
    const out = this.shakeOut;
    const status = out.status;
    const targets = q.shakeTargets;
    const reqs = q.shakeReqs;
    let misses = 0;
    for (let i = 0; i < n; i++) {
      if (status[i] === ShakeStatus.Hit) {
        const p = this.pendingForRun();
        p.hitTargets.push(targets[i]);
        p.hitReqs.push(reqs[i]);
        p.hitUsers.push(q.shakeUsers[i]);
        p.hitIds.push(out.packetIds[i]);
        p.hitCents.push(out.cents[i]);
      } else {
        misses++;
        targets[i].shakeResult(reqs[i], ShakeStatus.Miss, 0, 0);
      }
    }
    this.deps.counters[C.misses] += misses;
  }

  private openEngine(q: Queue, now: number): Promise<void> | null {
    const n = q.nOpen;
    this.ensureOut(n);
    let r: unknown;
    try {
      r = this.deps.engine.open(q.openUsers.subarray(0, n), q.openIds.subarray(0, n), now, this.openOut);
    } catch (err) {
      this.engineFailed('open', err);
      this.refuseOpens(q);
      return null;
    }
    if (isThenable(r)) {
      return Promise.resolve(r).then(
        () => this.answerOpens(q, n),
        (err) => {
          this.engineFailed('open', err);
          this.refuseOpens(q);
        },
      );
    }
    this.answerOpens(q, n);
    return null;
  }

  /** Refusals are answered now; new shares wait for the commit, repeats for a barrier behind it. */
  private answerOpens(q: Queue, n: number): void {
    const out = this.openOut;
    let refused = 0;
    for (let i = 0; i < n; i++) {
      const status = out.status[i];
      if (status === OpenStatus.Ok) {
        const p = this.pendingForRun();
        p.openTargets.push(q.openTargets[i]);
        p.openReqs.push(q.openReqs[i]);
        p.openUsers.push(q.openUsers[i]);
        p.openIds.push(q.openIds[i]);
        p.openCents.push(out.cents[i]);
      } else if (status === OpenStatus.Repeat) {
        const p = this.pendingForRun();
        p.repeatTargets.push(q.openTargets[i]);
        p.repeatReqs.push(q.openReqs[i]);
        p.repeatIds.push(q.openIds[i]);
        p.repeatCents.push(out.cents[i]);
      } else {
        refused++;
        q.openTargets[i].openResult(q.openReqs[i], status, q.openIds[i], 0);
      }
    }
    this.deps.counters[C.openRefused] += refused;
  }

  private createEngine(creates: CreateRequest[], now: number): Promise<void> | null {
    const n = creates.length;
    let recipientCount = 0;
    for (const c of creates) recipientCount += c.recipients.length;
    const batch = {
      senders: new Uint32Array(n),
      totalCents: new Uint32Array(n),
      shareCounts: new Uint32Array(n),
      recipientOffsets: new Uint32Array(n + 1),
      recipients: new Uint32Array(recipientCount),
      expiresAt: new Float64Array(n),
    };
    let at = 0;
    creates.forEach((c, i) => {
      batch.senders[i] = c.sender;
      batch.totalCents[i] = c.totalCents;
      batch.shareCounts[i] = c.shareCount;
      batch.recipients.set(c.recipients, at);
      at += c.recipients.length;
      batch.recipientOffsets[i + 1] = at;
      batch.expiresAt[i] = now + this.deps.packetTtlMs;
    });
    const out: CreateOut = { status: new Uint8Array(n), packetIds: new Uint32Array(n) };
    let r: unknown;
    try {
      r = this.deps.engine.createGroup(batch, out);
    } catch (err) {
      this.engineFailed('createGroup', err);
      this.refuseCreates(creates);
      return null;
    }
    const answer = () => {
      creates.forEach((c, i) => {
        if (out.status[i] !== CreateStatus.Ok) {
          c.target.createResult(c.requestId, out.status[i], 0);
          return;
        }
        const p = this.pendingForRun();
        p.createTargets.push(c.target);
        p.createReqs.push(c.requestId);
        p.creates.push({
          id: out.packetIds[i],
          sender: c.sender,
          totalCents: c.totalCents,
          shareCount: c.shareCount,
          splitMode: this.deps.splitMode,
          recipients: c.recipients,
          expiresAt: batch.expiresAt[i],
          createdAt: now,
          cover: c.cover,
        });
      });
    };
    if (isThenable(r)) {
      return Promise.resolve(r).then(answer, (err) => {
        this.engineFailed('createGroup', err);
        this.refuseCreates(creates);
      });
    }
    answer();
    return null;
  }

  private engineFailed(what: string, err: unknown): void {
    // Both engines validate a whole batch before changing anything, so nothing moved.
    this.deps.log(`engine.${what} refused a batch: ${(err as Error).message}`);
  }

  /** Commit what moved, then tell; repeats and details wait for a barrier behind that commit. */
  private commit(p: Pending | null, details: Queue['details'], epoch: number): void {
    const { ledger } = this.deps;
    if (p?.movesMoney) {
      const at = Date.now();
      const batch: LedgerBatch = {};
      if (p.hitIds.length > 0) {
        batch.hits = {
          count: p.hitIds.length,
          users: Uint32Array.from(p.hitUsers),
          packetIds: Uint32Array.from(p.hitIds),
          cents: Uint32Array.from(p.hitCents),
          at,
        };
      }
      if (p.openIds.length > 0) {
        batch.opens = {
          count: p.openIds.length,
          users: Uint32Array.from(p.openUsers),
          packetIds: Uint32Array.from(p.openIds),
          cents: Uint32Array.from(p.openCents),
          at,
        };
      }
      if (p.creates.length > 0) batch.creates = p.creates;
      this.track(ledger.commit(batch)).then(
        () => this.committed(p),
        (err: unknown) => this.commitFailed(p, err),
      );
    }
    // The run's Pending when it holds repeats to answer, else null.
    const repeats = p !== null && p.repeatIds.length > 0 ? p : null;
    if (repeats === null && details.length === 0) return;
    // Issued after the commit above: resolves once it, and everything before it, is durable.
    this.track(ledger.barrier()).then(
      () => {
        // Not if a commit failed meanwhile, nor before the engine was rebuilt (it may hold undone moves).
        const ok = this.deps.gate.epoch === epoch && this.deps.gate.canMove();
        if (repeats !== null) this.answerRepeats(repeats, ok);
        this.answerDetails(details, ok);
      },
      () => {
        if (repeats !== null) this.answerRepeats(repeats, false);
        for (const d of details) d.target.detailsResult(d.requestId, CommonStatus.Unavailable, null, null);
      },
    );
  }

  private track<T>(promise: Promise<T>): Promise<T> {
    this.inflight++;
    const release = () => {
      this.inflight--;
      this.settle();
    };
    promise.then(release, release);
    return promise;
  }

  private committed(p: Pending): void {
    const { counters } = this.deps;
    for (let i = 0; i < p.hitIds.length; i++) {
      counters[C.hits]++;
      counters[C.hitCents] += p.hitCents[i];
      p.hitTargets[i].shakeResult(p.hitReqs[i], ShakeStatus.Hit, p.hitIds[i], p.hitCents[i]);
    }
    for (let i = 0; i < p.openIds.length; i++) {
      counters[C.opens]++;
      counters[C.openCents] += p.openCents[i];
      p.openTargets[i].openResult(p.openReqs[i], OpenStatus.Ok, p.openIds[i], p.openCents[i]);
    }
    if (p.creates.length > 0) {
      const items: NotifyItem[] = [];
      p.creates.forEach((c, i) => {
        counters[C.creates]++;
        counters[C.createCents] += c.totalCents;
        p.createTargets[i].createResult(p.createReqs[i], CreateStatus.Ok, c.id);
        items.push({
          id: c.id,
          sender: c.sender,
          shareCount: c.shareCount,
          totalCents: c.totalCents,
          expiresAt: c.expiresAt,
          recipients: c.recipients,
          cover: c.cover,
        });
      });
      this.deps.onCreated(items);
    }
  }

  private commitFailed(p: Pending, err: unknown): void {
    // The engine already moved this batch's state: stop moving money until it is rebuilt from the ledger.
    this.deps.gate.commitFailed(err);
    const n = p.hitIds.length + p.openIds.length + p.creates.length;
    this.deps.counters[C.unavailable] += n;
    for (let i = 0; i < p.hitIds.length; i++) p.hitTargets[i].shakeResult(p.hitReqs[i], CommonStatus.Unavailable, 0, 0);
    for (let i = 0; i < p.openIds.length; i++) {
      p.openTargets[i].openResult(p.openReqs[i], CommonStatus.Unavailable, p.openIds[i], 0);
    }
    for (let i = 0; i < p.creates.length; i++) p.createTargets[i].createResult(p.createReqs[i], CommonStatus.Unavailable, 0);
  }

  private answerRepeats(p: Pending, ok: boolean): void {
    const { counters } = this.deps;
    for (let i = 0; i < p.repeatIds.length; i++) {
      if (ok) {
        counters[C.repeats]++;
        p.repeatTargets[i].openResult(p.repeatReqs[i], OpenStatus.Repeat, p.repeatIds[i], p.repeatCents[i]);
      } else {
        counters[C.unavailable]++;
        p.repeatTargets[i].openResult(p.repeatReqs[i], CommonStatus.Unavailable, p.repeatIds[i], 0);
      }
    }
  }

  /** One engine lookup per packet per batch: a popular packet asked for by many costs one call (and,
   *  in Session, one encoding), not one per request. A 1000-share packet's details are ~8 KB to build. */
  private answerDetails(details: Queue['details'], ok: boolean): void {
    const found = new Map<number, PacketDetails | null | PromiseLike<PacketDetails | null> | EngineFailure>();
    for (const { target, requestId, packetId } of details) {
      if (!ok) {
        target.detailsResult(requestId, CommonStatus.Unavailable, null, null);
        continue;
      }
      let r = found.get(packetId);
      if (r === undefined) {
        try {
          r = this.deps.engine.details(packetId);
        } catch (err) {
          r = new EngineFailure(err);
        }
        found.set(packetId, r);
      }
      const reply = (d: PacketDetails | null) => {
        if (d === null) target.detailsResult(requestId, DetailsStatus.UnknownPacket, null, null);
        else target.detailsResult(requestId, DetailsStatus.Found, d, this.deps.covers.get(packetId) ?? null);
      };
      const fail = (err: unknown) => {
        this.engineFailed('details', err);
        target.detailsResult(requestId, CommonStatus.Unavailable, null, null);
      };
      if (r instanceof EngineFailure) fail(r.cause);
      else if (isThenable(r)) Promise.resolve(r).then(reply, fail);
      else reply(r);
    }
  }
}

/** engine.details threw for a packet: every request for it in the batch is answered Unavailable. */
class EngineFailure {
  constructor(readonly cause: unknown) {}
}
