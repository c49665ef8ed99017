// The one flag helper of every command, script and bench: a table of flags, each with its type,
// default and help line; parsing checks every value (whole numbers really are whole numbers, in
// range) and --help is printed from the same table, so a default is written once.
//
//   const flags = new Flags('hongbao cluster up', 'Starts a local cluster ...')
//     .int('nodes', 'access nodes', { default: 3, min: 1 })
//     .string('dir', 'where everything lives', { required: true });
//   const v = flags.parse(process.argv.slice(2));   // v.nodes: number, v.dir: string
//
// Kinds: int, number, string (with choices), bool, list (of strings), ints (a list of whole
// numbers, each checked), range (FROM-TO), intOr (a whole number or one word, e.g. auto), and the
// positionals (whole numbers after the flags). -h is --help.
import { parseArgs } from 'node:util';

export class FlagError extends Error {
  override readonly name = 'FlagError';
}

type CamelCase<S extends string> = S extends `${infer A}-${infer B}` ? `${A}${Capitalize<CamelCase<B>>}` : S;

interface Spec {
  name: string;
  kind: 'int' | 'number' | 'string' | 'bool' | 'list' | 'ints' | 'range' | 'intOr';
  help: string;
  placeholder: string;
  default?: unknown;
  required?: boolean;
  min?: number;
  /** exclusive lower bound (a number that must be > 0) */
  above?: number;
  max?: number;
  choices?: readonly string[];
  /** intOr: the word taken besides a number */
  word?: string;
}

/** FROM-TO, both ends included. */
export interface Range {
  from: number;
  to: number;
}

interface NumberOptions<D> {
  default?: D;
  min?: number;
  /** exclusive lower bound */
  above?: number;
  max?: number;
  /** placeholder in --help (default N) */
  value?: string;
}

const camel = (name: string) => name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());

export class Flags<T extends Record<string, unknown> = { help: boolean }> {
  private readonly specs: Spec[] = [{ name: 'help', kind: 'bool', help: 'show this help', placeholder: '', default: false }];
  private rest: { name: string; help: string; placeholder: string; default: number[]; min?: number } | null = null;

  constructor(
    private readonly usage: string,
    private readonly intro = '',
    /** printed after the flags (environment variables, output, signals) */
    private readonly outro = '',
  ) {}

  private add<R>(spec: Spec): Flags<R & Record<string, unknown>> {
    if (this.specs.some((s) => s.name === spec.name)) throw new Error(`flag --${spec.name} defined twice`);
    this.specs.splice(this.specs.length - 1, 0, spec); // --help stays last
    return this as unknown as Flags<R & Record<string, unknown>>;
  }

  int<K extends string, D extends number | undefined = undefined, R extends boolean = false>(
    name: K,
    help: string,
    o: NumberOptions<D> & { required?: R } = {},
  ): Flags<T & Record<CamelCase<K>, D extends number ? number : R extends true ? number : number | undefined>> {
    return this.add({ name, kind: 'int', help, placeholder: o.value ?? 'N', default: o.default, min: o.min, max: o.max, required: o.required });
  }

  number<K extends string, D extends number | undefined = undefined>(
    name: K,
    help: string,
    o: NumberOptions<D> = {},
  ): Flags<T & Record<CamelCase<K>, D extends number ? number : number | undefined>> {
    return this.add({ name, kind: 'number', help, placeholder: o.value ?? 'X', default: o.default, min: o.min, above: o.above, max: o.max });
  }

  /** A string; with `choices`, one of them (typed as their union). */
  string<K extends string, C extends string = string, D extends C | undefined = undefined, R extends boolean = false>(
    name: K,
    help: string,
    o: { default?: D; required?: R; value?: string; choices?: readonly C[] } = {},
  ): Flags<T & Record<CamelCase<K>, D extends string ? C : R extends true ? C : C | undefined>> {
    return this.add({ name, kind: 'string', help, placeholder: o.value ?? 'TEXT', default: o.default, required: o.required, choices: o.choices });
  }

  list<K extends string>(name: K, help: string, o: { default?: string[]; value?: string } = {}): Flags<T & Record<CamelCase<K>, string[]>> {
    return this.add({ name, kind: 'list', help, placeholder: o.value ?? 'A,B', default: o.default ?? [] });
  }

  bool<K extends string>(name: K, help: string): Flags<T & Record<CamelCase<K>, boolean>> {
    return this.add({ name, kind: 'bool', help, placeholder: '', default: false });
  }

