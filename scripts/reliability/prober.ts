// Well-behaved users beside the trouble (fuzzing, slow readers, overload): each logs in, then every
// `intervalMs` asks one thing in turn — a shake, an open of a packet it is a recipient of, the details
// of it — and waits for the answer. Latency of every answer goes into one HDR histogram; a missing
// answer or an unexpected close is a failure. What they are told is recorded for the ledger check.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { latencyHistogram, recordMicros, summarize, type LatencySummary } from '../../src/simulator/histogram.ts';
import { mintToken } from '../../src/auth/token.ts';
import { ClientType, ServerType } from '../../src/protocol/codes.ts';
import { sleep } from './rng.ts';
import type { Told } from './told.ts';
import { WsLink } from './ws-link.ts';

export interface ProberOptions {
  url: string;
  secret: string;
  users: number[];
  /** packet each user may open (it is a recipient), by user */
  packetOf: Map<number, number>;
  intervalMs: number;
  told: Told;
  answerTimeoutMs?: number;
}

export interface ProberResult {
  requests: number;
  answered: number;
  failures: string[];
  latency: LatencySummary;
}

const u32 = (b: Uint8Array, at: number) => (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;

function frame(type: number, requestId: number, body: Uint8Array = new Uint8Array(0)): Uint8Array {
  const b = new Uint8Array(6 + body.length);
  b[0] = 1;
  b[1] = type;
  new DataView(b.buffer).setUint32(2, requestId, true);
  b.set(body, 6);
  return b;
}

function u32Body(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}

export class Prober {
  private running = false;
  private loops: Promise<void>[] = [];
  private readonly latency = latencyHistogram();
  private readonly failures: string[] = [];
  private requests = 0;
  private answered = 0;

  constructor(private readonly o: ProberOptions) {}

  async start(): Promise<void> {
    this.running = true;
    const links = await Promise.all(this.o.users.map((u) => this.login(u)));
    this.loops = links.map((link, i) => this.loop(link, this.o.users[i]));
  }

  private async login(user: number): Promise<WsLink> {
    const link = await WsLink.connect(this.o.url);
    const token = Buffer.from(mintToken(this.o.secret, user, Date.now() / 1000 + 86_400));
    const body = new Uint8Array(5 + token.length);
    new DataView(body.buffer).setUint32(0, user, true);
    body[4] = token.length;
    body.set(token, 5);
    link.send(frame(ClientType.Login, 0, body));
    const e = await link.next(5000);
    if (e?.kind !== 'frame' || e.bytes[1] !== ServerType.LoginOk) throw new Error(`prober user ${user} could not log in`);
    return link;
  }

  private async loop(link: WsLink, user: number): Promise<void> {
    let requestId = 1;
    const packetId = this.o.packetOf.get(user) ?? 0;
    while (this.running) {
      const id = requestId++;
      const what = id % 3;
      const bytes = what === 0 ? frame(ClientType.Shake, id) : frame(what === 1 ? ClientType.Open : ClientType.Details, id, u32Body(packetId));
      const sent = performance.now();
      this.requests++;
      link.send(bytes);
      const e = await link.next(this.o.answerTimeoutMs ?? 5000);
      if (e === null || e.kind === 'close') {
        this.failures.push(`user ${user}: ${e === null ? 'no answer' : `closed ${e.code}`} to request ${id}`);
        if (e?.kind === 'close' || !this.running) return;
        continue;
      }
      const b = e.bytes;
      if (u32(b, 2) !== id) {
        this.failures.push(`user ${user}: answer for request ${u32(b, 2)}, asked ${id}`);
        continue;
      }
      this.answered++;
      recordMicros(this.latency, (performance.now() - sent) * 1000);
      if (b[1] === ServerType.ShakeResult && b[6] === 1) this.o.told.hit(u32(b, 7), user, u32(b, 11));
      if (b[1] === ServerType.OpenResult && (b[6] === 0 || b[6] === 1)) this.o.told.share(u32(b, 7), user, u32(b, 11));
      await sleep(this.o.intervalMs);
    }
    link.close();
  }

  async stop(): Promise<ProberResult> {
    this.running = false;
    await Promise.all(this.loops);
    return { requests: this.requests, answered: this.answered, failures: this.failures.slice(0, 20), latency: summarize(this.latency) };
  }

  /** Latency so far (the histogram keeps running). */
  summary(): LatencySummary {
    return summarize(this.latency);
  }
}

// ---- in a process of its own, so that the trouble-makers' own event loop does not count as the server's latency

export interface ProberProcessResult extends ProberResult {
  told: { hits: Told['hits']; shares: Told['shares'] };
}

/** Runs a Prober in a child process (scripts/reliability/prober-child.ts). */
export class ProberProcess {
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly child: ChildProcessByStdio<Writable, Readable, null>,
    private readonly lines: AsyncIterator<string>,
  ) {}

  static async start(o: Omit<ProberOptions, 'told'>): Promise<ProberProcess> {
    const entry = fileURLToPath(new URL('./prober-child.ts', import.meta.url));
    const config = JSON.stringify({ ...o, packetOf: [...o.packetOf.entries()] });
    const child = spawn(process.execPath, ['--import', 'tsx', entry, config], { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const first = await lines.next();
    if (first.done || JSON.parse(first.value).event !== 'ready') throw new Error(`prober process did not start: ${first.value}`);
    return new ProberProcess(child, lines);
  }

  /** One command, one answer line; commands queue so answers never cross. */
  private ask<T>(command: string): Promise<T> {
    const run = this.queue.then(async () => {
      this.child.stdin.write(`${command}\n`);
      return JSON.parse((await this.lines.next()).value) as T;
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Latency so far. */
  summary(): Promise<LatencySummary> {
    return this.ask('summary');
  }

  async stop(told?: Told): Promise<ProberProcessResult> {
    const r = await this.ask<ProberProcessResult>('stop');
    this.child.stdin.end();
    if (told) {
      for (const h of r.told.hits) told.hit(...h);
      for (const s of r.told.shares) told.share(...s);
    }
    return { ...r, told: { hits: [], shares: [] } };
  }
}
