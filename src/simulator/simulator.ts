// One simulator process: its users' connections, the open-loop shake sender driven by the shared
// clock (schedule.ts), automatic opens of notified group packets, and the tally.
//
// Open loop: each shake has an intended send time from the schedule; it is sent when due whatever
// the server is doing, and its latency is measured from that intended time, so a slow server (or a
// slow generator) shows up as latency instead of silently lowering the offered load (no coordinated
// omission). Shakes more than LATE_LIMIT_MS overdue are dropped and counted, never sent in a burst.
import { performance } from 'node:perf_hooks';
import { mintToken } from '../auth/token.ts';
import { ClientType, CommonStatus, PROTOCOL_VERSION, ShakeResultStatus } from '../protocol/codes.ts';
import { Connection, FRAME_MASK, type ConnectionEvents, type Target } from './connection.ts';
import { fillSecond, scheduleBuffer, type ScheduleOut } from './schedule.ts';
import { Tally, type FinalTally } from './tally.ts';
import { InFlight, Kind } from './in-flight.ts';
import { RatePlan } from './rate-plan.ts';
import { Users, type UserLink } from './users.ts';
import type { ClientSecondCounters } from '../monitor/push.ts';
import type { QpsState } from './control.ts';
import type { ClientGenerator, GeneratorStats } from './generator.ts';

export interface SimulatorOptions {
  id: string;
  target: Target;
  from: number;
  to: number;
  total: number;
  qps: number;
  secret: string;
  tokenTtlSeconds: number;
  connectConcurrency: number;
  /** 0: let the kernel pick the source address; N: N users per 127.x.y.z source address */
  usersPerSourceAddress: number;
  onSecond?: (second: number, counters: ClientSecondCounters) => void;
  log?: (line: string) => void;
}

export const LATE_LIMIT_MS = 2000;
const SHAKE_FRAME = 12; // 2 header + 4 mask + 6 payload
const OPEN_FRAME = 16; // 2 header + 4 mask + 10 payload

/** Wall-clock milliseconds with sub-millisecond resolution (all processes share the system clock). */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Source address for a user when spreading over 127.x.y.z (64k ports each). */
export function sourceAddressFor(user: number, usersPerAddress: number): string {
  const block = Math.floor((user - 1) / usersPerAddress);
  return `127.1.${Math.floor(block / 254) % 256}.${(block % 254) + 1}`;
}

/** The TypeScript generator: every socket a Node `net.Socket` in this process (~14 KB each). */
export class Simulator implements ClientGenerator, ConnectionEvents, UserLink {
  readonly tally = new Tally();
  readonly conns: Connection[] = [];
  readonly pids: number[] = [];
  private readonly opts: SimulatorOptions;
  private stopping = false;
  private readonly inFlight: InFlight;
  private readonly users: Users;
  private readonly onLost = () => void this.tally.counters.lost++;
  private readonly plan: RatePlan;
  private readonly qpsBySecond = new Map<number, number>();
  // send loop
  private sched: ScheduleOut = scheduleBuffer(1);
  private sec = -1;
  private n = 0;
  private i = 0;
  private sendTimer: NodeJS.Timeout | null = null;
  private readonly shakePrefix: Uint8Array;
  // connecting
  private readonly queue: number[] = [];
  private queueHead = 0;
  private active = 0;
  private readonly connecting: Uint8Array;

  constructor(opts: SimulatorOptions) {
    this.opts = opts;
    this.plan = new RatePlan(opts.qps);
    const count = opts.to - opts.from + 1;
    this.connecting = new Uint8Array(count);
    this.inFlight = new InFlight(count);
    this.users = new Users({ tally: this.tally, from: opts.from, count, link: this, log: opts.log });
    for (let slot = 0; slot < count; slot++) this.conns.push(new Connection(slot, opts.from + slot, this));
    // a masked shake frame is these 8 bytes followed by the masked request id
    const m = FRAME_MASK;
    this.shakePrefix = Uint8Array.from([0x82, 0x80 | 6, m[0], m[1], m[2], m[3], PROTOCOL_VERSION ^ m[0], ClientType.Shake ^ m[1]]);
  }

  get connected(): number {
    return this.users.connected;
  }

  async start(): Promise<void> {
    for (let slot = 0; slot < this.conns.length; slot++) this.queue.push(slot);
    this.pumpConnects();
    this.pumpSend();
  }

  // ---- target rate ---------------------------------------------------------------------------

  qps(): QpsState {
    return this.plan.state();
  }

