// Types of scripts/build-web.mjs, a plain script so that `npm run build:web` needs no TypeScript loader.
export declare const PAGES: string[];
/** Builds the pages into `outDir` (default dist/web) and returns that folder. */
export declare function buildWeb(options?: { outDir?: string; minify?: boolean; pages?: string[] }): Promise<string>;
