// `hongbao clients --generator native`: this Node process coordinates; the sockets live in
// ceil(users / perWorker) `hongbao-loadgen worker` processes (Rust, one epoll thread each, a few
// dozen bytes per connection). The workers send the shakes on the shared-clock schedule, read the
// answers in place and count them; this process keeps what needs a decision or a record: the rate
// plan, reconnects with back-off and the opens of notified packets (Users, shared with the
// TypeScript Simulator), the tally item by item, the per-second monitor pushes (the workers'
// seconds merged, histograms exactly) and the control port's answers.
import { lookup } from 'node:dns/promises';
import { decodeHistogram } from '../histogram.ts';
import { RatePlan } from '../rate-plan.ts';
import type { SimulatorOptions } from '../simulator.ts';
import { Tally, type FinalTally } from '../tally.ts';
import { Users, type UserLink } from '../users.ts';
import type { QpsState } from '../control.ts';
import type { ClientGenerator, GeneratorStats, NativeOptions } from '../generator.ts';
import { WORKER_COUNTERS, type SecondReport, type WorkerEvent } from './protocol.ts';
import { addWorkerCounters, SecondMerger, type MergedSecond } from './seconds.ts';
import { loadgenBinary, WorkerProcess } from './worker.ts';

export const DEFAULT_USERS_PER_WORKER = 19_000;
/** 20,000 open files per process here: the sockets, stdio and a margin. */
export const MAX_USERS_PER_WORKER = 19_800;
const HELLO_TIMEOUT_MS = 10_000;
/** A worker that says nothing and uses no CPU for this long after the close command is killed (its tally lost), */
const FINAL_TIMEOUT_MS = 15_000;
/** and so is one that talks but sends no final report for this long (the rehearsal waits 120 s for a tally). */
const FINAL_CAP_MS = 90_000;

