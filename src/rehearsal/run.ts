// One rehearsal end to end: monitor, server, client processes, the phases, the drain, the ledger read
// after the server exited, the reconciliation and the report files.
import { randomBytes } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { checkLedger } from '../ledger/check.ts';
import type { Totals } from '../engine/types.ts';
import { readLedgerItems } from '../report/ledger-items.ts';
import { reconcile } from '../report/reconcile.ts';
import { phaseStats, type PhaseWindow } from '../report/phase-stats.ts';
import { moneyFrom, type RehearsalReport } from '../report/report-json.ts';
import { reportHtml } from '../report/report-html.ts';
import { readSeries } from '../monitor/series-writer.ts';
import type { FinishResult } from '../monitor/monitor.ts';
import type { SeriesRow } from '../monitor/collector.ts';
import { mergeEncoded, summarize } from '../simulator/histogram.ts';
import { zeroCounters, COUNTERS, type FinalTally } from '../simulator/tally.ts';
import { startChild, stopChild, httpJson, tail, type Child } from './processes.ts';
import { timedPhases, userRanges, type RehearsalConfig } from './phases.ts';
import type { ProgressPrinter } from './progress.ts';
import type { QpsState } from '../simulator/control.ts';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)));
const nowSecond = () => Math.floor(Date.now() / 1000);

interface ClientStats {
  connected: number;
  inFlight: number;
  pendingOpens: number;
  counters: { sent: number };
}

interface ServerStats {
  connections: number;
  second: { shakes: number; hits: number; opens: number };
  totals: Totals;
}

export class Rehearsal {
  private readonly children: Child[] = [];
  /** every process started, ready or not, so that none outlives the rehearsal */
  private readonly spawned: ChildProcess[] = [];
  private readonly problems: string[] = [];
  private aborted = false;
  private phase = 'start';
  private phaseTarget = 0;
  private progressTimer: NodeJS.Timeout | null = null;
  private readonly startedAt = Date.now();
  private monitorUrl = '';
  private adminUrl = '';
  private clientUrls: string[] = [];
  private readonly adminToken = randomBytes(24).toString('base64url');
  private readonly windows: PhaseWindow[] = [];
  private lastSent: { total: number; at: number } | null = null;

  constructor(
    private readonly cfg: RehearsalConfig,
    private readonly outDir: string,
    private readonly printer: ProgressPrinter,
  ) {}

  /** Why a failed run failed, as far as the children tell: who exited, with what, their last log lines. */
  diagnose(): string {
    return this.children
      .filter((c) => c.proc.exitCode !== null && c.proc.exitCode !== 0)
      .map((c) => `${c.name} exited with ${c.proc.exitCode}; ${c.logFile}:\n${tail(c.logFile)}`)
      .join('\n');
  }

  /** Ctrl-C: stop every child now. */
  abort(): void {
    this.aborted = true;
    for (const p of this.spawned) p.kill('SIGKILL');
  }

