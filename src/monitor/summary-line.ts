// The monitor's live one-line-per-second summary.
import type { SeriesRow } from './collector.ts';

const n = (v: unknown) => (typeof v === 'number' ? v : 0);

export function compact(v: number): string {
  if (v >= 10_000_000) return `${Math.round(v / 1_000_000)}M`;
  if (v >= 10_000) return `${Math.round(v / 1000)}k`;
  return String(Math.round(v));
}

export function summaryLine(row: SeriesRow, phase = ''): string {
  const c = row.client;
  const s = row.server;
  const time = new Date(row.second * 1000).toISOString().slice(11, 19);
  const parts = [
    time,
    phase.padEnd(10),
    `target ${compact(n(c.targetQps)).padStart(5)}`,
    `sent ${compact(n(c.sent)).padStart(5)}/s`,
    `server ${s.processes > 0 ? compact(n(s.shakes)).padStart(5) : '    -'}/s`,
    `hits ${compact(n(s.processes > 0 ? s.hits : c.hits)).padStart(4)}`,
    `opens ${compact(n(s.processes > 0 ? s.opens : c.opens)).padStart(4)}`,
    `conn ${compact(n(s.processes > 0 ? s.connections : c.connected)).padStart(5)}`,
    `p99 ${n(c.p99Ms).toFixed(1)} ms`,
    row.net ? `net ${compact(row.net.packets)} pkt/s` : '',
  ];
  return parts.filter((p) => p !== '').join('  ');
}
