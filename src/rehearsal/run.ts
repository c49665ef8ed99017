// One rehearsal end to end: the monitor, the service (one server, or N access nodes on a Redis
// Cluster), the client processes, the phases, the drain, the money read after the nodes stopped,
// the reconciliation and the report files. Every process is started through one ChildSet, so none
// outlives the rehearsal, also when it fails.
import { readFileSync, mkdirSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { mintToken } from '../auth/token.ts';
import { pageLink } from '../cluster/local-cluster.ts';
import type { Totals } from '../engine/types.ts';
import type { SeriesRow } from '../monitor/collector.ts';
import type { FinishResult } from '../monitor/monitor.ts';
import { readSeries } from '../monitor/series-writer.ts';
import { sumTotals } from '../monitor/collector.ts';
import { type Child, ChildSet, hongbaoCommand, tail } from '../process/child.ts';
import { httpJson } from '../process/http-json.ts';
import { phaseStats, type PhaseWindow } from '../report/phase-stats.ts';
import { reconcile } from '../report/reconcile.ts';
import { reportHtml } from '../report/report-html.ts';
import { moneyFrom, type NodeFigures, type RehearsalReport } from '../report/report-json.ts';
import type { StatsDocument } from '../server/server.ts';
import type { QpsState } from '../simulator/control.ts';
import { mergeEncoded, summarize } from '../simulator/histogram.ts';
import { COUNTERS, type FinalTally, zeroCounters } from '../simulator/tally.ts';
import { phaseCpu, ResourceSampler } from './resources.ts';
import { type RehearsalConfig, timedPhases, userRanges } from './phases.ts';
import type { ProgressPrinter } from './progress.ts';
import { type Service, startService } from './service.ts';

/** How long before its phase the supply is begun, by store (see the phase loop). */
const SUPPLY_LEAD_MS = { 'redis-cluster': 900, sqlite: 400 } as const;
/** How long the drain's stop and expire calls are asked again while node 1 answers 503. Run 13 of the
 *  preset lost its reconciliation to one "Command timed out" on DELETE /admin/supply after step 2. */
const STOP_RETRY_MS = 60_000;
/** The progress line's others' share is taken over this much of the run. */
const OTHERS_WINDOW_MS = 5000;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)));
const nowSecond = () => Math.floor(Date.now() / 1000);

interface ClientStats {
  connected: number;
  inFlight: number;
  pendingOpens: number;
  counters: { sent: number };
}

/** The sum of every node's totals (each node's own share: see docs/cluster.md). */
function clusterTotals(stats: Array<StatsDocument | null>): Totals | null {
  const parts = stats.filter((s): s is StatsDocument => s !== null).map((s) => s.totals);
  if (parts.length !== stats.length || parts.length === 0) return null;
  return sumTotals(parts) as Totals;
}

export class Rehearsal {
  private readonly children = new ChildSet();
  private readonly problems: string[] = [];
  private aborted = false;
  private phase = 'start';
  private phaseTarget = 0;
  private progressTimer: NodeJS.Timeout | null = null;
  private readonly startedAt = Date.now();
  private monitorUrl = '';
  private service: Service | null = null;
  private clients: Child[] = [];
  private clientUrls: string[] = [];
  private readonly windows: PhaseWindow[] = [];
  private lastSent: { total: number; at: number } | null = null;
  private lastConnected: { total: number; at: number } | null = null;
  private connectedPeak = 0;
  private resources: ResourceSampler | null = null;

  constructor(
    private readonly cfg: RehearsalConfig,
    private readonly outDir: string,
    private readonly printer: ProgressPrinter,
  ) {}

  /** Why a failed run failed, as far as the children tell: who exited, with what, their last log lines. */
  diagnose(): string {
    return this.children.all
      .filter((c) => c.proc.exitCode !== null && c.proc.exitCode !== 0)
      .map((c) => `${c.name} exited with ${c.proc.exitCode}; ${c.logFile}:\n${tail(c.logFile)}`)
      .join('\n');
  }

  /** Ctrl-C: stop every child now. */
  abort(): void {
    this.aborted = true;
    this.children.killAll();
  }

