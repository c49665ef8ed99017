// The signal that stops a long-running command. Listen before printing the ready line: a parent may
// signal the moment it reads it, and with no listener yet the default action kills the process.
export function stopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
}