  async run(): Promise<RehearsalReport> {
    const { cfg, outDir } = this;
    const logs = path.join(outDir, 'logs');
    mkdirSync(logs, { recursive: true });
    mkdirSync(path.join(outDir, 'clients'), { recursive: true });
    const dataDir = mkdtempSync(path.join(tmpdir(), 'hongbao-rehearsal-data-'));
    const env = { ...process.env, HONGBAO_SECRET: randomBytes(32).toString('base64url'), HONGBAO_ADMIN_TOKEN: this.adminToken };
    const start = (name: string, args: string[], readyTimeoutMs = 60_000) =>
      startChild(name, args, { env, logFile: path.join(logs, `${name}.log`), readyTimeoutMs, onSpawn: (p) => this.spawned.push(p) }).then((c) => {
        this.children.push(c);
        return c;
      });
    try {
      // ---- processes
      const monitor = await start('monitor', ['monitor', '--port', '0', '--out', outDir, '--quiet', '--lag-ms', '2000']);
      this.monitorUrl = `http://127.0.0.1:${monitor.ready.port}`;
      const serverArgs = ['server', '--port', '0', '--admin-port', '0', '--data', dataDir, '--monitor', this.monitorUrl];
      if (cfg.threads !== null) serverArgs.push('--threads', String(cfg.threads));
      const perUser = Math.ceil(Math.max(cfg.qps1, cfg.qps2) / cfg.users);
      if (perUser * 4 > 50) serverArgs.push('--max-messages-per-second', String(perUser * 4));
      const server = await start('server', serverArgs);
      this.adminUrl = `http://127.0.0.1:${server.ready.adminPort}`;
      const wsUrl = `ws://127.0.0.1:${server.ready.port}/ws`;
      const dbFile = String(server.ready.db);
      this.printer.note(
        `server: ${server.ready.engine} engine, ${server.ready.threads} thread(s), pid ${server.ready.pid}; live dashboard ${this.monitorUrl}/ ; output ${outDir}`,
      );
      this.startProgress();

      // ---- connect
      const ranges = userRanges(cfg.users, cfg.usersPerProcess);
      const connectStart = nowSecond();
      await this.markPhase('connect', connectStart, 0);
      const clients = await Promise.all(
        ranges.map((r, i) =>
          start(`clients-${i + 1}`, [
            'clients',
            '--server',
            wsUrl,
            '--users',
            `${r.from}-${r.to}`,
            '--total',
            String(cfg.users),
            '--monitor',
            this.monitorUrl,
            '--id',
            `clients-${i + 1}`,
            '--out',
            path.join(outDir, 'clients', `clients-${i + 1}.json`),
            '--quiet',
            ...(cfg.generator ? ['--generator', cfg.generator] : []),
          ]),
        ),
      );
      this.clientUrls = clients.map((c) => `http://127.0.0.1:${c.ready.controlPort}`);
      const connectDeadline = Date.now() + cfg.connectTimeoutSeconds * 1000;
      let connected = 0;
      while (!this.aborted && Date.now() < connectDeadline) {
        connected = (await this.clientStats()).reduce((sum, s) => sum + s.connected, 0);
        if (connected === cfg.users) break;
        await sleep(250);
      }
      const connectSeconds = (Date.now() - connectStart * 1000) / 1000;
      if (connected !== cfg.users) this.problems.push(`only ${connected} of ${cfg.users} users connected within ${cfg.connectTimeoutSeconds} s`);
      this.printer.note(`connected ${connected.toLocaleString('en-US')} users in ${connectSeconds.toFixed(1)} s over ${clients.length} client process(es)`);

      // ---- timed phases, back to back. The whole load plan goes to every client process before
      // step 1 (the rate of each phase from its first second, then 0 from the drain's), so the load
      // switches in the planned seconds however late this process gets to run.
      const plan = timedPhases(cfg);
      const starts = [plan.length > 0 ? await this.switchLoad(plan[0].qps, 0) : nowSecond() + 2];
      for (const p of plan) starts.push(starts[starts.length - 1] + p.seconds);
      const drainAt = starts[plan.length];
      for (let i = 1; i <= plan.length; i++) await this.planLoad(i < plan.length ? plan[i].qps : 0, starts[i]);
      for (const [i, p] of plan.entries()) {
        await this.sleepUntil(starts[i] * 1000);
        await this.markPhase(p.name, starts[i], p.qps);
        if (p.startSupply) {
          await this.admin('POST', '/admin/supply', { total: cfg.supplyTotal, ratePerSecond: cfg.supplyRate, rule: cfg.supplyRule });
        }
        if (p.startCampaign) {
          await this.admin('POST', '/admin/campaign', {
            count: cfg.groupTotal,
            ratePerSecond: cfg.groupRate,
            recipientsPerPacket: cfg.recipients,
            userFrom: 1,
            userTo: cfg.users,
            rule: cfg.groupRule,
            expiresInMs: 86_400_000,
          });
        }
      }

      // ---- drain
      await this.sleepUntil(drainAt * 1000);
      await this.markPhase('drain', drainAt, 0);
      await this.admin('DELETE', '/admin/supply');
      await this.admin('DELETE', '/admin/campaign');
      const drainDeadline = Date.now() + cfg.drainTimeoutSeconds * 1000;
      await sleep(1500);
      while (!this.aborted && Date.now() < drainDeadline) {
        const stats = await this.clientStats();
        if (stats.every((s) => s.inFlight === 0 && s.pendingOpens === 0)) break;
        await sleep(200);
      }
      const expired = await this.admin<{ expired: number; refundedCents: number }>('POST', '/admin/expire', {});
      this.printer.note(`drain: expired ${expired.expired} group packet(s), ${expired.refundedCents} cents refunded to their senders`);
      await sleep(1200);
      const serverStats = await this.admin<ServerStats>('GET', '/stats');
      const drainEnd = nowSecond() + 1;
      this.stopProgress();

      // ---- stop clients, then the server, then the monitor
      const tallies: FinalTally[] = [];
      for (const [i, url] of this.clientUrls.entries()) {
        try {
          tallies.push(await httpJson<FinalTally>(`${url}/stop?drainMs=3000`, { method: 'POST', timeoutMs: 30_000 }));
        } catch (err) {
          const file = path.join(outDir, 'clients', `clients-${i + 1}.json`);
          if (existsSync(file)) tallies.push(JSON.parse(readFileSync(file, 'utf8')) as FinalTally);
          else this.problems.push(`client process ${i + 1}: no final tally (${(err as Error).message})`);
        }
      }
      for (const c of clients) {
        const code = await stopChild(c, 'SIGTERM', 10_000, 5000);
        if (code !== 0) this.problems.push(`${c.name} exited with ${code}; log ${c.logFile}:\n${tail(c.logFile)}`);
      }
      const serverExit = await stopChild(server, 'SIGTERM', 60_000);
      if (serverExit !== 0) this.problems.push(`the server exited with ${serverExit}; log ${server.logFile}:\n${tail(server.logFile)}`);
      await sleep(2200); // the monitor's lag: let it take the last pushes
      const finished = await httpJson<FinishResult>(`${this.monitorUrl}/finish`, { method: 'POST', body: {}, timeoutMs: 180_000 });
      const monitorExit = await stopChild(monitor, 'SIGTERM', 10_000, 5000);
      if (monitorExit !== 0) this.problems.push(`the monitor exited with ${monitorExit}`);

      // ---- the ledger, read after the server exited
      const ledgerCopy = path.join(outDir, 'ledger.db');
      await copyDatabase(dbFile, ledgerCopy);
      const check = checkLedger(ledgerCopy);
      const items = readLedgerItems(ledgerCopy);
      const reconciliation = reconcile({ check, items, serverTotals: serverStats.totals ?? null, tallies });

      // ---- report
      const rows = readSeries(outDir);
      this.windows.push({ name: 'end', start: drainEnd, end: drainEnd, targetQps: 0 });
      const phases = this.windows.slice(0, -1).map((w, i) => phaseStats(rows, { ...w, end: this.windows[i + 1].start }));
      const clientCounters = zeroCounters();
      for (const t of tallies) for (const k of COUNTERS) clientCounters[k] += t.counters[k] ?? 0;
      const report: RehearsalReport = {
        ok: reconciliation.ok && this.problems.length === 0,
        engine: String(server.ready.engine),
        threads: Number(server.ready.threads),
        users: cfg.users,
        clientProcesses: clients.length,
        startedAt: new Date(this.startedAt).toISOString(),
        durationSeconds: Math.round((Date.now() - this.startedAt) / 100) / 10,
        config: { ...cfg, connectSeconds: Math.round(connectSeconds * 10) / 10 },
        phases,
        ...moneyFrom(reconciliation),
        latency: summarize(mergeEncoded(tallies.map((t) => t.latency.histogram))),
        clientCounters,
        reconciliation,
        monitor: { rows: finished.rows, late: finished.late, rejected: finished.rejected },
        files: {
          report: 'report.json',
          html: 'report.html',
          series: ['series.jsonl', 'series.csv'],
          phases: 'phases.json',
          plots: finished.plots.flatMap((p) => [p.svg, p.png].filter((f): f is string => f !== null).map((f) => path.relative(outDir, f))),
          ledger: 'ledger.db',
          tallies: clients.map((_, i) => `clients/clients-${i + 1}.json`),
          logs: this.children.map((c) => path.relative(outDir, c.logFile)),
        },
        problems: this.problems,
      };
      writeFileSync(path.join(outDir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
      const plots = finished.plots.map((p) => ({ title: p.title, svg: readFileSync(p.svg, 'utf8') }));
      writeFileSync(path.join(outDir, 'report.html'), reportHtml(report, plots));
      return report;
    } finally {
      this.stopProgress();
      for (const p of this.spawned) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    }
  }

  // ---- helpers ---------------------------------------------------------------------------------

  private async admin<T = unknown>(method: string, route: string, body?: unknown): Promise<T> {
    return httpJson<T>(`${this.adminUrl}${route}`, { method, body, token: this.adminToken, timeoutMs: 15_000 });
  }

  private async clientStats(): Promise<ClientStats[]> {
    return Promise.all(this.clientUrls.map((u) => httpJson<ClientStats>(`${u}/stats`, { timeoutMs: 5000 })));
  }

  /** Tell every client process the new rate from second `wanted`, or from a later second when that
   *  is too close for one of them (a busy process may already be in it): the answer with the latest
   *  second wins and is sent to all again, so that every process switches in the same second. */
  private async switchLoad(qps: number, wanted: number): Promise<number> {
    let at = Math.max(wanted, nowSecond() + (Date.now() % 1000 < 400 ? 1 : 2));
    for (let attempt = 0; attempt < 5; attempt++) {
      const answers = await this.requestRate(qps, at);
      const latest = Math.max(...answers.map((a) => a.scheduled?.at ?? Number.MAX_SAFE_INTEGER));
      if (latest === at) return at;
      at = Math.max(latest, nowSecond() + 1);
    }
    this.problems.push(`the client processes did not agree on a second to switch to ${qps} shakes per second`);
    return at;
  }

  /** Plan a rate change for a second well ahead; every process must take it for that very second. */
  private async planLoad(qps: number, at: number): Promise<void> {
    const answers = await this.requestRate(qps, at);
    answers.forEach((a, i) => {
      if (a.scheduled?.at !== at) this.problems.push(`client process ${i + 1} planned ${qps} shakes per second from second ${a.scheduled?.at}, not ${at}`);
    });
  }

  /** Ask every client process for `qps` from second `at`; each answers the second it scheduled. */
  private requestRate(qps: number, at: number): Promise<QpsState[]> {
    return Promise.all(this.clientUrls.map((u) => httpJson<QpsState>(`${u}/qps?qps=${qps}&at=${at}`)));
  }

  private async markPhase(name: string, second: number, targetQps: number): Promise<void> {
    this.phase = name;
    this.phaseTarget = targetQps;
    this.windows.push({ name, start: second, end: second, targetQps });
    await httpJson(`${this.monitorUrl}/phase`, { body: { name, second } }).catch(() => undefined);
  }

  private async sleepUntil(ms: number): Promise<void> {
    while (!this.aborted && Date.now() < ms) await sleep(Math.min(250, ms - Date.now()));
    if (this.aborted) throw new Error('aborted');
  }

  private startProgress(): void {
    let busy = false;
    this.progressTimer = setInterval(() => {
      if (busy) return;
      busy = true;
      void this.sampleProgress().finally(() => (busy = false));
    }, 1000);
  }

  private stopProgress(): void {
    if (this.progressTimer) clearInterval(this.progressTimer);
    this.progressTimer = null;
  }

  private async sampleProgress(): Promise<void> {
    const [server, clients, latest] = await Promise.all([
      this.admin<ServerStats>('GET', '/stats').catch(() => null),
      this.clientUrls.length ? this.clientStats().catch(() => null) : Promise.resolve(null),
      httpJson<SeriesRow | null>(`${this.monitorUrl}/latest`).catch(() => null),
    ]);
    let clientQps: number | null = null;
    if (clients) {
      const total = clients.reduce((sum, c) => sum + c.counters.sent, 0);
      const at = Date.now();
      if (this.lastSent) clientQps = ((total - this.lastSent.total) * 1000) / (at - this.lastSent.at);
      this.lastSent = { total, at };
    }
    this.printer.update({
      phase: this.phase,
      elapsedSeconds: (Date.now() - this.startedAt) / 1000,
      targetQps: this.phaseTarget,
      clientQps,
      serverQps: server?.second.shakes ?? null,
      hits: server?.second.hits ?? null,
      opens: server?.second.opens ?? null,
      connected: clients ? clients.reduce((sum, c) => sum + c.connected, 0) : null,
      users: this.cfg.users,
      p99Ms: typeof latest?.client?.p99Ms === 'number' && latest.client.processes > 0 ? latest.client.p99Ms : null,
    });
  }
}

/** A consistent single-file copy of a SQLite database (WAL folded in). */
async function copyDatabase(from: string, to: string): Promise<void> {
  rmSync(to, { force: true });
  const db = new Database(from, { readonly: true, fileMustExist: true });
  try {
    await db.backup(to);
  } finally {
    db.close();
  }
}