  /** From unix second `at` on, or from the next second when `at` is null or already begun. A change
   *  replaces the changes planned for the same or later seconds. */
  setQps(qps: number, at: number | null): QpsState {
    const next = this.sec >= 0 ? this.sec + 1 : Math.floor(nowMs() / 1000) + 1;
    const change = this.plan.change(qps, at, next);
    return { ...this.qps(), scheduled: change };
  }

  private qpsFor(second: number): number {
    const qps = this.plan.qpsFor(second);
    return this.stopping ? 0 : qps;
  }

  // ---- open-loop shake sender ----------------------------------------------------------------

  private loadSecond(second: number): void {
    // every slot of the previous second has been sent or dropped: its counters are complete
    if (this.sec >= 0) this.rollSecond(this.sec);
    const qps = this.qpsFor(second);
    if (this.sched.users.length < qps) this.sched = scheduleBuffer(qps);
    this.sec = second;
    this.n = fillSecond(second, qps, this.opts.total, this.opts.from, this.opts.to, this.sched);
    this.i = 0;
    this.qpsBySecond.set(second, qps);
    this.qpsBySecond.delete(second - 10);
  }

  private readonly pumpSend = (): void => {
    this.sendTimer = null;
    if (this.stopping) return;
    const now = nowMs();
    if (this.sec < 0) {
      // the second we start in is partial: nothing is due in it; seconds load only once they begin,
      // so a rate change for the next second can still take effect
      this.sec = Math.floor(now / 1000);
      this.n = this.i = 0;
    }
    let slab: Buffer | null = null;
    let at = 0;
    for (;;) {
      if (this.i >= this.n) {
        if ((this.sec + 1) * 1000 > now) break;
        this.loadSecond(this.sec + 1);
        continue;
      }
      const due = this.sec * 1000 + this.sched.offsetsMicros[this.i] / 1000;
      if (due > now) break;
      const user = this.sched.users[this.i++];
      if (now - due > LATE_LIMIT_MS) {
        this.tally.counters.dropped++;
        continue;
      }
      if (slab === null || at + SHAKE_FRAME > slab.length) {
        slab = Buffer.allocUnsafe(SHAKE_FRAME * Math.min(4096, this.n - this.i + 1));
        at = 0;
      }
      if (this.sendShake(this.conns[user - this.opts.from], due, slab, at)) at += SHAKE_FRAME;
    }
    const wakeAt = this.i < this.n ? this.sec * 1000 + this.sched.offsetsMicros[this.i] / 1000 : (this.sec + 1) * 1000;
    // wakes at least at every second's start, which also rolls the per-second counters
    this.sendTimer = setTimeout(this.pumpSend, Math.max(1, Math.ceil(wakeAt - nowMs())));
  };

  private sendShake(conn: Connection, intendedAt: number, slab: Buffer, at: number): boolean {
    if (conn.state !== 'ready') {
      this.tally.counters.dropped++;
      return false;
    }
    const id = this.inFlight.take(Kind.Shake, conn.slot, intendedAt, this.onLost);
    const m = FRAME_MASK;
    slab.set(this.shakePrefix, at);
    slab[at + 8] = (id & 0xff) ^ m[2];
    slab[at + 9] = ((id >>> 8) & 0xff) ^ m[3];
    slab[at + 10] = ((id >>> 16) & 0xff) ^ m[0];
    slab[at + 11] = (id >>> 24) ^ m[1];
    if (!conn.send(slab.subarray(at, at + SHAKE_FRAME))) {
      this.inFlight.drop(id);
      this.tally.counters.dropped++;
      return false;
    }
    this.tally.counters.sent++;
    return true;
  }

  /** UserLink: write an Open as logged-in user `slot`; false when the socket is not draining. */
  sendOpen(slot: number, packetId: number): boolean {
    const conn = this.conns[slot];
    if (conn.state !== 'ready') return false;
    const id = this.inFlight.take(Kind.Open, conn.slot, nowMs(), this.onLost);
    const payload = Buffer.allocUnsafe(10);
    payload[0] = PROTOCOL_VERSION;
    payload[1] = ClientType.Open;
    payload.writeUInt32LE(id, 2);
    payload.writeUInt32LE(packetId, 6);
    const frame = Buffer.allocUnsafe(OPEN_FRAME);
    frame[0] = 0x82;
    frame[1] = 0x80 | 10;
    frame.set(FRAME_MASK, 2);
    for (let k = 0; k < 10; k++) frame[6 + k] = payload[k] ^ FRAME_MASK[k & 3];
    if (!conn.send(frame)) {
      this.inFlight.drop(id);
      return false;
    }
    this.tally.counters.opensSent++;
    return true;
  }

  // ---- per-second counters -------------------------------------------------------------------

