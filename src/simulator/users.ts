// What happens to a simulated user, whichever generator holds its socket (the TypeScript Simulator
// or a native worker process): logins and losses counted, reconnects with back-off, notified group
// packets opened (retried after Overloaded/Unavailable or an unwritable socket, re-sent after a
// reconnect), open answers tallied. Written once; each generator reports socket events to it and
// gives it a way to reconnect a user and to write an Open.
import { CommonStatus } from '../protocol/codes.ts';
import { OpenStatus } from '../engine/types.ts';
import { recordMicros } from './histogram.ts';
import type { Tally } from './tally.ts';

export const RETRY_OPEN_MS = 500;
/** No reconnect after this close code: the server refused the token (forged, or another user's). */
export const REFUSED_CLOSE_CODE = 4001;

/** Reconnect delay after `attempt` failed attempts in a row: 250 ms x 2^attempt, at most 10 s, jittered to 50-100%. */
export function backoffMs(attempt: number, random = Math.random()): number {
  return Math.min(10_000, 250 * 2 ** Math.min(attempt, 10)) * (0.5 + random / 2);
}

export interface UserLink {
  /** Queue user `slot` for a (re)connect; the generator connects under its concurrency limit. */
  reconnect(slot: number): void;
  /** Write an Open as logged-in user `slot`; false when it could not be written now (retried later). */
  sendOpen(slot: number, packetId: number): boolean;
}

export interface UsersOptions {
  tally: Tally;
  /** the first user id (slot 0) and how many users */
  from: number;
  count: number;
  link: UserLink;
  log?: (line: string) => void;
}

export class Users {
  connected = 0;
  private stopping = false;
  private readonly tally: Tally;
  private readonly from: number;
  private readonly link: UserLink;
  private readonly log?: (line: string) => void;
  private readonly loggedIn: Uint8Array;
  private readonly attempts: Uint16Array;
  /** group packets each user was told of and has no final answer for, by slot */
  private readonly pendingOpens = new Map<number, Set<number>>();
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(o: UsersOptions) {
    this.tally = o.tally;
    this.from = o.from;
    this.link = o.link;
    this.log = o.log;
    this.loggedIn = new Uint8Array(o.count);
    this.attempts = new Uint16Array(o.count);
  }

  /** users with an open still to be answered */
  get pendingOpenUsers(): number {
    return this.pendingOpens.size;
  }

  isLoggedIn(slot: number): boolean {
    return this.loggedIn[slot] === 1;
  }

  private later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
  }

  ready(slot: number): void {
    this.loggedIn[slot] = 1;
    this.connected++;
    this.tally.counters.connects++;
    this.attempts[slot] = 0;
    const pending = this.pendingOpens.get(slot);
    if (pending) for (const packetId of pending) this.sendOpen(slot, packetId);
  }

  /** Exactly once per connect attempt that ended; `wasReady` says whether it had logged in. */
  closed(slot: number, code: number, reason: string, wasReady: boolean): void {
    this.loggedIn[slot] = 0;
    if (wasReady) {
      this.connected--;
      if (!this.stopping) this.tally.counters.disconnects++;
    } else if (!this.stopping) {
      this.tally.counters.connectFailures++;
    }
    if (this.stopping) return;
    const user = this.from + slot;
    if (code === REFUSED_CLOSE_CODE) {
      this.log?.(`user ${user}: refused (${code} ${reason}); not reconnecting`);
      return;
    }
    const attempt = Math.min(this.attempts[slot]++, 10);
    const backoff = backoffMs(attempt);
    if (attempt >= 3) this.log?.(`user ${user}: ${code} ${reason}; reconnect #${attempt + 1} in ${Math.round(backoff)} ms`);
    this.later(backoff, () => {
      if (!this.stopping) this.link.reconnect(slot);
    });
  }

  notified(slot: number, packetId: number, totalCents: number, shareCount: number): void {
    this.tally.notified(packetId, totalCents, shareCount);
    let pending = this.pendingOpens.get(slot);
    if (!pending) {
      pending = new Set();
      this.pendingOpens.set(slot, pending);
    }
    if (pending.has(packetId)) return;
    pending.add(packetId);
    this.sendOpen(slot, packetId);
  }

  private sendOpen(slot: number, packetId: number): void {
    if (!this.isLoggedIn(slot)) return; // re-sent after the reconnect
    if (!this.link.sendOpen(slot, packetId)) this.openNotSent(slot, packetId);
  }

  /** The generator could not write an Open (its socket is not draining): try again shortly. */
  openNotSent(slot: number, packetId: number): void {
    this.later(RETRY_OPEN_MS, () => this.retryOpen(slot, packetId));
  }

  private retryOpen(slot: number, packetId: number): void {
    if (this.pendingOpens.get(slot)?.has(packetId)) this.sendOpen(slot, packetId);
  }

  /** An OpenResult; `latencyMicros` is null when it matched no outstanding Open. */
  openAnswered(slot: number, status: number, packetId: number, cents: number, latencyMicros: number | null): void {
    if (latencyMicros !== null) recordMicros(this.tally.openLatency, latencyMicros);
    const c = this.tally.counters;
    if (status === CommonStatus.Overloaded || status === CommonStatus.Unavailable) {
      if (status === CommonStatus.Overloaded) c.overloaded++;
      else c.unavailable++;
      this.later(RETRY_OPEN_MS, () => this.retryOpen(slot, packetId));
      return;
    }
    const user = this.from + slot;
    if (status === OpenStatus.Ok) this.tally.share(packetId, user, cents);
    else if (status === OpenStatus.Repeat) {
      c.repeats++;
      this.tally.share(packetId, user, cents); // counted only if the first answer was lost
    } else if (status <= OpenStatus.UnknownPacket) c.openRefused++;
    else c.errors++;
    const pending = this.pendingOpens.get(slot);
    if (pending) {
      pending.delete(packetId);
      if (pending.size === 0) this.pendingOpens.delete(slot);
    }
  }

  /** No more reconnects; closes from now on are the generator's own. Open retries go on (the drain). */
  stop(): void {
    this.stopping = true;
  }

  /** Cancel every timer (after the last connection closed). */
  dispose(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}
