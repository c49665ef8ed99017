// Whole-machine network packet counters from /proc/net/dev (every interface, loopback included:
// in this experiment all traffic is on loopback).
import { readFileSync } from 'node:fs';

export interface NetTotals {
  rxPackets: number;
  txPackets: number;
}

/** Parse the text of /proc/net/dev into packet totals over all interfaces. */
export function parseNetDev(text: string): NetTotals {
  let rxPackets = 0;
  let txPackets = 0;
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    // receive: bytes packets errs drop fifo frame compressed multicast | transmit: bytes packets ...
    const fields = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    if (fields.length < 10 || fields.some((n) => !Number.isFinite(n))) continue;
    rxPackets += fields[1];
    txPackets += fields[9];
  }
  return { rxPackets, txPackets };
}

export function readNetDev(file = '/proc/net/dev'): NetTotals | null {
  try {
    return parseNetDev(readFileSync(file, 'utf8'));
  } catch {
    return null;
  }
}

/** Samples once per second; `onSecond(second, delta)` gets the packets of the second that just ended. */
export class NetSampler {
  private last: NetTotals | null = null;
  private lastSecond = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly onSecond: (second: number, delta: { rxPackets: number; txPackets: number; packets: number }) => void) {}

  start(): void {
    const tick = () => {
      const now = Date.now();
      const second = Math.floor(now / 1000);
      const sample = readNetDev();
      if (sample && this.last && second === this.lastSecond + 1) {
        const rx = sample.rxPackets - this.last.rxPackets;
        const tx = sample.txPackets - this.last.txPackets;
        this.onSecond(second - 1, { rxPackets: rx, txPackets: tx, packets: rx + tx });
      }
      this.last = sample;
      this.lastSecond = second;
      this.timer = setTimeout(tick, 1000 - (Date.now() % 1000) + 2);
    };
    this.timer = setTimeout(tick, 1000 - (Date.now() % 1000) + 2);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
  }
}
