// Whether this thread may move money. A failed commit closes the gate here at once (the engine has
// already moved that batch's state) and tells the main thread, which rebuilds the engine from the
// ledger once it is healthy and opens every thread's gate again. Closing for shutdown is final.

export type GateState = 'healthy' | 'degraded' | 'closing';

export class MoveGate {
  state: GateState = 'healthy';
  /** Bumped on every commit failure and every rebuild: an answer prepared in an older epoch is withheld. */
  epoch = 0;

  constructor(private readonly onFailure: (err: unknown) => void) {}

  canMove(): boolean {
    return this.state === 'healthy';
  }

  commitFailed(err: unknown): void {
    this.epoch++;
    if (this.state === 'healthy') this.state = 'degraded';
    this.onFailure(err);
  }

  /** The main thread's word: degraded (someone's commit failed) or healthy (engine rebuilt). */
  set(state: 'healthy' | 'degraded'): void {
    if (this.state === 'closing') return;
    if (state !== this.state) this.epoch++;
    this.state = state;
  }

  close(): void {
    this.state = 'closing';
    this.epoch++;
  }
}
