// Crash without loss: real load (the project's simulator over WebSocket: shakes, automatic opens of
// notified group packets; HTTP shakes; admin-created packets, some expiring), a kill of the server
// at a random moment (SIGKILL, or SIGTERM for a clean drain), a restart on the same database and the
// same ports, clients reconnecting, and after every stop a check: everything any client was told is in
// the ledger with the same cents, nothing was paid twice, the supply paid no more than its total,
// created = paid + remaining + refunded (checkLedger). After every restart a sample of the shares
// told before is opened again over HTTP and must come back as the same share ("repeat").
import { randomBytes } from 'node:crypto';
import { Simulator } from '../../src/simulator/simulator.ts';
import type { Connection } from '../../src/simulator/connection.ts';
import { ShakeResultStatus } from '../../src/protocol/codes.ts';
import { OpenStatus } from '../../src/engine/types.ts';
import { mintToken } from '../../src/auth/token.ts';
import { freePort } from '../../src/process/free-port.ts';
import { ServerProc, type ServerExit } from '../../src/process/server-proc.ts';
import { checkTold, Told, type ToldReport } from './told.ts';
import { Rng, sleep } from './rng.ts';

const ACK_GRACE_MS = 50;

export interface ChaosOptions {
  dataDir: string;
  kills: number;
  terms: number;
  seed: number;
  users: number;
  qps: number;
  /** Longest wait between "clients are back" and the signal, ms. */
  maxDelayMs: number;
  supplyTotal: number;
  supplyRate: number;
  campaignRate: number;
  serverArgs: string[];
  log(line: string): void;
}

export interface RoundResult {
  round: number;
  signal: 'SIGKILL' | 'SIGTERM';
  delayMs: number;
  connectedAtSignal: number;
  exit: ServerExit;
  closeCodes: Record<string, number>;
  acksAfterLedgerClosed: number;
  toldSoFar: ToldReport['told'];
  ok: boolean;
  differences: string[];
  repeatsChecked: number;
  repeatMismatches: string[];
  restartMs: number;
}

export interface ChaosResult {
  ok: boolean;
  seed: number;
  engine: string;
  rounds: RoundResult[];
  killsSurvived: number;
  termsClean: number;
  final: ToldReport | null;
  failure: string | null;
}

/** The simulator, plus what the chaos check needs to see: close codes and when answers arrived. */
class WatchedSimulator extends Simulator {
  closeCodes = new Map<number, number>();
  acksAfter = 0;
  ackCutoff = Infinity;

  override closed(conn: Connection, code: number, reason: string, wasReady: boolean): void {
    if (wasReady) this.closeCodes.set(code, (this.closeCodes.get(code) ?? 0) + 1);
    super.closed(conn, code, reason, wasReady);
  }

  override shakeResult(conn: Connection, requestId: number, status: number, packetId: number, cents: number): void {
    if (status === ShakeResultStatus.Hit) this.ack();
    super.shakeResult(conn, requestId, status, packetId, cents);
  }

  override openResult(conn: Connection, requestId: number, status: number, packetId: number, cents: number): void {
    if (status === OpenStatus.Ok || status === OpenStatus.Repeat) this.ack();
    super.openResult(conn, requestId, status, packetId, cents);
  }

  private ack(): void {
    if (Date.now() > this.ackCutoff) this.acksAfter++;
  }
}

/** The fields of the HTTP and admin answers the side load reads (docs/admin-api.md). */
interface SideAnswer {
  status?: string;
  packetId: number;
  cents: number;
}

/** HTTP shakes and admin packets alongside the WebSocket load; stops and settles on demand. */
class SideLoad {
  private running = false;
  private loops: Promise<void>[] = [];
  acksAfter = 0;
  ackCutoff = Infinity;
  sent = { shakes: 0, packets: 0, refused: 0, failed: 0 };

  constructor(
    private readonly told: Told,
    private readonly rng: Rng,
    private readonly users: number,
    private readonly secret: string,
    private readonly adminToken: string,
  ) {}

