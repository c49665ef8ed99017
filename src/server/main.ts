// `hongbao server`: flags and signals; the server runs on this thread, or with --private-fds on a
// worker thread of its own (private-fds.ts).
import { stopSignal } from '../process/signals.ts';
import { FlagError, helpText, parseFlags, type ServerFlags } from './flags.ts';
import { log } from './log.ts';

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
  // loaded here, not above: with --private-fds this thread never loads the server's modules
  if (flags.privateFds) return (await import('./private-fds.ts')).serveOnPrivateThread(argv);
  const { serve } = await import('./serve.ts');
  return serve(flags, async () => {
    const signal = await stopSignal();
    for (const s of ['SIGINT', 'SIGTERM'] as const) {
      process.once(s, () => {
        log(`second ${s}: exiting at once`);
        process.exit(130);
      });
    }
    return signal;
  });
}
