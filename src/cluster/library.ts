// The Redis function library (hongbao.lua), as the text FUNCTION LOAD takes.
import { readFileSync } from 'node:fs';

export const LIBRARY_SOURCE = readFileSync(new URL('./hongbao.lua', import.meta.url), 'utf8');
