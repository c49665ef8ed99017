// `hongbao monitor`: collect per-second counters, write the time series and the plots (see --help).
import http from 'node:http';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { AddressInfo } from 'node:net';
import { Monitor, type FinishResult } from './monitor.ts';
import { readSeries } from './series-writer.ts';
import { renderPlots, type Phase } from './plots.ts';
import { readFileSync, existsSync } from 'node:fs';
import { loadWebPage } from '../web/static.ts';

const HELP = `usage: hongbao monitor [flags]
       hongbao monitor --render DIR

Receives the per-second pushes of the server and of every client process (POST /push, format in
docs/admin-api.md), aligns them by unix second, appends one row per second to DIR/series.jsonl,
prints a one-line summary per second on stderr and samples the machine's network packets
(/proc/net/dev). On SIGINT/SIGTERM or POST /finish it writes DIR/series.csv, DIR/phases.json and
the plots (DIR/plots/*.svg and *.png), prints {"event":"finished",...} on stdout and exits.
Prints {"event":"ready","port":N,"out":DIR} on stdout once it listens.

Other routes: POST /phase {"name","second"?} marks a phase on the plots; GET /latest; GET /health.

flags:
  --port N        listen port (default 8090; 0 = any free port)
  --host ADDR     listen address (default 127.0.0.1)
  --out DIR       output folder (default ./monitor-<timestamp>)
  --lag-ms N      a second is written this long after it ended, to wait for late pushes (default 2500)
  --no-png        SVG plots only
  --quiet         no per-second lines on stderr
  --render DIR    only (re)render the plots of an existing DIR/series.jsonl and exit
  -h, --help      this text
`;

function timestamp(): string {
  return new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
}

async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string', default: '8090' },
      host: { type: 'string', default: '127.0.0.1' },
      out: { type: 'string' },
      'lag-ms': { type: 'string', default: '2500' },
      'no-png': { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
      render: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (values.render) {
    const dir = values.render;
    const rows = readSeries(dir);
    if (rows.length === 0) throw new Error(`no rows in ${path.join(dir, 'series.jsonl')}`);
    const phasesFile = path.join(dir, 'phases.json');
    const phases: Phase[] = existsSync(phasesFile) ? JSON.parse(readFileSync(phasesFile, 'utf8')) : [];
    const plots = await renderPlots(rows, phases, path.join(dir, 'plots'), !values['no-png']);
    process.stdout.write(`${JSON.stringify({ event: 'rendered', plots: plots.map((p) => p.svgFile) })}\n`);
    return 0;
  }
  const port = Number(values.port);
  const lagMs = Number(values['lag-ms']);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be 0..65535, got ${values.port}`);
  if (!Number.isInteger(lagMs) || lagMs < 0) throw new UsageError(`--lag-ms must be a non-negative integer`);
  const outDir = path.resolve(values.out ?? `monitor-${timestamp()}`);
  mkdirSync(outDir, { recursive: true });

  const monitor = new Monitor({
    outDir,
    lagMs,
    png: !values['no-png'],
    onLine: values.quiet ? undefined : (line) => process.stderr.write(`${line}\n`),
  });
  try {
    monitor.web = await loadWebPage('dashboard');
  } catch (err) {
    process.stderr.write(`hongbao monitor: dashboard page not served: ${(err as Error).message}\n`);
  }
  let exitWith: (code: number) => void = () => {};
  const exited = new Promise<number>((resolve) => (exitWith = resolve));
  const finished = (result: FinishResult) => {
    process.stdout.write(`${JSON.stringify({ event: 'finished', ...result })}\n`);
    setImmediate(() => exitWith(0));
  };
  const server = http.createServer(monitor.handler(finished));
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, values.host, () => resolve());
  });
  const actualPort = (server.address() as AddressInfo).port;
  process.stdout.write(`${JSON.stringify({ event: 'ready', port: actualPort, out: outDir, pid: process.pid })}\n`);
  if (!values.quiet) process.stderr.write(`hongbao monitor: live dashboard at http://${values.host}:${actualPort}/\n`);
  monitor.start();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(
      signal,
      () =>
        void monitor.finish().then(finished, (err) => {
          process.stderr.write(`hongbao monitor: finish failed: ${String(err)}\n`);
          exitWith(1);
        }),
    );
  }
  const code = await exited;
  server.close();
  server.closeAllConnections();
  return code;
}

class UsageError extends Error {}

/** Flag mistakes exit 2 with the reason; everything else propagates (exit 1). */
export async function main(argv: string[]): Promise<number> {
  try {
    return await run(argv);
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`hongbao monitor: ${(err as Error).message} (hongbao monitor --help)\n`);
      return 2;
    }
    throw err;
  }
}
