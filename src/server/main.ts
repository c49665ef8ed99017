// `hongbao server`: flags, start-up, the machine-readable ready line, and signals.
import { writeFileSync } from 'node:fs';
import { stopSignal } from '../process/signals.ts';
import { FlagError, helpText, parseFlags, type ServerFlags } from './flags.ts';
import { type RunningServer, startServer, StartupError } from './server.ts';

function log(message: string): void {
  process.stderr.write(`hongbao server: ${message}\n`);
}

export async function main(argv: string[]): Promise<number> {
  let flags: ServerFlags;
  try {
    flags = parseFlags(argv);
  } catch (err) {
    if (err instanceof FlagError) {
      process.stderr.write(`hongbao server: ${err.message} (hongbao server --help)\n`);
      return 2;
    }
    throw err;
  }
  if (flags.help) {
    process.stdout.write(helpText());
    return 0;
  }

  let server: RunningServer;
  try {
    server = await startServer(flags, log);
  } catch (err) {
    if (err instanceof StartupError) {
      process.stderr.write(`hongbao server: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  const { ready } = server;
  const shown = (host: string) => (host === '0.0.0.0' ? '127.0.0.1' : host);
  log(
    `listening on port ${ready.port}: ws://${shown(ready.host)}:${ready.port}/ws and http://${shown(ready.host)}:${ready.port}/v1/ (${ready.threads} thread${ready.threads > 1 ? 's' : ''}, ${ready.engine} engine)`,
  );
  log(`admin API listening on port ${ready.adminPort}: http://${ready.adminHost}:${ready.adminPort}/`);
  log(`ledger ${ready.db}`);
  log(ready.secretFile ? `token secret in ${ready.secretFile}` : 'token secret from HONGBAO_SECRET');
  log(ready.adminTokenFile ? `admin token in ${ready.adminTokenFile}` : 'admin token from HONGBAO_ADMIN_TOKEN');
  const signalled = stopSignal();
  const line = JSON.stringify(ready);
  if (flags.readyFile) writeFileSync(flags.readyFile, `${line}\n`);
  process.stdout.write(`${line}\n`);

  const signal = await signalled;
  for (const s of ['SIGINT', 'SIGTERM'] as const) {
    process.once(s, () => {
      log(`second ${s}: exiting at once`);
      process.exit(130);
    });
  }
  log(`${signal} received`);
  await server.shutdown();
  // Idle keep-alive sockets may still hold the event loop: leave on our own shortly.
  setTimeout(() => process.exit(process.exitCode ?? 0), 200).unref();
  return 0;
}