  private rollSecond(second: number): void {
    const counters = this.tally.takeSecond(this.connected, this.qpsBySecond.get(second) ?? 0);
    this.opts.onSecond?.(second, counters);
  }

  // ---- connections ---------------------------------------------------------------------------

  /** UserLink: connect user `slot` again (after its back-off). */
  reconnect(slot: number): void {
    this.queue.push(slot);
    this.pumpConnects();
  }

  private pumpConnects(): void {
    while (this.active < this.opts.connectConcurrency && this.queueHead < this.queue.length && !this.stopping) {
      const slot = this.queue[this.queueHead++];
      const conn = this.conns[slot];
      if (conn.state !== 'idle' && conn.state !== 'closed') continue;
      this.connecting[slot] = 1;
      this.active++;
      const token = mintToken(this.opts.secret, conn.user, Date.now() / 1000 + this.opts.tokenTtlSeconds);
      const local = this.opts.usersPerSourceAddress > 0 ? sourceAddressFor(conn.user, this.opts.usersPerSourceAddress) : undefined;
      conn.connect(this.opts.target, token, local);
    }
    if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue.splice(0, this.queueHead);
      this.queueHead = 0;
    }
  }

  private doneConnecting(slot: number): void {
    if (this.connecting[slot]) {
      this.connecting[slot] = 0;
      this.active--;
    }
    this.pumpConnects();
  }

  ready(conn: Connection): void {
    this.doneConnecting(conn.slot);
    this.users.ready(conn.slot);
  }

  closed(conn: Connection, code: number, reason: string, wasReady: boolean): void {
    this.tally.counters.lost += this.inFlight.writeOff(conn.slot);
    this.doneConnecting(conn.slot);
    this.users.closed(conn.slot, code, reason, wasReady);
  }

  // ---- answers -------------------------------------------------------------------------------

  private match(requestId: number, kind: number): number {
    const intended = this.inFlight.settle(requestId, kind);
    if (intended < 0) this.tally.counters.unmatched++;
    return intended;
  }

  shakeResult(conn: Connection, requestId: number, status: number, packetId: number, cents: number): void {
    const intended = this.match(requestId, Kind.Shake);
    if (intended >= 0) this.tally.shakeLatency((nowMs() - intended) * 1000);
    const c = this.tally.counters;
    if (status === ShakeResultStatus.Miss) c.misses++;
    else if (status === ShakeResultStatus.Hit) this.tally.hit(packetId, conn.user, cents);
    else if (status === CommonStatus.Overloaded) c.overloaded++;
    else if (status === CommonStatus.Unavailable) c.unavailable++;
    else c.errors++;
  }

  notify(conn: Connection, packetId: number, _sender: number, shareCount: number, totalCents: number): void {
    this.users.notified(conn.slot, packetId, totalCents, shareCount);
  }

  openResult(conn: Connection, requestId: number, status: number, packetId: number, cents: number): void {
    const intended = this.match(requestId, Kind.Open);
    this.users.openAnswered(conn.slot, status, packetId, cents, intended >= 0 ? (nowMs() - intended) * 1000 : null);
  }

  serverError(_conn: Connection, requestId: number): void {
    this.inFlight.drop(requestId);
    this.tally.counters.errors++;
  }

  // ---- stop ----------------------------------------------------------------------------------

  stats(): GeneratorStats {
    return {
      id: this.opts.id,
      generator: 'ts',
      users: { from: this.opts.from, to: this.opts.to, total: this.opts.total },
      connected: this.connected,
      qps: this.qps(),
      inFlight: this.inFlight.count,
      pendingOpens: this.users.pendingOpenUsers,
      counters: this.tally.counters,
    };
  }

  /** Stop sending, wait up to `drainMs` for outstanding answers and opens, close every connection. */
  async stop(drainMs: number): Promise<FinalTally> {
    if (!this.stopping) {
      this.stopping = true;
      this.users.stop();
      if (this.sendTimer) clearTimeout(this.sendTimer);
      const deadline = Date.now() + drainMs;
      while ((this.inFlight.count > 0 || this.users.pendingOpenUsers > 0) && Date.now() < deadline) await sleep(20);
      this.rollSecond(this.sec);
      for (const conn of this.conns) conn.close(1000);
      const closeDeadline = Date.now() + 3000;
      while (this.conns.some((c) => c.state !== 'closed' && c.state !== 'idle') && Date.now() < closeDeadline) await sleep(20);
      this.users.dispose();
    }
    return this.tally.final(this.opts.id, { from: this.opts.from, to: this.opts.to, total: this.opts.total });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
