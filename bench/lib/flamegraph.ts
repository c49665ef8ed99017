// perf samples -> folded stacks -> an SVG flamegraph drawn by inferno (native/flame), and the
// shares the flame bench reports. Reads the text of `perf script` (samples with call chains); the
// perf map fix, the frame names, the categories and their colours are this bench's.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

export interface Frame {
  sym: string;
  dso: string;
}

export interface Sample {
  comm: string;
  pid: number;
  tid: number;
  /** leaf first, as perf prints them */
  frames: Frame[];
  weight: number;
}

/** Parses `perf script -F comm,pid,tid,time,period,event,ip,sym,dso` output (call-graph records). */
export function parsePerfScript(text: string): Sample[] {
  const out: Sample[] = [];
  let cur: Sample | null = null;
  for (const line of text.split('\n')) {
    if (line.length === 0) {
      if (cur) out.push(cur);
      cur = null;
      continue;
    }
    if (line[0] !== ' ' && line[0] !== '\t') {
      // header: "comm  pid/tid  time:  period event:" (comm may contain spaces)
      const m = /^(.*?)\s+(\d+)(?:\/(\d+))?\s/.exec(line);
      cur = { comm: m ? m[1].trim() : '?', pid: m ? Number(m[2]) : 0, tid: m ? Number(m[3] ?? m[2]) : 0, frames: [], weight: 1 };
      continue;
    }
    if (!cur) continue;
    // "\t    7f12ab symbol+0x12 (/path/dso)"
    const m = /^\s*[0-9a-f]+\s+(.*?)\s+\((.*)\)\s*$/.exec(line);
    if (!m) continue;
    let sym = m[1].replace(/\+0x[0-9a-f]+$/, '');
    const dso = m[2];
    if (sym === '[unknown]') sym = `[${dso.split('/').pop()}]`;
    cur.frames.push({ sym, dso });
  }
  if (cur) out.push(cur);
  return out;
}

/**
 * Rewrites a `--perf-basic-prof` map so that where entries overlap the latest one wins. V8 appends
 * an entry for every code object of every isolate (worker threads share the file) and never
 * removes one, so an address reused after a GC would otherwise keep the name of dead code.
 */
export function latestWinsPerfMap(text: string): string {
  const entries = text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const m = /^([0-9a-f]+) ([0-9a-f]+) (.*)$/.exec(line);
      return m ? { start: parseInt(m[1], 16), size: parseInt(m[2], 16), line } : null;
    });
  const PAGE = 4096;
  const taken = new Map<number, Array<[number, number]>>();
  const kept: string[] = [];
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i];
    if (!e || e.size === 0) continue;
    const end = e.start + e.size;
    let clash = false;
    for (let p = Math.floor(e.start / PAGE) - 1; p <= Math.floor((end - 1) / PAGE) && !clash; p++) {
      for (const [s, t] of taken.get(p) ?? []) if (s < end && e.start < t) clash = true;
    }
    if (clash) continue;
    kept.push(e.line);
    const p0 = Math.floor(e.start / PAGE);
    const list = taken.get(p0) ?? [];
    list.push([e.start, end]);
    taken.set(p0, list);
  }
  return `${kept.reverse().join('\n')}\n`;
}

