// Where the project's files are, whether this code runs from src/ (through tsx) or compiled into
// dist/js/src (npm run build:ts): paths that leave src/ go through ROOT.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(import.meta.url);
/** True when running the compiled JavaScript of dist/js. */
export const COMPILED = here.endsWith('.js');
export const ROOT = resolve(dirname(here), COMPILED ? '../../..' : '..');
export const SRC = join(ROOT, 'src');
/** The extension of this code's modules ('.ts' from the sources, '.js' compiled). */
export const MODULE_EXT = COMPILED ? '.js' : '.ts';