  start(server: ServerProc): void {
    this.running = true;
    this.loops = [this.shakeLoop(server, this.users + 1), this.shakeLoop(server, this.users + 2), this.packetLoop(server)];
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  private async call(url: string, init: RequestInit): Promise<{ status: number; body: SideAnswer | null } | null> {
    try {
      const res = await fetch(url, { ...init, signal: AbortSignal.timeout(5000) });
      const body = await res.json().catch(() => null);
      return { status: res.status, body };
    } catch {
      this.sent.failed++;
      return null;
    }
  }

  private ack(): void {
    if (Date.now() > this.ackCutoff) this.acksAfter++;
  }

  private async shakeLoop(server: ServerProc, user: number): Promise<void> {
    const auth = `Bearer ${mintToken(this.secret, user, Date.now() / 1000 + 86_400)}`;
    while (this.running) {
      this.sent.shakes++;
      const r = await this.call(`${server.http}/v1/shake`, { method: 'POST', headers: { authorization: auth } });
      if (r?.status === 200 && r.body?.status === 'hit') {
        this.ack();
        this.told.hit(r.body.packetId, user, r.body.cents);
      }
      await sleep(r ? 5 : 50);
    }
  }

  private async packetLoop(server: ServerProc): Promise<void> {
    while (this.running) {
      const shareCount = this.rng.range(1, 4);
      const recipients = new Set<number>();
      while (recipients.size < shareCount + this.rng.int(2)) recipients.add(this.rng.range(1, this.users));
      const totalCents = this.rng.range(shareCount, 3000);
      const expiresInMs = this.rng.chance(0.3) ? this.rng.range(300, 3000) : 86_400_000;
      const body = { sender: this.rng.range(1, this.users), totalCents, shareCount, recipients: [...recipients], expiresInMs };
      this.sent.packets++;
      const r = await this.call(`${server.admin}/admin/packets`, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      if (r?.status === 200 && r.body?.status === 'ok') {
        this.ack();
        this.told.packet(r.body.packetId, totalCents, shareCount);
      } else if (r) this.sent.refused++;
      await sleep(r ? 40 : 100);
    }
  }
}

async function waitFor(cond: () => boolean, timeoutMs: number, stepMs = 20): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) return false;
    await sleep(stepMs);
  }
  return true;
}

/** Opens a sample of the shares told so far again over HTTP: each must be a "repeat" with the same cents. */
async function checkRepeats(server: ServerProc, told: Told, rng: Rng, n: number): Promise<{ checked: number; mismatches: string[] }> {
  const mismatches: string[] = [];
  const shares = told.shares;
  let checked = 0;
  for (let i = 0; i < Math.min(n, shares.length); i++) {
    const [packetId, user, cents] = shares[rng.int(shares.length)];
    try {
      const res = await fetch(`${server.http}/v1/open`, {
        method: 'POST',
        headers: { authorization: `Bearer ${server.token(user)}`, 'content-type': 'application/json' },
        body: JSON.stringify({ packetId }),
        signal: AbortSignal.timeout(5000),
      });
      const body = (await res.json()) as { status: string; cents: number };
      if (res.status === 503) continue; // not rebuilt yet: nothing to conclude
      checked++;
      if (body.status !== 'repeat' || body.cents !== cents) {
        mismatches.push(`packet ${packetId} user ${user}: told ${cents} cents before the restart, now ${JSON.stringify(body)}`);
      }
    } catch (err) {
      mismatches.push(`packet ${packetId} user ${user}: ${(err as Error).message}`);
    }
  }
  return { checked, mismatches };
}

