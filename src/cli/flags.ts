// The one flag helper of every command, script and bench: a table of flags, each with its type,
// default and help line; parsing checks every value (whole numbers really are whole numbers, in
// range) and --help is printed from the same table, so a default is written once.
//
//   const flags = new Flags('hongbao cluster up', 'Starts a local cluster ...')
//     .int('nodes', 'access nodes', { default: 3, min: 1 })
//     .string('dir', 'where everything lives', { required: true });
//   const v = flags.parse(process.argv.slice(2));   // v.nodes: number, v.dir: string
import { parseArgs } from 'node:util';

export class FlagError extends Error {
  override readonly name = 'FlagError';
}

type CamelCase<S extends string> = S extends `${infer A}-${infer B}` ? `${A}${Capitalize<CamelCase<B>>}` : S;

interface Spec {
  name: string;
  kind: 'int' | 'number' | 'string' | 'bool' | 'list';
  help: string;
  placeholder: string;
  default?: unknown;
  required?: boolean;
  min?: number;
  max?: number;
  choices?: readonly string[];
}

interface NumberOptions<D> {
  default?: D;
  min?: number;
  max?: number;
  /** placeholder in --help (default N) */
  value?: string;
}

const camel = (name: string) => name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());

export class Flags<T extends Record<string, unknown> = { help: boolean }> {
  private readonly specs: Spec[] = [{ name: 'help', kind: 'bool', help: 'show this help', placeholder: '', default: false }];

  constructor(
    private readonly usage: string,
    private readonly intro = '',
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
    return this.add({ name, kind: 'number', help, placeholder: o.value ?? 'X', default: o.default, min: o.min, max: o.max });
  }

  string<K extends string, D extends string | undefined = undefined, R extends boolean = false>(
    name: K,
    help: string,
    o: { default?: D; required?: R; value?: string; choices?: readonly string[] } = {},
  ): Flags<T & Record<CamelCase<K>, D extends string ? string : R extends true ? string : string | undefined>> {
    return this.add({ name, kind: 'string', help, placeholder: o.value ?? 'TEXT', default: o.default, required: o.required, choices: o.choices });
  }

  list<K extends string>(name: K, help: string, o: { default?: string[]; value?: string } = {}): Flags<T & Record<CamelCase<K>, string[]>> {
    return this.add({ name, kind: 'list', help, placeholder: o.value ?? 'A,B', default: o.default ?? [] });
  }

  bool<K extends string>(name: K, help: string): Flags<T & Record<CamelCase<K>, boolean>> {
    return this.add({ name, kind: 'bool', help, placeholder: '', default: false });
  }

  /** The help text, from the table. */
  help(): string {
    const rows = this.specs.map((s) => `  --${s.name}${s.placeholder ? ` ${s.placeholder}` : ''}`);
    const width = Math.max(...rows.map((r) => r.length)) + 2;
    const lines = this.specs.map((s, i) => {
      const extra = s.required
        ? ' (required)'
        : s.default !== undefined && s.kind !== 'bool' && !(Array.isArray(s.default) && s.default.length === 0)
          ? ` (default ${String(s.default)})`
          : '';
      return `${rows[i].padEnd(width)}${s.help}${extra}`;
    });
    return [`usage: ${this.usage}`, ...(this.intro ? ['', this.intro] : []), '', 'flags:', ...lines, ''].join('\n');
  }

  /** Parse and check `argv`; a mistake is a FlagError naming the flag. */
  parse(argv: string[]): T {
    const options: Record<string, { type: 'string' | 'boolean' }> = {};
    for (const s of this.specs) options[s.name] = { type: s.kind === 'bool' ? 'boolean' : 'string' };
    let values: Record<string, string | boolean | undefined>;
    try {
      ({ values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false }) as { values: Record<string, string | boolean | undefined> });
    } catch (err) {
      throw new FlagError((err as Error).message.split('\n')[0]);
    }
    const out: Record<string, unknown> = {};
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
  if (s.kind === 'list')
    return text
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean);
  const n = s.kind === 'int' ? (/^-?\d+$/.test(text) ? Number(text) : Number.NaN) : Number(text);
  if (!Number.isFinite(n) || (s.kind === 'int' && !Number.isSafeInteger(n))) {
    throw new FlagError(`--${s.name} must be ${s.kind === 'int' ? 'a whole number' : 'a number'}, got "${text}"`);
  }
  if (s.min !== undefined && n < s.min) throw new FlagError(`--${s.name} must be >= ${s.min}, got ${text}`);
  if (s.max !== undefined && n > s.max) throw new FlagError(`--${s.name} must be <= ${s.max}, got ${text}`);
  return n;
}

export interface Io {
  stdout(text: string): void;
  stderr(text: string): void;
}

const PROCESS_IO: Io = { stdout: (t) => void process.stdout.write(t), stderr: (t) => void process.stderr.write(t) };

/** A command's main: flag mistakes are one line and exit 2, --help prints and exits 0. */
export async function runCommand<T extends { help: boolean }>(
  name: string,
  flags: Flags<T>,
  argv: string[],
  body: (values: T) => Promise<number>,
  io: Io = PROCESS_IO,
): Promise<number> {
  let values: T;
  try {
    values = flags.parse(argv);
  } catch (err) {
    if (err instanceof FlagError) {
      io.stderr(`${name}: ${err.message} (${name} --help)\n`);
      return 2;
    }
    throw err;
  }
  if (values.help) {
    io.stdout(flags.help());
    return 0;
  }
  return body(values);
}
