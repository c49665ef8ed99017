// Output by audience: a table on stderr for people, one JSON line on stdout for scripts.
import { Console } from 'node:console';

export function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function round(x: number, digits = 0): number {
  if (!Number.isFinite(x)) return x;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

const table = new Console({ stdout: process.stderr, stderr: process.stderr });

export function note(line: string): void {
  process.stderr.write(`${line}\n`);
}

export function printTable(title: string, rows: Array<Record<string, unknown>>): void {
  note(`\n${title}`);
  table.table(rows);
}

export function printJson(result: unknown): void {
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
