// The plots of a run, declared as Vega-Lite specs and rendered headlessly to SVG by Vega, and to PNG
// by resvg. Each plot is a set of named series over elapsed seconds, with the run's phases marked.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { SeriesRow } from './collector.ts';

export interface Phase {
  name: string;
  /** unix second the phase starts */
  second: number;
}

interface SeriesDef {
  label: string;
  value: (row: SeriesRow) => number | null | undefined;
}

export interface PlotDef {
  name: string;
  title: string;
  yTitle: string;
  logY?: boolean;
  series: SeriesDef[];
}

const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const cl = (k: string) => (r: SeriesRow) => num(r.client[k]);
const sv = (k: string) => (r: SeriesRow) => (r.server.processes > 0 ? num(r.server[k]) : null);

export const PLOTS: PlotDef[] = [
  {
    name: 'qps',
    title: 'Shakes per second: target, sent by the clients, handled by the server',
    yTitle: 'shakes / s',
    series: [
      { label: 'target QPS', value: cl('targetQps') },
      { label: 'clients: sent', value: cl('sent') },
      { label: 'server: shakes', value: sv('shakes') },
      { label: 'server: overloaded', value: sv('overloaded') },
    ],
  },
  {
    name: 'hits',
    title: 'Shake packets: supply released vs hits per second',
    yTitle: 'packets / s',
    series: [
      { label: 'server: released (supply)', value: sv('released') },
      { label: 'server: hits', value: sv('hits') },
      { label: 'clients: hits', value: cl('hits') },
    ],
  },
  {
    name: 'group',
    title: 'Group packets: created, notified, shares opened per second',
    yTitle: 'per second',
    series: [
      { label: 'server: packets created', value: sv('creates') },
      { label: 'clients: notifications', value: cl('notified') },
      { label: 'server: shares opened', value: sv('opens') },
      { label: 'clients: shares received', value: cl('opens') },
    ],
  },
  {
    name: 'cents',
    title: 'Money paid per second (cents)',
    yTitle: 'cents / s',
    series: [
      { label: 'server: shake hits', value: sv('hitCents') },
      { label: 'clients: shake hits', value: cl('hitCents') },
      { label: 'server: group opens', value: sv('openCents') },
      { label: 'clients: group shares', value: cl('openCents') },
    ],
  },
  {
    name: 'latency',
    title: 'Shake latency from the intended send time (ms, log scale)',
    yTitle: 'ms',
    logY: true,
    series: (['p50Ms', 'p90Ms', 'p99Ms', 'p999Ms'] as const).map((p) => ({
      label: p.replace('Ms', '').replace('p999', 'p99.9'),
      value: (r: SeriesRow) => {
        const v = num(r.client[p]);
        return v !== null && v > 0 ? v : null;
      },
    })),
  },
  {
    name: 'connections',
    title: 'Connections',
    yTitle: 'connections',
    series: [
      { label: 'server: connections', value: sv('connections') },
      { label: 'clients: connected', value: cl('connected') },
    ],
  },
  {
    name: 'network',
    title: 'Network packets per second on this machine (/proc/net/dev, loopback included)',
    yTitle: 'packets / s',
    series: [
      { label: 'received', value: (r) => r.net?.rxPackets ?? null },
      { label: 'sent', value: (r) => r.net?.txPackets ?? null },
    ],
  },
];

export function plotSpec(def: PlotDef, rows: SeriesRow[], phases: Phase[]): TopLevelSpec {
  const t0 = rows.length > 0 ? rows[0].second : 0;
  const values: Array<{ t: number; series: string; value: number }> = [];
  for (const row of rows) {
    for (const s of def.series) {
      const v = s.value(row);
      if (v !== null && v !== undefined) values.push({ t: row.second - t0, series: s.label, value: v });
    }
  }
  const marks = phases
    .filter((p) => rows.length === 0 || (p.second >= t0 && p.second <= rows[rows.length - 1].second))
    .map((p) => ({ t: p.second - t0, name: p.name }));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: def.title,
    width: 760,
    height: 230,
    background: 'white',
    layer: [
      {
        data: { values },
        mark: { type: 'line', interpolate: 'linear', strokeWidth: 1.5, point: rows.length <= 40 ? { size: 12 } : false },
        encoding: {
          x: { field: 't', type: 'quantitative', title: 'elapsed seconds' },
          y: {
            field: 'value',
            type: 'quantitative',
            title: def.yTitle,
            scale: def.logY ? { type: 'log' } : { zero: true },
          },
          color: {
            field: 'series',
            type: 'nominal',
            title: null,
            sort: def.series.map((s) => s.label),
            legend: { orient: 'bottom', direction: 'horizontal', labelLimit: 400, columns: 4 },
          },
        },
      },
      {
        data: { values: marks },
        mark: { type: 'rule', color: '#999', strokeDash: [4, 3] },
        encoding: { x: { field: 't', type: 'quantitative' } },
      },
      {
        data: { values: marks },
        mark: { type: 'text', align: 'left', baseline: 'top', dx: 3, dy: 2, fontSize: 10, color: '#555' },
        encoding: { x: { field: 't', type: 'quantitative' }, y: { value: 0 }, text: { field: 'name' } },
      },
    ],
  } as TopLevelSpec;
}

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** PNG from SVG, or null when the resvg binary cannot load here. */
export async function svgToPng(svg: string): Promise<Buffer | null> {
  try {
    const { Resvg } = await import('@resvg/resvg-js');
    return Buffer.from(new Resvg(svg, { fitTo: { mode: 'zoom', value: 2 }, font: { loadSystemFonts: true } }).render().asPng());
  } catch {
    return null;
  }
}

export interface RenderedPlot {
  name: string;
  title: string;
  svgFile: string;
  pngFile: string | null;
  svg: string;
}

/** Render every plot of `rows` into `dir` (name.svg and name.png). */
export async function renderPlots(rows: SeriesRow[], phases: Phase[], dir: string, png = true): Promise<RenderedPlot[]> {
  mkdirSync(dir, { recursive: true });
  const out: RenderedPlot[] = [];
  for (const def of PLOTS) {
    const svg = await renderSvg(plotSpec(def, rows, phases));
    const svgFile = path.join(dir, `${def.name}.svg`);
    writeFileSync(svgFile, svg);
    let pngFile: string | null = null;
    if (png) {
      const bytes = await svgToPng(svg);
      if (bytes) {
        pngFile = path.join(dir, `${def.name}.png`);
        writeFileSync(pngFile, bytes);
      }
    }
    out.push({ name: def.name, title: def.title, svgFile, pngFile, svg });
  }
  return out;
}
