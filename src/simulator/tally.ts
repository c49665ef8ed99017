// Counters out: everything one simulator process counts, per second (pushed to the monitor) and in
// total (its final tally for the reconciliation). Money is in integer cents.
import { encodeHistogram, latencyHistogram, recordMicros, summarize, type Histogram, type LatencySummary } from './histogram.ts';
import type { ClientSecondCounters } from '../monitor/push.ts';

export const COUNTERS = [
  'sent', // shakes written to a socket
  'hits',
  'hitCents',
  'misses',
  'overloaded', // answered "overloaded" (shakes and opens)
  'unavailable', // answered "ledger unavailable" (shakes and opens)
  'errors', // Error frames and unknown result statuses
  'dropped', // due shakes not sent: user not connected, socket not draining, or generator > 2 s behind
  'notified', // group packet notifications received
  'opensSent',
  'opens', // new shares received
  'openCents',
  'repeats', // opens answered "repeat" (same share again)
  'openRefused', // not recipient, empty, expired, unknown packet
  'connects', // successful logins (first and reconnects)
  'disconnects', // a logged-in connection was lost
  'connectFailures', // handshake/login failed
  'unmatched', // an answer whose request was not (or no longer) outstanding
  'lost', // requests whose connection closed before the answer came (or unanswered for 2^20 requests)
] as const;
export type CounterName = (typeof COUNTERS)[number];
export type Counters = Record<CounterName, number>;

export function zeroCounters(): Counters {
  return Object.fromEntries(COUNTERS.map((c) => [c, 0])) as Counters;
}

export interface CountCents {
  count: number;
  cents: number;
}

export interface FinalTally {
  id: string;
  users: { from: number; to: number; total: number };
  startedAt: number;
  endedAt: number;
  counters: Counters;
  latency: LatencySummary & { histogram: string };
  openLatency: LatencySummary;
  shake: {
    received: CountCents;
    /** [packetId, user, cents] of every hit, in arrival order */
    packets: Array<[number, number, number]>;
  };
  group: {
    /** distinct group packets this process was notified of: [packetId, totalCents, shareCount] */
    notified: Array<[number, number, number]>;
    received: CountCents;
    /** [packetId, user, cents] of every share received */
    shares: Array<[number, number, number]>;
  };
}

export class Tally {
  readonly counters: Counters = zeroCounters();
  private lastSecond: Counters = zeroCounters();
  readonly latency: Histogram = latencyHistogram();
  readonly openLatency: Histogram = latencyHistogram();
  private secondLatency: Histogram = latencyHistogram();
  private readonly hitPackets: Array<[number, number, number]> = [];
  private readonly notifiedPackets = new Map<number, [number, number, number]>();
  private readonly shares: Array<[number, number, number]> = [];
  private readonly sharesSeen = new Set<string>();
  readonly startedAt = Date.now();

  shakeLatency(micros: number): void {
    recordMicros(this.latency, micros);
    recordMicros(this.secondLatency, micros);
  }

  /** Shake latencies recorded in another process (a native worker's histogram of one second). */
  addShakeLatencies(h: Histogram): void {
    this.latency.add(h);
    this.secondLatency.add(h);
  }

  /** Counts made in another process (a native worker's second). */
  addCounts(counts: Partial<Counters>): void {
    for (const [name, n] of Object.entries(counts) as Array<[CounterName, number]>) this.counters[name] += n;
  }

  hit(packetId: number, user: number, cents: number): void {
    this.counters.hits++;
    this.counters.hitCents += cents;
    this.hitPackets.push([packetId, user, cents]);
  }

  notified(packetId: number, totalCents: number, shareCount: number): void {
    this.counters.notified++;
    if (!this.notifiedPackets.has(packetId)) this.notifiedPackets.set(packetId, [packetId, totalCents, shareCount]);
  }

  /** A share this user holds (a new open, or a repeat whose first answer was lost). False if already counted. */
  share(packetId: number, user: number, cents: number): boolean {
    const key = `${packetId}:${user}`;
    if (this.sharesSeen.has(key)) return false;
    this.sharesSeen.add(key);
    this.shares.push([packetId, user, cents]);
    this.counters.opens++;
    this.counters.openCents += cents;
    return true;
  }

  /** The counters of the second just ended (since the previous call), for the monitor. */
  takeSecond(connected: number, targetQps: number): ClientSecondCounters {
    const c = this.counters;
    const d = (name: CounterName) => c[name] - this.lastSecond[name];
    const lat = summarize(this.secondLatency);
    const out: ClientSecondCounters = {
      sent: d('sent'),
      hits: d('hits'),
      hitCents: d('hitCents'),
      misses: d('misses'),
      overloaded: d('overloaded'),
      errors: d('errors'),
      opens: d('opens'),
      openCents: d('openCents'),
      repeats: d('repeats'),
      connected,
      p50Ms: lat.p50Ms,
      p90Ms: lat.p90Ms,
      p99Ms: lat.p99Ms,
      p999Ms: lat.p999Ms,
      targetQps,
      unavailable: d('unavailable'),
      notified: d('notified'),
      dropped: d('dropped'),
      histogram: lat.count > 0 ? encodeHistogram(this.secondLatency) : '',
    };
    this.lastSecond = { ...c };
    this.secondLatency = latencyHistogram();
    return out;
  }

  final(id: string, users: { from: number; to: number; total: number }): FinalTally {
    return {
      id,
      users,
      startedAt: this.startedAt,
      endedAt: Date.now(),
      counters: { ...this.counters },
      latency: { ...summarize(this.latency), histogram: encodeHistogram(this.latency) },
      openLatency: summarize(this.openLatency),
      shake: { received: { count: this.counters.hits, cents: this.counters.hitCents }, packets: this.hitPackets },
      group: {
        notified: [...this.notifiedPackets.values()],
        received: { count: this.counters.opens, cents: this.counters.openCents },
        shares: this.shares,
      },
    };
  }
}
