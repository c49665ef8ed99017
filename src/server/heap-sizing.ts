// Fixes the young generation of the app threads. Under a steady load V8 keeps doubling and halving
// a thread's semi-spaces (an app thread's committed heap swung 14 <-> 28 MiB a few minutes apart in
// the soak, RSS with it); a fixed size keeps that part of RSS flat and the scavenges evenly spaced.
// V8 reads these flags when an isolate is created, so they reach the threads started after the call
// (the server calls it just before the app threads; the ledger writer's isolate exists by then and
// keeps V8's sizing, it allocates little) but not the main thread, whose heap already exists: with
// --threads 1 the app runs there, and node must be started with the flags for the same effect
// (`node --min-semi-space-size=8 --max-semi-space-size=8 ...`).
import v8 from 'node:v8';

/** Fixes the semi-space of isolates created after this call at `mb` MiB; 0 leaves V8's sizing. */
export function fixSemiSpace(mb: number): void {
  if (mb <= 0) return;
  v8.setFlagsFromString(`--min-semi-space-size=${mb}`);
  v8.setFlagsFromString(`--max-semi-space-size=${mb}`);
}