  /** A comma-separated list of whole numbers, each within [min, max]. */
  ints<K extends string>(
    name: K,
    help: string,
    o: { default?: number[]; min?: number; max?: number; value?: string } = {},
  ): Flags<T & Record<CamelCase<K>, number[]>> {
    return this.add({ name, kind: 'ints', help, placeholder: o.value ?? 'N[,N...]', default: o.default ?? [], min: o.min, max: o.max });
  }

  /** FROM-TO (both included), whole numbers with min <= FROM <= TO. */
  range<K extends string, R extends boolean = false>(
    name: K,
    help: string,
    o: { default?: Range; min?: number; required?: R; value?: string } = {},
  ): Flags<T & Record<CamelCase<K>, R extends true ? Range : Range | undefined>> {
    return this.add({ name, kind: 'range', help, placeholder: o.value ?? 'FROM-TO', default: o.default, min: o.min, required: o.required });
  }

  /** A whole number or `word` (e.g. auto, whose meaning the command decides). */
  intOr<K extends string, W extends string>(name: K, help: string, word: W, o: NumberOptions<number | W> = {}): Flags<T & Record<CamelCase<K>, number | W>> {
    return this.add({ name, kind: 'intOr', help, placeholder: o.value ?? `N|${word}`, default: o.default, min: o.min, max: o.max, word });
  }

  /** Whole numbers after the flags (`bench:load -- 10000 20000`), each >= min. */
  positionals<K extends string>(
    name: K,
    help: string,
    o: { default?: number[]; min?: number; value?: string } = {},
  ): Flags<T & Record<CamelCase<K>, number[]>> {
    this.rest = { name, help, placeholder: o.value ?? 'N...', default: o.default ?? [], min: o.min };
    return this as unknown as Flags<T & Record<CamelCase<K>, number[]>>;
  }

  /** The help text, from the table. */
  help(): string {
    const rows = this.specs.map((s) => `  ${s.name === 'help' ? '-h, ' : ''}--${s.name}${s.placeholder ? ` ${s.placeholder}` : ''}`);
    const width = Math.max(...rows.map((r) => r.length)) + 2;
    const lines = this.specs.map((s, i) => {
      const extra = s.required
        ? ' (required)'
        : s.default !== undefined && s.kind !== 'bool' && !(Array.isArray(s.default) && s.default.length === 0)
          ? ` (default ${shown(s.default)})`
          : '';
      return `${rows[i].padEnd(width)}${s.help}${extra}`;
    });
    const rest = this.rest
      ? [
          '',
          'arguments:',
          `  ${this.rest.placeholder.padEnd(width - 2)}${this.rest.help}${this.rest.default.length ? ` (default ${shown(this.rest.default)})` : ''}`,
        ]
      : [];
    return [`usage: ${this.usage}`, ...(this.intro ? ['', this.intro] : []), '', 'flags:', ...lines, ...rest, '', ...(this.outro ? [this.outro, ''] : [])].join(
      '\n',
    );
  }

  /** Every flag name, without the dashes (--help included). */
  names(): string[] {
    return this.specs.map((s) => s.name);
  }

  /** Parse and check `argv`; a mistake is a FlagError naming the flag. */
  parse(argv: string[]): T {
    const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {};
    for (const s of this.specs) options[s.name] = { type: s.kind === 'bool' ? 'boolean' : 'string', ...(s.name === 'help' ? { short: 'h' } : {}) };
    let values: Record<string, string | boolean | undefined>;
    let positionals: string[];
    try {
      ({ values, positionals } = parseArgs({ args: argv, options, strict: true, allowPositionals: this.rest !== null }) as {
        values: Record<string, string | boolean | undefined>;
        positionals: string[];
      });
    } catch (err) {
      throw new FlagError((err as Error).message.split('\n')[0]);
    }
    const out: Record<string, unknown> = {};
    if (this.rest) {
      const r = this.rest;
      out[camel(r.name)] =
        positionals.length === 0
          ? r.default
          : positionals.map((p) => wholeNumber({ name: r.name, kind: 'int', help: '', placeholder: '', min: r.min }, p, `${r.name} `));
    }
    for (const s of this.specs) {
      const raw = values[s.name];
      if (raw === undefined) {
        if (s.required && values.help !== true) throw new FlagError(`--${s.name} is required`);
        out[camel(s.name)] = s.default;
        continue;
      }
      out[camel(s.name)] = convert(s, raw);
    }
    return out as T;
  }
}

