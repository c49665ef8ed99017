// The time series on disk: series.jsonl (one aligned row per second, appended as each second is
// taken, rewritten at the end if late pushes revised some) and series.csv (the same rows flattened,
// written on close with the union of all columns).
import { appendFileSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import type { SeriesRow } from './collector.ts';

export const SERIES_JSONL = 'series.jsonl';
export const SERIES_CSV = 'series.csv';

export function flattenRow(row: SeriesRow): Record<string, number | string> {
  const flat: Record<string, number | string> = { second: row.second, time: new Date(row.second * 1000).toISOString() };
  for (const side of ['client', 'server'] as const) {
    for (const [k, v] of Object.entries(row[side])) flat[`${side}.${k}`] = v;
  }
  if (row.net) for (const [k, v] of Object.entries(row.net)) flat[`net.${k}`] = v;
  return flat;
}

export function toCsv(rows: SeriesRow[]): string {
  const flats = rows.map(flattenRow);
  const columns: string[] = [];
  const seen = new Set<string>();
  for (const f of flats) {
    for (const k of Object.keys(f)) {
      if (seen.has(k)) continue;
      seen.add(k);
      columns.push(k);
    }
  }
  const lines = [columns.join(',')];
  for (const f of flats) lines.push(columns.map((c) => (f[c] === undefined ? '' : String(f[c]))).join(','));
  return `${lines.join('\n')}\n`;
}

export class SeriesWriter {
  readonly rows: SeriesRow[] = [];
  readonly jsonlPath: string;
  readonly csvPath: string;

  constructor(readonly dir: string) {
    this.jsonlPath = path.join(dir, SERIES_JSONL);
    this.csvPath = path.join(dir, SERIES_CSV);
    writeFileSync(this.jsonlPath, '');
  }

  write(rows: SeriesRow[]): void {
    if (rows.length === 0) return;
    this.rows.push(...rows);
    appendFileSync(this.jsonlPath, `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`);
  }

  /** Replace the rows of these seconds (recomputed after late pushes) and rewrite the JSONL. */
  revise(rows: SeriesRow[]): void {
    if (rows.length === 0) return;
    const bySecond = new Map(rows.map((r) => [r.second, r]));
    for (let i = 0; i < this.rows.length; i++) {
      const r = bySecond.get(this.rows[i].second);
      if (r) this.rows[i] = r;
    }
    writeFileSync(this.jsonlPath, `${this.rows.map((r) => JSON.stringify(r)).join('\n')}\n`);
  }

  close(): void {
    writeFileSync(this.csvPath, toCsv(this.rows));
  }
}

export function readSeries(dir: string): SeriesRow[] {
  const file = path.join(dir, SERIES_JSONL);
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as SeriesRow);
}