/** A frame's display name: JS frames lose their `file:///…/` prefix down to the repo path. */
export function frameName(f: Frame): string {
  return f.sym
    .replace(/(file:\/\/)?\/\S*?\/(src|node_modules|bench)\//, '$2/')
    .replace(/\?tsx-namespace=[0-9a-f-]+/, '')
    .replace(/\s+/g, ' ');
}

export type Category = 'engine' | 'js' | 'uws' | 'v8/node' | 'kernel' | 'libc' | 'sqlite' | 'other';

export function categoryOf(f: Frame, engineFrame: (f: Frame) => boolean): Category {
  if (engineFrame(f)) return 'engine';
  if (f.dso.includes('kernel')) return 'kernel';
  if (f.dso.includes('perf-') || /^(JS|LazyCompile|Builtin|Function|Script|Eval|RegExp|Handler|Stub|BytecodeHandler):/.test(f.sym)) return 'js';
  if (f.dso.includes('uws_')) return 'uws';
  if (f.dso.includes('better_sqlite3') || f.dso.includes('sqlite')) return 'sqlite';
  if (/libc\.so|libpthread|ld-linux|libm\.so|libstdc\+\+/.test(f.dso)) return 'libc';
  if (f.dso.endsWith('/node') || f.dso.includes('bin/node')) return 'v8/node';
  return 'other';
}

export interface Shares {
  samples: number;
  /** samples with an engine frame anywhere on the stack */
  inEngine: number;
  /** self time (leaf frame) by category */
  self: Record<string, number>;
}

export function shares(samples: Sample[], engineFrame: (f: Frame) => boolean): Shares {
  const self: Record<string, number> = {};
  let inEngine = 0;
  for (const s of samples) {
    if (s.frames.some(engineFrame)) inEngine++;
    const leaf = s.frames[0];
    const cat = leaf ? categoryOf(leaf, engineFrame) : 'other';
    self[cat] = (self[cat] ?? 0) + 1;
  }
  return { samples: samples.length, inEngine, self };
}

export interface Node {
  name: string;
  cat: Category;
  value: number;
  children: Map<string, Node>;
}

export function fold(samples: Sample[], engineFrame: (f: Frame) => boolean, rootOf: (s: Sample) => string): Node {
  const root: Node = { name: 'all', cat: 'other', value: 0, children: new Map() };
  for (const s of samples) {
    root.value += s.weight;
    let node = root;
    const path: Array<{ name: string; cat: Category }> = [{ name: rootOf(s), cat: 'other' }];
    for (let i = s.frames.length - 1; i >= 0; i--) path.push({ name: frameName(s.frames[i]), cat: categoryOf(s.frames[i], engineFrame) });
    for (const p of path) {
      let child = node.children.get(p.name);
      if (!child) {
        child = { name: p.name, cat: p.cat, value: 0, children: new Map() };
        node.children.set(p.name, child);
      }
      child.value += s.weight;
      node = child;
    }
  }
  return root;
}

/** Folded-stack lines ("a;b;c count"), the interchange format of flamegraph tools. */
export function foldedLines(root: Node): string[] {
  const out: string[] = [];
  const walk = (n: Node, prefix: string) => {
    let childSum = 0;
    for (const c of n.children.values()) childSum += c.value;
    const self = n.value - childSum;
    const path = prefix ? `${prefix};${n.name}` : n.name;
    if (self > 0 && prefix) out.push(`${path} ${self}`);
    for (const c of n.children.values()) walk(c, path);
  };
  for (const c of root.children.values()) walk(c, '');
  return out;
}

const COLOURS: Record<Category, [number, number, number]> = {
  engine: [220, 60, 60],
  js: [90, 170, 90],
  uws: [70, 130, 200],
  'v8/node': [230, 160, 60],
  kernel: [200, 200, 80],
  libc: [170, 120, 200],
  sqlite: [80, 190, 190],
  other: [160, 160, 160],
};

/** The palette map the renderer reads (inferno's format, `NAME->rgb(R,G,B)`): every frame
 *  coloured by its category. A name inferno could not read back (with `->`) is left to it. */
export function paletteLines(root: Node): string[] {
  const out = new Map<string, string>();
  const walk = (n: Node) => {
    if (!out.has(n.name) && !n.name.includes('->') && !/[\r\n]/.test(n.name)) {
      const [r, g, b] = COLOURS[n.cat];
      out.set(n.name, `${n.name}->rgb(${r},${g},${b})`);
    }
    for (const c of n.children.values()) walk(c);
  };
  for (const c of root.children.values()) walk(c);
  return [...out.values()];
}

/** `hongbao-flame` (native/flame, inferno), built on demand: cargo does nothing when it is up to date. */
export function flameRenderer(root: string): string {
  execFileSync('cargo', ['build', '--release', '-p', 'hongbao-flame'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  return path.join(root, 'target/release/hongbao-flame');
}

/** The SVG flamegraph of `root` by inferno (`renderer` from flameRenderer), its frames coloured by
 *  category; the folded stacks and the palette are left next to the SVG. */
export function renderSvg(renderer: string, root: Node, title: string, files: { folded: string; palette: string; svg: string }): void {
  const folded = `${foldedLines(root).join('\n')}\n`;
  writeFileSync(files.folded, folded);
  writeFileSync(files.palette, `${paletteLines(root).join('\n')}\n`);
  const legend = Object.entries(COLOURS)
    .map(([k, [r, g, b]]) => `${k} rgb(${r},${g},${b})`)
    .join(', ');
  const svg = execFileSync(renderer, ['--title', title, '--subtitle', `colours: ${legend}`, '--colours', files.palette, '--width', '1600'], {
    input: folded,
    maxBuffer: 1 << 30,
  });
  writeFileSync(files.svg, svg);
}