function convert(s: Spec, raw: string | boolean): unknown {
  if (s.kind === 'bool') return raw === true;
  const text = String(raw);
  if (s.kind === 'string') {
    if (text === '') throw new FlagError(`--${s.name} must not be empty`);
    if (s.choices && !s.choices.includes(text)) throw new FlagError(`--${s.name} must be ${s.choices.join(' or ')}, got "${text}"`);
    return text;
  }
  if (s.kind === 'list' || s.kind === 'ints') {
    const items = text
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean);
    if (items.length === 0) throw new FlagError(`--${s.name} needs at least one value`);
    return s.kind === 'list' ? items : items.map((x) => wholeNumber(s, x, `--${s.name} `, `, in "${text}"`));
  }
  if (s.kind === 'range') {
    const m = /^(\d+)-(\d+)$/.exec(text.trim());
    if (!m) throw new FlagError(`--${s.name} must look like FROM-TO, got "${text}"`);
    const from = Number(m[1]);
    const to = Number(m[2]);
    const min = s.min ?? 0;
    if (from < min || to < from) throw new FlagError(`--${s.name} ${text}: need ${min} <= FROM <= TO`);
    return { from, to };
  }
  if (s.kind === 'intOr' && text === s.word) return text;
  if (s.kind === 'number') {
    const n = Number(text);
    if (!Number.isFinite(n)) throw new FlagError(`--${s.name} must be a number, got "${text}"`);
    return inRange(s, n, text);
  }
  return wholeNumber(s, text, `--${s.name} `, '', s.kind === 'intOr' ? ` or ${s.word}` : '');
}

/** `text` as a whole number within the spec's bounds; the message names the flag (`what`). */
function wholeNumber(s: Spec, text: string, what: string, where = '', or = ''): number {
  const n = /^-?\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n)) throw new FlagError(`${what}must be a whole number${or}, got "${text}"${where}`);
  return inRange(s, n, text, what, where);
}

function inRange(s: Spec, n: number, text: string, what = `--${s.name} `, where = ''): number {
  if (s.min !== undefined && n < s.min) throw new FlagError(`${what}must be >= ${s.min}, got ${text}${where}`);
  if (s.above !== undefined && n <= s.above) throw new FlagError(`${what}must be > ${s.above}, got ${text}${where}`);
  if (s.max !== undefined && n > s.max) throw new FlagError(`${what}must be <= ${s.max}, got ${text}${where}`);
  return n;
}

function shown(v: unknown): string {
  if (Array.isArray(v)) return v.join(',');
  if (v !== null && typeof v === 'object' && 'from' in v && 'to' in v) return `${(v as Range).from}-${(v as Range).to}`;
  return String(v);
}

export interface Io {
  stdout(text: string): void;
  stderr(text: string): void;
}

const PROCESS_IO: Io = { stdout: (t) => void process.stdout.write(t), stderr: (t) => void process.stderr.write(t) };

/** The values `parse` returns for a table. */
export type FlagValues<F> = F extends Flags<infer T> ? T : never;

/** A command's main: flag mistakes (in `parse`, or a FlagError from the body's own checks across
 *  flags) are one line and exit 2, --help prints and exits 0. */
export async function runCommand<T extends { help: boolean }>(
  name: string,
  flags: Flags<T>,
  argv: string[],
  body: (values: T) => Promise<number>,
  io: Io = PROCESS_IO,
): Promise<number> {
  try {
    const values = flags.parse(argv);
    if (values.help) {
      io.stdout(flags.help());
      return 0;
    }
    return await body(values);
  } catch (err) {
    if (err instanceof FlagError) {
      io.stderr(`${name}: ${err.message} (${name} --help)\n`);
      return 2;
    }
    throw err;
  }
}

/** For a script's top level: the values, or the reason on stderr and exit 2 (a mistake), or the help
 *  on stdout and exit 0. */
export function parseOrExit<T extends { help: boolean }>(name: string, flags: Flags<T>, argv: string[] = process.argv.slice(2)): T {
  try {
    const values = flags.parse(argv);
    if (values.help) {
      process.stdout.write(flags.help());
      process.exit(0);
    }
    return values;
  } catch (err) {
    if (!(err instanceof FlagError)) throw err;
    process.stderr.write(`${name}: ${err.message} (${name} --help)\n`);
    process.exit(2);
  }
}