export type NativeCoordinatorOptions = SimulatorOptions & NativeOptions;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class NativeCoordinator implements ClientGenerator, UserLink {
  readonly tally = new Tally();
  private readonly opts: NativeCoordinatorOptions;
  private readonly perWorker: number;
  private readonly users: Users;
  private readonly plan: RatePlan;
  private workers: WorkerProcess[] = [];
  private merger: SecondMerger | null = null;
  private flushTimer: NodeJS.Timeout | null = null;
  private stopped: Promise<FinalTally> | null = null;
  private failure: Error | null = null;
  /** reconnects collected during one turn of the event loop, by worker */
  private readonly connectBatch = new Map<number, number[]>();
  private connectFlush: NodeJS.Immediate | null = null;
  private readonly killAll = () => {
    for (const w of this.workers) w.kill();
  };

  constructor(opts: NativeCoordinatorOptions) {
    this.opts = opts;
    this.perWorker = opts.usersPerWorker ?? DEFAULT_USERS_PER_WORKER;
    if (!Number.isSafeInteger(this.perWorker) || this.perWorker < 1 || this.perWorker > MAX_USERS_PER_WORKER) {
      throw new RangeError(`users per worker must be an integer in 1..${MAX_USERS_PER_WORKER}, got ${this.perWorker}`);
    }
    this.plan = new RatePlan(opts.qps);
    this.users = new Users({ tally: this.tally, from: opts.from, count: opts.to - opts.from + 1, link: this, log: opts.log });
  }

  get connected(): number {
    return this.users.connected;
  }

  get pids(): number[] {
    return this.workers.map((w) => w.pid);
  }

  async start(): Promise<void> {
    const binary = loadgenBinary(this.opts.binary);
    const { address } = await lookup(this.opts.target.host, { family: 4 });
    const o = this.opts;
    const count = o.to - o.from + 1;
    const n = Math.ceil(count / this.perWorker);
    const now = Math.floor(Date.now() / 1000);
    const qps = this.plan.qpsFor(now);
    process.once('exit', this.killAll);
    for (let i = 0; i < n; i++) {
      const from = o.from + i * this.perWorker;
      const to = Math.min(o.to, from + this.perWorker - 1);
      const config = {
        id: `${o.id}/w${i + 1}`,
        host: address,
        port: o.target.port,
        path: o.target.path,
        timeoutMs: o.target.timeoutMs,
        from,
        to,
        total: o.total,
        secret: o.secret,
        tokenTtlSeconds: o.tokenTtlSeconds,
        connectConcurrency: o.connectConcurrency,
        usersPerSourceAddress: o.usersPerSourceAddress,
        qps,
        pending: this.plan.planned(),
        tickMicros: o.tickMicros ?? 0,
      };
      const w = new WorkerProcess(i, config, binary, (worker, ev) => this.onEvent(worker, ev));
      void w.exited.then((code) => this.workerExited(w, code));
      this.workers.push(w);
    }
    this.merger = new SecondMerger(n, (s) => this.handOn(s));
    this.flushTimer = setInterval(() => this.merger?.flushDue(), 250);
    const timeout = sleep(HELLO_TIMEOUT_MS).then(() => 'timeout' as const);
    const hello = Promise.all(this.workers.map((w) => Promise.race([w.hello, w.exited.then((code) => Promise.reject(new Error(`exited with ${code}`)))])));
    try {
      if ((await Promise.race([hello, timeout])) === 'timeout') throw new Error(`not every worker said hello within ${HELLO_TIMEOUT_MS} ms`);
    } catch (err) {
      this.shutDown();
      throw new Error(`hongbao-loadgen workers did not start: ${(err as Error).message}`);
    }
  }

  // ---- target rate ---------------------------------------------------------------------------

  qps(): QpsState {
    this.plan.qpsFor(Math.floor(Date.now() / 1000));
    return this.plan.state();
  }

  setQps(qps: number, at: number | null): QpsState {
    this.plan.qpsFor(Math.floor(Date.now() / 1000));
    const change = this.plan.change(qps, at, Math.floor(Date.now() / 1000) + 1);
    for (const w of this.workers) w.send({ cmd: 'qps', qps: change.qps, at: change.at });
    return { ...this.plan.state(), scheduled: change };
  }

  // ---- UserLink ------------------------------------------------------------------------------

  private workerOf(slot: number): WorkerProcess {
    return this.workers[Math.floor(slot / this.perWorker)];
  }

  reconnect(slot: number): void {
    const w = Math.floor(slot / this.perWorker);
    const batch = this.connectBatch.get(w) ?? [];
    this.connectBatch.set(w, batch);
    batch.push(this.opts.from + slot);
    this.connectFlush ??= setImmediate(() => {
      this.connectFlush = null;
      for (const [i, users] of this.connectBatch) this.workers[i].send({ cmd: 'connect', users });
      this.connectBatch.clear();
    });
  }

  /** Sent as a command; a worker that cannot write it says so (openUnsent) and Users retries. */
  sendOpen(slot: number, packetId: number): boolean {
    this.workerOf(slot).send({ cmd: 'open', user: this.opts.from + slot, packet: packetId });
    return true;
  }

  // ---- events --------------------------------------------------------------------------------

  private onEvent(w: WorkerProcess, ev: WorkerEvent): void {
    const from = this.opts.from;
    switch (ev.e) {
      case 'hello':
        return;
      case 'ready':
        for (const user of ev.users) this.users.ready(user - from);
        return;
      case 'closed':
        this.users.closed(ev.user - from, ev.code, ev.reason, ev.wasReady);
        return;
      case 'notify':
        this.users.notified(ev.user - from, ev.packet, ev.cents, ev.shares);
        return;
      case 'open':
        this.users.openAnswered(ev.user - from, ev.status, ev.packet, ev.cents, ev.micros >= 0 ? ev.micros : null);
        return;
      case 'openUnsent':
        this.users.openNotSent(ev.user - from, ev.packet);
        return;
      case 'inflight':
        w.inFlight = ev.n;
        w.reportedSinceStop = true;
        return;
      case 'second':
        this.report(w, ev);
        return;
      case 'final':
        this.report(w, ev);
        w.inFlight = 0;
        w.connected = 0;
        this.check(w, ev.total, ev.totalHistogram);
        return;
    }
  }

  private report(w: WorkerProcess, r: SecondReport): void {
    w.inFlight = r.inFlight;
    w.connected = r.connected;
    addWorkerCounters(w.applied, r.counters);
    if (r.histogram) w.appliedLatencies += decodeHistogram(r.histogram).totalCount;
    this.merger?.add(w.index, r);
  }

  /** A merged second: the workers' counts into the tally, then the second's push. */
  private handOn(s: MergedSecond): void {
    const { hits: _hits, hitCents: _hitCents, ...counts } = s.counters;
    this.tally.addCounts(counts); // hits and their cents are counted by tally.hit, item by item
    for (const [packetId, user, cents] of s.hits) this.tally.hit(packetId, user, cents);
    if (s.histogram) this.tally.addShakeLatencies(s.histogram);
    this.opts.onSecond?.(s.second, this.tally.takeSecond(this.users.connected, s.qps));
  }

  /** The worker's own totals must equal the sum of its reports. */
  private check(w: WorkerProcess, total: Record<string, number>, totalHistogram: string): void {
    const wrong = WORKER_COUNTERS.filter((c) => total[c] !== w.applied[c]).map((c) => `${c} ${w.applied[c]} reported, ${total[c]} in total`);
    const latencies = totalHistogram ? decodeHistogram(totalHistogram).totalCount : 0;
    if (latencies !== w.appliedLatencies) wrong.push(`latencies ${w.appliedLatencies} reported, ${latencies} in total`);
    if (wrong.length > 0) this.opts.log?.(`worker ${w.config.id}: its reports do not add up: ${wrong.join('; ')}`);
  }

  private workerExited(w: WorkerProcess, code: number): void {
    if (w.done || this.failure) return;
    this.failure = new Error(`worker ${w.config.id} (pid ${w.pid}, users ${w.config.from}-${w.config.to}) exited with ${code} before its final report`);
    this.opts.log?.(this.failure.message);
    this.killAll();
    this.opts.onFailure?.(this.failure);
  }

  // ---- stats and stop ------------------------------------------------------------------------

  stats(): GeneratorStats {
    return {
      id: this.opts.id,
      generator: 'native',
      users: { from: this.opts.from, to: this.opts.to, total: this.opts.total },
      connected: this.connected,
      qps: this.qps(),
      inFlight: this.workers.reduce((s, w) => s + w.inFlight, 0),
      pendingOpens: this.users.pendingOpenUsers,
      counters: this.tally.counters,
      workers: this.workers.map((w) => ({ pid: w.pid, users: { from: w.config.from, to: w.config.to }, connected: w.connected, inFlight: w.inFlight })),
    };
  }

  stop(drainMs: number): Promise<FinalTally> {
    this.stopped ??= this.finish(drainMs);
    return this.stopped;
  }

  private async finish(drainMs: number): Promise<FinalTally> {
    this.users.stop();
    for (const w of this.workers) {
      w.reportedSinceStop = false;
      w.send({ cmd: 'stop' });
    }
    const drained = () => this.workers.every((w) => w.done || (w.reportedSinceStop && w.inFlight === 0)) && this.users.pendingOpenUsers === 0;
    const deadline = Date.now() + drainMs;
    while (!this.failure && !drained() && Date.now() < deadline) await sleep(20);
    const closedAt = Date.now();
    for (const w of this.workers) w.close();
    const finals = Promise.all(this.workers.map((w) => Promise.race([w.finished, w.exited])));
    const silent = (w: WorkerProcess) => w.liveness?.silentFor(FINAL_TIMEOUT_MS) ?? false;
    const waiting = () => this.workers.filter((w) => !w.done && w.running);
    const inTime = () => Date.now() - closedAt < FINAL_CAP_MS;
    for (let wait = waiting(); !this.failure && wait.length > 0 && !wait.every(silent) && inTime(); wait = waiting()) {
      await Promise.race([finals, sleep(1000)]);
      // one poll pass before judging: starved for seconds, this process wakes with its timers due
      // and the reports still unread in the pipes (timers run before the poll), as in a million run
      await new Promise((resolve) => setImmediate(resolve));
    }
    for (const w of this.workers) {
      if (w.done || this.failure) continue;
      const why = silent(w) ? `nor anything else, and used no CPU, for ${FINAL_TIMEOUT_MS} ms` : `within ${FINAL_CAP_MS} ms of the close`;
      this.opts.log?.(`worker ${w.config.id} sent no final report ${why}: killed`);
    }
    this.shutDown();
    await Promise.all(this.workers.map((w) => w.exited));
    this.merger?.flushAll();
    if (this.failure) throw this.failure;
    return this.tally.final(this.opts.id, { from: this.opts.from, to: this.opts.to, total: this.opts.total });
  }

  /** Workers told to leave (stdin closed) and killed if still there; timers cancelled. */
  private shutDown(): void {
    if (this.flushTimer) clearInterval(this.flushTimer);
    this.flushTimer = null;
    if (this.connectFlush) clearImmediate(this.connectFlush);
    this.users.dispose();
    for (const w of this.workers) {
      w.detach();
      if (!w.done) w.kill();
    }
    process.removeListener('exit', this.killAll);
  }
}