  private async start(name: string, args: string[], env: NodeJS.ProcessEnv, readyTimeoutMs = 120_000): Promise<Child> {
    const { command, args: argv } = hongbaoCommand(args);
    return this.children.start({ name, command, args: argv, env, logFile: path.join(this.outDir, 'logs', `${name}.log`), readyTimeoutMs });
  }

  async run(): Promise<RehearsalReport> {
    const { cfg, outDir } = this;
    mkdirSync(path.join(outDir, 'logs'), { recursive: true });
    mkdirSync(path.join(outDir, 'clients'), { recursive: true });
    try {
      // ---- processes
      const monitor = await this.start('monitor', ['monitor', '--port', '0', '--out', outDir, '--quiet', '--lag-ms', '2000'], process.env);
      this.monitorUrl = `http://127.0.0.1:${monitor.ready?.port}`;
      const perUser = Math.ceil(Math.max(cfg.qps1, cfg.qps2) / cfg.users);
      const serverArgs = [
        ...(perUser * 4 > 50 ? ['--max-messages-per-second', String(perUser * 4)] : []),
        ...(cfg.privateFds ? ['--private-fds'] : []),
        ...(cfg.loopSampleMs !== undefined ? ['--loop-sample-ms', String(cfg.loopSampleMs)] : []),
      ];
      this.printer.note(cfg.nodes > 1 ? `starting a Redis Cluster and ${cfg.nodes} access nodes` : 'starting the server');
      const service = await startService({
        nodes: cfg.nodes,
        threads: cfg.threads,
        monitorUrl: this.monitorUrl,
        serverArgs,
        nodeArgs: cfg.nodeArgs,
        outDir,
        children: this.children,
        log: (m) => this.printer.note(m),
      });
      this.service = service;
      this.printer.note(
        `${service.store === 'sqlite' ? 'server' : `${service.nodes} access nodes on one port, Redis Cluster`}: ${service.engine} engine; live dashboard ${this.monitorUrl}/ ; output ${outDir}`,
      );
      if (cfg.spareUser) {
        const token = mintToken(service.secret, cfg.spareUser, Date.now() / 1000 + 86_400);
        this.printer.note(
          `the shake page, signed in as spare user ${cfg.spareUser} (it gets packets like the simulated users): ${pageLink(service.port, cfg.spareUser, token)}`,
        );
      }
      this.resources = new ResourceSampler(() => ({
        nodes: service.pids().nodes,
        redis: service.pids().redis,
        clients: this.clients.flatMap((c) => [c.pid, ...((c.ready?.workerPids as number[] | undefined) ?? [])]),
        monitor: [monitor.pid],
      }));
      this.resources.start();
      this.startProgress();

      // ---- connect
      const env = { ...process.env, HONGBAO_SECRET: service.secret };
      const ranges = userRanges(cfg.users, cfg.usersPerProcess);
      const connectStart = Date.now();
      await this.markPhase('connect', nowSecond(), 0);
      this.clients = await Promise.all(
        ranges.map((r, i) =>
          this.start(
            `clients-${i + 1}`,
            [
              'clients',
              '--server',
              service.wsUrl,
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
              ...(cfg.workerTickUs !== undefined ? ['--worker-tick-us', String(cfg.workerTickUs)] : []),
              ...(cfg.usersPerWorker !== undefined ? ['--users-per-worker', String(cfg.usersPerWorker)] : []),
            ],
            env,
          ),
        ),
      );
      this.clientUrls = this.clients.map((c) => `http://127.0.0.1:${c.ready?.controlPort}`);
      const connectDeadline = Date.now() + cfg.connectTimeoutSeconds * 1000;
      let connected = 0;
      while (!this.aborted && Date.now() < connectDeadline) {
        connected = (await this.clientStats()).reduce((sum, s) => sum + s.connected, 0);
        this.connectedPeak = Math.max(this.connectedPeak, connected);
        if (connected === cfg.users) break;
        await sleep(250);
      }
      const connectSeconds = (Date.now() - connectStart) / 1000;
      if (connected !== cfg.users) this.problems.push(`only ${connected} of ${cfg.users} users connected within ${cfg.connectTimeoutSeconds} s`);
      this.printer.note(
        `connected ${connected.toLocaleString('en-US')} users in ${connectSeconds.toFixed(1)} s (${Math.round(connected / connectSeconds).toLocaleString('en-US')}/s) over ${this.clients.length} client process(es)`,
      );

      // ---- timed phases, back to back. The whole load plan goes to every client process before
      // step 1 (the rate of each phase from its first second, then 0 from the drain's), so the load
      // switches in the planned seconds however late this process gets to run.
      const plan = timedPhases(cfg);
      const starts = [plan.length > 0 ? await this.switchLoad(plan[0].qps, 0) : nowSecond() + 2];
      for (const p of plan) starts.push(starts[starts.length - 1] + p.seconds);
      const drainAt = starts[plan.length];
      for (let i = 1; i <= plan.length; i++) await this.planLoad(i < plan.length ? plan[i].qps : 0, starts[i]);
      for (const [i, p] of plan.entries()) {
        if (p.startSupply) {
          // Begun in the second before the phase, so that the first release is in the phase's first
          // second: a cluster releases from the second after the one a supply began in (early in
          // that second: the admin call may be slow on a busy node), a single server in the middle
          // of each second after its begin (late enough not to release in the second before).
          await this.sleepUntil(starts[i] * 1000 - SUPPLY_LEAD_MS[this.service?.store ?? 'sqlite']);
          await this.admin('POST', '/admin/supply', { total: cfg.supplyTotal, ratePerSecond: cfg.supplyRate, rule: cfg.supplyRule });
        }
        await this.sleepUntil(starts[i] * 1000);
        await this.markPhase(p.name, starts[i], p.qps);
        if (p.startCampaign) {
          await this.admin('POST', '/admin/campaign', {
            count: cfg.groupTotal,
            ratePerSecond: cfg.groupRate,
            recipientsPerPacket: cfg.recipients,
            userFrom: 1,
            // the spare user is one more user of the campaign's range: packets reach the page too
            userTo: cfg.spareUser === cfg.users + 1 ? cfg.users + 1 : cfg.users,
            rule: cfg.groupRule,
            expiresInMs: 86_400_000,
          });
        }
      }

      // ---- drain
      await this.sleepUntil(drainAt * 1000);
      await this.markPhase('drain', drainAt, 0);
      await this.admin('DELETE', '/admin/supply', undefined, STOP_RETRY_MS);
      await this.admin('DELETE', '/admin/campaign', undefined, STOP_RETRY_MS);
      const drainDeadline = Date.now() + cfg.drainTimeoutSeconds * 1000;
      await sleep(1500);
      const drainStarted = Date.now();
      let outstanding = { answers: 0, opens: 0 };
      while (!this.aborted) {
        const stats = await this.clientStats();
        outstanding = { answers: stats.reduce((n, s) => n + s.inFlight, 0), opens: stats.reduce((n, s) => n + s.pendingOpens, 0) };
        if ((outstanding.answers === 0 && outstanding.opens === 0) || Date.now() >= drainDeadline) break;
        await sleep(200);
      }
      const waited = ((Date.now() - drainStarted) / 1000).toFixed(1);
      if (outstanding.answers > 0 || outstanding.opens > 0) {
        this.printer.note(
          `drain: ${outstanding.answers} answer(s) and ${outstanding.opens} open(s) still outstanding after ${waited} s (--drain-timeout ${cfg.drainTimeoutSeconds}): the tallies will miss them`,
        );
      } else this.printer.note(`drain: every answer and open arrived (${waited} s)`);
      const expired = await this.admin<{ expired: number; refundedCents: number }>('POST', '/admin/expire', {}, STOP_RETRY_MS);
      this.printer.note(`drain: expired ${expired.expired} group packet(s), ${expired.refundedCents} cents refunded to their senders`);
      await sleep(1200);
      const nodeStats = await service.stats();
      const serverTotals = clusterTotals(nodeStats);
      const drainEnd = nowSecond() + 1;
      this.stopProgress();

      // ---- stop clients, then the nodes, then the monitor
      const tallies: FinalTally[] = [];
      for (const [i, url] of this.clientUrls.entries()) {
        try {
          tallies.push(await httpJson<FinalTally>(`${url}/stop?drainMs=3000`, { method: 'POST', timeoutMs: 120_000 }));
        } catch (err) {
          const file = path.join(outDir, 'clients', `clients-${i + 1}.json`);
          if (existsSync(file)) tallies.push(JSON.parse(readFileSync(file, 'utf8')) as FinalTally);
          else this.problems.push(`client process ${i + 1}: no final tally (${(err as Error).message})`);
        }
      }
      for (const c of this.clients) {
        const exit = await c.stop('SIGTERM', 10_000, 5000);
        if (exit.status !== 0) this.problems.push(`${c.name} exited with ${exit.status}; log ${c.logFile}:\n${tail(c.logFile)}`);
      }
      this.problems.push(...(await service.stopNodes()));
      await sleep(2200); // the monitor's lag: let it take the last pushes
      const finished = await httpJson<FinishResult>(`${this.monitorUrl}/finish`, { method: 'POST', body: {}, timeoutMs: 300_000 });
      const monitorExit = await monitor.stop('SIGTERM', 10_000, 5000);
      if (monitorExit.status !== 0) this.problems.push(`the monitor exited with ${monitorExit.status}`);
      this.resources.stop();

      // ---- the money, read after the nodes stopped
      const money = await service.money();
      const reconciliation = reconcile({
        check: money.check,
        items: money.items,
        serverTotals,
        tallies,
        pageUsers: cfg.spareUser ? [cfg.spareUser] : [],
        serverTotalsOfNodes: cfg.nodes > 1,
      });

      // ---- report
      const rows = readSeries(outDir);
      this.windows.push({ name: 'end', start: drainEnd, end: drainEnd, targetQps: 0 });
      const phases = this.windows.slice(0, -1).map((w, i) => {
        const end = this.windows[i + 1].start;
        const stats = phaseStats(rows, { ...w, end });
        const cpu = this.resources?.cpuBetween(w.start * 1000, end * 1000) ?? null;
        if (!cpu) return { ...stats, cpu: null };
        if (w.name === 'connect') return { ...stats, cpu: phaseCpu(cpu, 'connections', connected) };
        const served = rows.filter((r) => r.second >= w.start && r.second < end).reduce((sum, r) => sum + (r.server.shakes ?? 0), 0);
        return { ...stats, cpu: phaseCpu(cpu, 'shakes', served) };
      });
      const clientCounters = zeroCounters();
      for (const t of tallies) for (const k of COUNTERS) clientCounters[k] += t.counters[k] ?? 0;
      const report: RehearsalReport = {
        ok: reconciliation.ok && this.problems.length === 0,
        engine: service.engine,
        threads: service.threads,
        nodes: service.nodes,
        store: service.store,
        users: cfg.users,
        clientProcesses: this.clients.length,
        startedAt: new Date(this.startedAt).toISOString(),
        durationSeconds: Math.round((Date.now() - this.startedAt) / 100) / 10,
        config: { ...cfg, connectSeconds: Math.round(connectSeconds * 10) / 10 },
        connections: {
          peak: this.connectedPeak,
          connectSeconds: Math.round(connectSeconds * 10) / 10,
          perSecond: Math.round(connected / connectSeconds),
          disconnects: clientCounters.disconnects,
        },
        perNode: perNodeFigures(service.names, nodeStats, rows),
        memory: this.resources.report(this.connectedPeak),
        phases,
        otherProcesses: this.resources.busiestOthers(3),
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
          money: money.files,
          tallies: this.clients.map((_, i) => `clients/clients-${i + 1}.json`),
          logs: this.children.all.flatMap((c) => (c.logFile ? [path.relative(outDir, c.logFile)] : [])),
        },
        problems: this.problems,
      };
      writeFileSync(path.join(outDir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
      const plots = finished.plots.map((p) => ({ title: p.title, svg: readFileSync(p.svg, 'utf8') }));
      writeFileSync(path.join(outDir, 'report.html'), reportHtml(report, plots));
      return report;
    } finally {
      this.stopProgress();
      this.resources?.stop();
      this.children.killAll();
      await this.service?.close().catch((err: Error) => this.printer.note(`could not stop the cluster cleanly: ${err.message}`));
      this.children.killAll();
    }
  }

  // ---- helpers ---------------------------------------------------------------------------------

  /** An admin call to node 1; one that may be repeated is asked again for up to `retryMs` while the
   *  node answers 503 (its Redis calls timed out: on a saturated machine, after step 2). */
  private async admin<T = unknown>(method: string, route: string, body?: unknown, retryMs = 0): Promise<T> {
    if (!this.service) throw new Error('no service');
    return httpJson<T>(`${this.service.adminUrl(0)}${route}`, {
      method,
      body,
      token: this.service.adminToken,
      timeoutMs: 30_000,
      retryUnavailableMs: retryMs,
      onRetry: (err) => this.printer.note(`${err.message}; asking again in a second`),
    });
  }

  private async clientStats(): Promise<ClientStats[]> {
    return Promise.all(this.clientUrls.map((u) => httpJson<ClientStats>(`${u}/stats`, { timeoutMs: 10_000 })));
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
      void this.sampleProgress().finally(() => {
        busy = false;
      });
    }, 1000);
  }

  private stopProgress(): void {
    if (this.progressTimer) clearInterval(this.progressTimer);
    this.progressTimer = null;
  }

  private async sampleProgress(): Promise<void> {
    const [latest, clients] = await Promise.all([
      httpJson<SeriesRow | null>(`${this.monitorUrl}/latest`).catch(() => null),
      this.clientUrls.length ? this.clientStats().catch(() => null) : Promise.resolve(null),
    ]);
    const at = Date.now();
    let clientQps: number | null = null;
    let connected: number | null = null;
    let connectRate: number | null = null;
    if (clients) {
      const sent = clients.reduce((sum, c) => sum + c.counters.sent, 0);
      if (this.lastSent) clientQps = ((sent - this.lastSent.total) * 1000) / (at - this.lastSent.at);
      this.lastSent = { total: sent, at };
      connected = clients.reduce((sum, c) => sum + c.connected, 0);
      this.connectedPeak = Math.max(this.connectedPeak, connected);
      if (this.lastConnected) connectRate = ((connected - this.lastConnected.total) * 1000) / (at - this.lastConnected.at);
      this.lastConnected = { total: connected, at };
    }
    const server = latest?.server;
    this.printer.update({
      phase: this.phase,
      elapsedSeconds: (at - this.startedAt) / 1000,
      targetQps: this.phaseTarget,
      clientQps,
      serverQps: server && server.processes > 0 ? server.shakes : null,
      hits: server && server.processes > 0 ? server.hits : null,
      opens: server && server.processes > 0 ? server.opens : null,
      connected,
      connectRate: this.phase === 'connect' ? connectRate : null,
      users: this.cfg.users,
      p99Ms: typeof latest?.client?.p99Ms === 'number' && latest.client.processes > 0 ? latest.client.p99Ms : null,
      memoryGiB: this.resources ? this.resources.lastTotal / 1024 ** 3 : null,
      othersCores: this.resources?.cpuBetween(at - OTHERS_WINDOW_MS, at)?.othersCores ?? null,
    });
  }
}

/** Per access node: what it held and served (its /stats at the end of the run, its peak from the series). */
function perNodeFigures(names: string[], stats: Array<StatsDocument | null>, rows: SeriesRow[]): NodeFigures[] {
  return names.map((name, i) => {
    const s = stats[i];
    const id = `server-${name}`;
    let peak = 0;
    for (const r of rows) peak = Math.max(peak, r.nodes?.[id]?.connections ?? (names.length === 1 ? (r.server.connections ?? 0) : 0));
    return {
      name,
      connectionsPeak: peak,
      shakes: s?.cumulative.shakes ?? null,
      hits: s?.cumulative.hits ?? null,
      opens: s?.cumulative.opens ?? null,
      unavailable: s?.cumulative.unavailable ?? null,
      heapMb: s?.heapMb ?? [],
    };
  });
}
