// The server's run once its flags are parsed: start, the ready line, and the stop. On the main
// thread (`hongbao server`) or on a worker thread of its own (--private-fds, private-fds.ts).
import { writeFileSync } from 'node:fs';
import type { ServerFlags } from './flags.ts';
import { log } from './log.ts';
import { type RunningServer, startServer, StartupError } from './server.ts';

/** Runs the server until the signal `stopped()` resolves with (asked for just before the ready
 *  line: a parent may signal the moment it reads it); the exit code. */
export async function serve(flags: ServerFlags, stopped: () => Promise<string>): Promise<number> {
  let server: RunningServer;
  try {
    server = await startServer(flags, log);
  } catch (err) {
    if (err instanceof StartupError) {
      log(err.message);
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
  const signalled = stopped();
  const line = JSON.stringify(ready);
  if (flags.readyFile) writeFileSync(flags.readyFile, `${line}\n`);
  process.stdout.write(`${line}\n`);

  const signal = await signalled;
  log(`${signal} received`);
  await server.shutdown();
  // Idle keep-alive sockets may still hold the event loop: leave on our own shortly.
  setTimeout(() => process.exit(process.exitCode ?? 0), 200).unref();
  return 0;
}
