// The server's log line on stderr, from whichever thread runs it (private-fds.ts).
export function log(message: string): void {
  process.stderr.write(`hongbao server: ${message}\n`);
}
