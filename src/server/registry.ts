// Who is connected to this thread: sessions waiting to log in (each closed when its login window
// ends) and logged-in sessions by user id (for notifications and for replacing an older login of
// the same user). The waiting set is in opening order, so one timer, armed for the oldest session's
// deadline, closes each late session on time (not up to a sweep interval late).
import { encodePacketNotify } from '../protocol/codec.ts';
import { CloseCode } from '../protocol/codes.ts';
import type { NotifyItem } from './batch/batcher.ts';
import { CONNECTIONS } from './counters.ts';
import type { Session } from './session.ts';

export class SessionRegistry {
  private readonly waiting = new Set<Session>();
  private readonly byUser = new Map<number, Session>();
  private timer: NodeJS.Timeout | null = null;
  private running = false;

  constructor(
    private readonly counters: Float64Array,
    private readonly loginTimeoutMs: number,
  ) {}

  start(): void {
    this.running = true;
    this.arm(Date.now());
  }

  stop(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  opened(s: Session): void {
    this.waiting.add(s);
    this.counters[CONNECTIONS]++;
    if (this.timer === null) this.arm(Date.now());
  }

  closed(s: Session): void {
    s.closed = true;
    this.counters[CONNECTIONS]--;
    this.waiting.delete(s);
    if (s.loggedIn && this.byUser.get(s.userId) === s) this.byUser.delete(s.userId);
  }

  /** `s` logged in as `userId` with global order `seq`: an older session of the user here is replaced. */
  loggedIn(s: Session, userId: number, seq: number): void {
    this.waiting.delete(s);
    s.loggedIn = true;
    s.userId = userId;
    s.loginSeq = seq;
    s.loggedInAt = Date.now();
    this.replace(userId, seq);
    this.byUser.set(userId, s);
  }

  /** `userId` logged in on another access node at `atMs`: close ours if it logged in before. */
  kick(userId: number, atMs: number): void {
    const old = this.byUser.get(userId);
    if (old === undefined || old.loggedInAt > atMs) return;
    this.byUser.delete(userId);
    old.end(CloseCode.Replaced, 'logged in elsewhere');
  }

  /** Users logged in here now. */
  get loggedInCount(): number {
    return this.byUser.size;
  }

  /** Another thread logged `userId` in with order `seq`: close ours if it is older. */
  replace(userId: number, seq: number): void {
    const old = this.byUser.get(userId);
    if (old === undefined || old.loginSeq >= seq) return;
    this.byUser.delete(userId);
    old.end(CloseCode.Replaced, 'logged in elsewhere');
  }

  /** Tell every local recipient of these packets. */
  notify(items: NotifyItem[]): void {
    for (const item of items) {
      let frame: Uint8Array | null = null;
      for (const user of item.recipients) {
        const s = this.byUser.get(user);
        if (s === undefined || s.closed) continue;
        frame ??= encodePacketNotify(item.id, item.sender, item.shareCount, item.totalCents, item.expiresAt);
        s.send(frame);
      }
    }
  }

  /** Close every connection (shutdown). */
  closeAll(code: number, reason: string): void {
    for (const s of [...this.waiting, ...this.byUser.values()]) s.end(code, reason);
  }

  /** Arms the timer for the oldest waiting session's deadline (none waiting: no timer). */
  private arm(now: number): void {
    if (!this.running || this.timer !== null) return;
    const oldest = this.waiting.values().next();
    if (oldest.done) return;
    this.timer = setTimeout(this.sweepBound, Math.max(0, oldest.value.openedAt + this.loginTimeoutMs - now));
    this.timer.unref();
  }

  private readonly sweepBound = () => {
    this.timer = null;
    const now = Date.now();
    for (const s of this.waiting) {
      if (now - s.openedAt < this.loginTimeoutMs) break; // opening order: the rest are younger
      this.waiting.delete(s);
      s.end(CloseCode.LoginTimeout, 'no login');
    }
    this.arm(now);
  };
}
