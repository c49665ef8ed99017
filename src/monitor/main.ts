// `hongbao monitor`: collect per-second counters, write the time series and the plots (see --help).
import http from 'node:http';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { type FlagValues, Flags, runCommand } from '../cli/flags.ts';
import type { AddressInfo } from 'node:net';
import { Monitor, type FinishResult } from './monitor.ts';
import { readSeries } from './series-writer.ts';
import { renderPlots, type Phase } from './plots.ts';
import { readFileSync, existsSync } from 'node:fs';
import { loadWebPage } from '../web/static.ts';

const flags = new Flags(
  'hongbao monitor [flags]\n       hongbao monitor --render DIR',
  `Receives the per-second pushes of the server and of every client process (POST /push, format in
docs/admin-api.md), aligns them by unix second, appends one row per second to DIR/series.jsonl,
prints a one-line summary per second on stderr and samples the machine's network packets
(/proc/net/dev). On SIGINT/SIGTERM or POST /finish it writes DIR/series.csv, DIR/phases.json and
the plots (DIR/plots/*.svg and *.png), prints {"event":"finished",...} on stdout and exits.
Prints {"event":"ready","port":N,"out":DIR} on stdout once it listens.

Other routes: POST /phase {"name","second"?} marks a phase on the plots; GET /latest; GET /health.`,
)
  .int('port', 'listen port (0 = any free port)', { default: 8090, min: 0, max: 65535 })
  .string('host', 'listen address', { default: '127.0.0.1', value: 'ADDR' })
  .string('out', 'output folder (default ./monitor-<timestamp>)', { value: 'DIR' })
  .int('lag-ms', 'a second is written this long after it ended, to wait for late pushes', { default: 2500, min: 0 })
  .bool('no-png', 'SVG plots only')
  .bool('quiet', 'no per-second lines on stderr')
  .string('render', 'only (re)render the plots of an existing DIR/series.jsonl and exit', { value: 'DIR' });

function timestamp(): string {
  return new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
}

async function run(values: FlagValues<typeof flags>): Promise<number> {
  if (values.render) {
    const dir = values.render;
    const rows = readSeries(dir);
    if (rows.length === 0) throw new Error(`no rows in ${path.join(dir, 'series.jsonl')}`);
    const phasesFile = path.join(dir, 'phases.json');
    const phases: Phase[] = existsSync(phasesFile) ? JSON.parse(readFileSync(phasesFile, 'utf8')) : [];
    const plots = await renderPlots(rows, phases, path.join(dir, 'plots'), !values.noPng);
    process.stdout.write(`${JSON.stringify({ event: 'rendered', plots: plots.map((p) => p.svgFile) })}\n`);
    return 0;
  }
  const { port, lagMs } = values;
  const outDir = path.resolve(values.out ?? `monitor-${timestamp()}`);
  mkdirSync(outDir, { recursive: true });

  const monitor = new Monitor({
    outDir,
    lagMs,
    png: !values.noPng,
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
  // Signals are handled before the ready line: a parent may signal the moment it reads it.
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
  process.stdout.write(`${JSON.stringify({ event: 'ready', port: actualPort, out: outDir, pid: process.pid })}\n`);
  if (!values.quiet) process.stderr.write(`hongbao monitor: live dashboard at http://${values.host}:${actualPort}/\n`);
  monitor.start();
  const code = await exited;
  server.close();
  server.closeAllConnections();
  return code;
}

/** Flag mistakes exit 2 with the reason; everything else propagates (exit 1). */
export function main(argv: string[]): Promise<number> {
  return runCommand('hongbao monitor', flags, argv, run);
}