export async function runChaos(o: ChaosOptions): Promise<ChaosResult> {
  const rng = new Rng(o.seed);
  const port = await freePort();
  const adminPort = await freePort();
  const env = { HONGBAO_SECRET: randomBytes(24).toString('hex'), HONGBAO_ADMIN_TOKEN: randomBytes(24).toString('hex') };
  const start = () => ServerProc.start({ dataDir: o.dataDir, port, adminPort, host: '127.0.0.1', args: o.serverArgs, env });
  const told = new Told();
  const rounds: RoundResult[] = [];
  const result: ChaosResult = {
    ok: false,
    seed: o.seed,
    engine: process.env.HONGBAO_ENGINE ?? 'native',
    rounds,
    killsSurvived: 0,
    termsClean: 0,
    final: null,
    failure: null,
  };

  let server = await start();
  const sim = new WatchedSimulator({
    id: 'chaos',
    target: { host: '127.0.0.1', port, path: '/ws', timeoutMs: 5000 },
    from: 1,
    to: o.users,
    total: o.users,
    qps: o.qps,
    secret: env.HONGBAO_SECRET,
    tokenTtlSeconds: 86_400,
    connectConcurrency: 64,
    usersPerSourceAddress: 0,
  });
  const side = new SideLoad(told, rng, o.users, env.HONGBAO_SECRET, env.HONGBAO_ADMIN_TOKEN);
  const campaign = () =>
    server.adminFetch('POST', '/admin/campaign', {
      count: 1_000_000,
      ratePerSecond: o.campaignRate,
      recipientsPerPacket: 3,
      userFrom: 1,
      userTo: o.users,
      rule: { kind: 'range', min: 3, max: 2000 },
    });
  const supply = await server.adminFetch('POST', '/admin/supply', {
    total: o.supplyTotal,
    ratePerSecond: o.supplyRate,
    rule: { kind: 'range', min: 1, max: 500 },
  });
  if (supply.status !== 200) throw new Error(`cannot start the supply: ${JSON.stringify(supply.body)}`);
  await campaign();
  sim.start();
  side.start(server);

  const signals: Array<'SIGKILL' | 'SIGTERM'> = [...Array(o.kills).fill('SIGKILL'), ...Array(o.terms).fill('SIGTERM')];
  try {
    for (let round = 1; round <= signals.length; round++) {
      const signal = signals[round - 1];
      // load in flight: most clients back, then a random moment
      await waitFor(() => sim.connected >= o.users * 0.9, 15_000);
      const delayMs = rng.int(o.maxDelayMs + 1);
      await sleep(delayMs);
      const connectedAtSignal = sim.connected;
      if (sim.closeCodes.size > 0) o.log(`round ${round}: while the server ran, connections closed with ${JSON.stringify(Object.fromEntries(sim.closeCodes))}`);
      sim.closeCodes.clear();
      const stopping = server.stop(signal, 30_000);
      // An answer read more than ACK_GRACE_MS after the "ledger closed" line was read was sent after it.
      const watchLedgerClose = setInterval(() => {
        const closedLine = server.lines().find((l) => /ledger closed/.test(l.line));
        if (closedLine && sim.ackCutoff === Infinity) sim.ackCutoff = side.ackCutoff = closedLine.at + ACK_GRACE_MS;
      }, 2);
      const exit = await stopping;
      clearInterval(watchLedgerClose);
      const line = server.lines().find((l) => /ledger closed/.test(l.line));
      if (line && sim.ackCutoff === Infinity) sim.ackCutoff = side.ackCutoff = line.at + ACK_GRACE_MS;
      // every answer sent before the exit is read once its connection's close arrived
      await waitFor(() => sim.connected === 0, 10_000);
      await side.stop();
      await sleep(50);
      const acksAfterLedgerClosed = signal === 'SIGTERM' ? sim.acksAfter + side.acksAfter : 0;
      sim.ackCutoff = side.ackCutoff = Infinity;
      sim.acksAfter = side.acksAfter = 0;

      const now = new Told();
      now.merge(told);
      now.addTally(sim.tally.final('chaos', { from: 1, to: o.users, total: o.users }));
      const report = checkTold(server.ready.db, now);
      const differences = [...report.differences];
      if (signal === 'SIGTERM') {
        if (exit.code !== 0 || exit.hung)
          differences.push(`SIGTERM: exit code ${exit.code} (signal ${exit.signal}${exit.hung ? ', hung: killed' : ''}), expected a clean exit 0`);
        const abrupt = [...sim.closeCodes.entries()].filter(([code]) => code !== 1001);
        if (abrupt.length > 0) differences.push(`SIGTERM: connections closed with ${JSON.stringify(Object.fromEntries(abrupt))} instead of 1001`);
        if (!line) differences.push('SIGTERM: the server never said "ledger closed"');
        if (acksAfterLedgerClosed > 0) differences.push(`SIGTERM: ${acksAfterLedgerClosed} acknowledgements arrived after the ledger closed`);
      }
      const r: RoundResult = {
        round,
        signal,
        delayMs,
        connectedAtSignal,
        exit,
        closeCodes: Object.fromEntries(sim.closeCodes),
        acksAfterLedgerClosed,
        toldSoFar: report.told,
        ok: differences.length === 0,
        differences,
        repeatsChecked: 0,
        repeatMismatches: [],
        restartMs: 0,
      };
      rounds.push(r);
      sim.closeCodes.clear();
      if (!r.ok) {
        result.failure = `round ${round} (${signal} after ${delayMs} ms): ${differences.slice(0, 5).join('; ')}`;
        o.log(result.failure);
        break;
      }
      if (signal === 'SIGKILL') result.killsSurvived++;
      else result.termsClean++;

      const t0 = Date.now();
      server = await start();
      r.restartMs = Date.now() - t0;
      const again = await checkRepeats(server, now, rng, 20);
      r.repeatsChecked = again.checked;
      r.repeatMismatches = again.mismatches;
      o.log(
        `round ${round}/${signals.length}: ${signal} at +${delayMs} ms with ${connectedAtSignal} connected, exit ${exit.code ?? exit.signal} in ${exit.ms} ms; ` +
          `told so far ${report.told.hits} hits / ${report.told.shares} shares / ${report.told.packets} packets, all in the ledger; ` +
          `restart ${r.restartMs} ms, ${again.checked} repeat opens same share${again.mismatches.length ? `, MISMATCHES ${again.mismatches.length}` : ''}`,
      );
      if (again.mismatches.length > 0) {
        r.ok = false;
        result.failure = `round ${round}: after the restart ${again.mismatches.slice(0, 3).join('; ')}`;
        break;
      }
      await campaign();
      side.start(server);
    }
  } finally {
    await side.stop();
    await sim.stop(2000);
    if (server.alive) await server.stop('SIGTERM');
  }
  const all = new Told();
  all.merge(told);
  all.addTally(sim.tally.final('chaos', { from: 1, to: o.users, total: o.users }));
  result.final = checkTold(server.ready.db, all);
  if (!result.final.ok && result.failure === null) result.failure = `final check: ${result.final.differences.slice(0, 5).join('; ')}`;
  result.ok = result.failure === null && result.final.ok;
  return result;
}
