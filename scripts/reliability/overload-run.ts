// Overload: the server runs with --max-shakes-per-second C; the project's load generator offers C/2
// (baseline), then 2C (the surge), then C/2 again (recovery). Meanwhile GET /health (public port) and
// GET /stats (admin port) are timed every 200 ms from this process. Per-second client counters come
// from the generator's monitor push. Reported: what was let through and answered "overloaded", the
// shake latency per phase, the probes' latency, and how many seconds the latency took to come back.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import type { ClientSecondCounters } from '../../src/monitor/push.ts';
import { PushCollector } from '../../src/monitor/push-collector.ts';
import { ClientsProc } from './clients-proc.ts';
import { sleep } from './rng.ts';
import { RssSampler } from './rss.ts';
import { ServerProc } from '../../src/process/server-proc.ts';

export interface OverloadOptions {
  dataDir: string;
  ceiling: number;
  users: number;
  baselineSeconds: number;
  surgeSeconds: number;
  recoverySeconds: number;
  serverArgs: string[];
  log(line: string): void;
}

interface Probe {
  count: number;
  failed: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface PhaseFigures {
  seconds: number;
  offeredPerSecond: number;
  letThroughPerSecond: number;
  overloadedPerSecond: number;
  /** median and worst of the per-second shake p99 (ms) */
  p99Ms: { median: number; max: number };
  unavailable: number;
  errors: number;
  dropped: number;
}

export interface OverloadResult {
  ok: boolean;
  failures: string[];
  engine: string;
  ceiling: number;
  phases: Record<'baseline' | 'surge' | 'recovery', PhaseFigures>;
  /** seconds after the surge until the 3-second median of the per-second p99 is back within max(2 x baseline, baseline + 10 ms) */
  recoveredAfterSeconds: number | null;
  probes: { health: Probe; stats: Probe; surgeHealth: Probe; surgeStats: Probe; recoveryHealth: Probe; recoveryStats: Probe };
  lost: number;
  rssMb: { before: number; peak: number; after: number };
  perSecond: Array<{ second: number; phase: string; sent: number; overloaded: number; p99Ms: number }>;
  /** the machine's 1-minute load average at the start and the end (2 cores, shared) */
  loadavg: [number, number];
}

const median = (xs: number[]) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] : 0);

function summarizeProbe(ms: number[], failed: number): Probe {
  const sorted = [...ms].sort((a, b) => a - b);
  const at = (p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : 0);
  return { count: ms.length, failed, p50Ms: round(at(0.5)), p99Ms: round(at(0.99)), maxMs: round(sorted.at(-1) ?? 0) };
}

const round = (x: number) => Math.round(x * 10) / 10;

/** Times GET url every `everyMs` until stopped; each sample is tagged with the phase at the time. */
class Prober {
  readonly samples: Array<{ phase: string; ms: number; ok: boolean }> = [];
  private running = true;
  private readonly loop: Promise<void>;

  constructor(url: string, headers: Record<string, string>, phase: () => string, everyMs = 200) {
    this.loop = (async () => {
      while (this.running) {
        const t0 = performance.now();
        let ok = false;
        try {
          const res = await fetch(url, { headers, signal: AbortSignal.timeout(5000) });
          await res.text();
          ok = res.status === 200;
        } catch {
          ok = false;
        }
        this.samples.push({ phase: phase(), ms: performance.now() - t0, ok });
        await sleep(everyMs);
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  summary(phase?: string): Probe {
    const s = this.samples.filter((x) => phase === undefined || x.phase === phase);
    return summarizeProbe(
      s.filter((x) => x.ok).map((x) => x.ms),
      s.filter((x) => !x.ok).length,
    );
  }
}

function figures(seconds: Array<[number, ClientSecondCounters]>): PhaseFigures {
  const n = Math.max(1, seconds.length);
  const sum = (f: (c: ClientSecondCounters) => number) => seconds.reduce((a, [, c]) => a + f(c), 0);
  return {
    seconds: seconds.length,
    offeredPerSecond: Math.round(sum((c) => c.sent) / n),
    letThroughPerSecond: Math.round(sum((c) => c.hits + c.misses) / n),
    overloadedPerSecond: Math.round(sum((c) => c.overloaded) / n),
    p99Ms: { median: median(seconds.map(([, c]) => c.p99Ms)), max: Math.max(0, ...seconds.map(([, c]) => c.p99Ms)) },
    unavailable: sum((c) => c.unavailable ?? 0),
    errors: sum((c) => c.errors),
    dropped: sum((c) => c.dropped ?? 0),
  };
}

export async function runOverload(o: OverloadOptions): Promise<OverloadResult> {
  const env = { HONGBAO_SECRET: randomBytes(24).toString('hex'), HONGBAO_ADMIN_TOKEN: randomBytes(24).toString('hex') };
  const secretFile = path.join(o.dataDir, 'load-secret');
  const server = await ServerProc.start({ dataDir: o.dataDir, host: '127.0.0.1', env, args: ['--max-shakes-per-second', String(o.ceiling), ...o.serverArgs] });
  writeFileSync(secretFile, env.HONGBAO_SECRET, { mode: 0o600 });
  const collector = await PushCollector.start();
  const failures: string[] = [];
  const loadStart = Math.round(loadavg()[0] * 10) / 10;
  let phase = 'connect';
  const health = new Prober(`${server.http}/health`, {}, () => phase);
  const stats = new Prober(`${server.admin}/stats`, { authorization: `Bearer ${env.HONGBAO_ADMIN_TOKEN}` }, () => phase);
  const rss = new RssSampler(server.pid, 1000).start();
  let clients: ClientsProc | null = null;
  try {
    await server.adminFetch('POST', '/admin/supply', { total: 100_000_000, ratePerSecond: 200, rule: { kind: 'range', min: 1, max: 500 } });
    const half = Math.round(o.ceiling / 2);
    clients = await ClientsProc.start({ ws: server.ws, users: [1, o.users], qps: 0, secretFile, monitor: collector.url });
    for (let i = 0; i < 120 && (await clients.stats()).connected < o.users; i++) await sleep(250);
    const c = clients;
    const runPhase = async (name: string, qps: number, seconds: number): Promise<[number, number]> => {
      await c.setQps(qps);
      const from = Math.floor(Date.now() / 1000) + 1; // the rate changes on the next second
      await sleep((from - Date.now() / 1000) * 1000);
      phase = name;
      o.log(`${name}: ${qps} shakes/s offered for ${seconds} s (ceiling ${o.ceiling})`);
      await sleep(seconds * 1000);
      return [from, from + seconds];
    };
    const [b0, b1] = await runPhase('baseline', half, o.baselineSeconds);
    const [s0, s1] = await runPhase('surge', 2 * o.ceiling, o.surgeSeconds);
    const [r0, r1] = await runPhase('recovery', half, o.recoverySeconds);
    phase = 'drain';
    await sleep(1500); // the last second's push
    const tally = await clients.stop(3000);
    clients = null;
    await health.stop();
    await stats.stop();
    const rssStats = rss.stop();

    const warm = Math.min(2, Math.max(0, o.baselineSeconds - 2));
    const phases = {
      baseline: figures(collector.clientSeconds(c.id, b0 + warm, b1)),
      surge: figures(collector.clientSeconds(c.id, s0, s1)),
      recovery: figures(collector.clientSeconds(c.id, r0, r1)),
    };
    const baseP99 = phases.baseline.p99Ms.median;
    const normal = Math.max(2 * baseP99, baseP99 + 10);
    const rec = collector.clientSeconds(c.id, r0, r1);
    // Recovered from the first second whose 3-second median p99 is back to normal and after which nothing
    // is Overloaded (one noisy second on this shared machine is not a relapse).
    let recoveredAfterSeconds: number | null = null;
    for (let i = 0; i + 3 <= rec.length; i++) {
      if (median(rec.slice(i, i + 3).map(([, x]) => x.p99Ms)) <= normal && rec.slice(i).every(([, x]) => x.overloaded === 0)) {
        recoveredAfterSeconds = i;
        break;
      }
    }
    const perSecond = collector.clientSeconds(c.id, b0, r1).map(([second, x]) => ({
      second,
      phase: second < s0 ? 'baseline' : second < r0 ? 'surge' : 'recovery',
      sent: x.sent,
      overloaded: x.overloaded,
      p99Ms: x.p99Ms,
    }));
    if (!server.alive) failures.push('the server died');
    if (phases.surge.overloadedPerSecond === 0) failures.push('nothing was answered "overloaded" during the surge');
    if (phases.surge.letThroughPerSecond > o.ceiling * 1.1)
      failures.push(`${phases.surge.letThroughPerSecond} shakes/s were let through, above the ceiling ${o.ceiling}`);
    if (phases.surge.unavailable + phases.surge.errors > 0)
      failures.push(`${phases.surge.unavailable} unavailable and ${phases.surge.errors} errors during the surge`);
    const healthAll = health.summary();
    const statsAll = stats.summary();
    if (healthAll.failed + statsAll.failed > 0) failures.push(`${healthAll.failed} /health and ${statsAll.failed} /stats probes failed`);
    return {
      ok: failures.length === 0,
      failures,
      engine: process.env.HONGBAO_ENGINE ?? 'native',
      ceiling: o.ceiling,
      phases,
      recoveredAfterSeconds,
      probes: {
        health: healthAll,
        stats: statsAll,
        surgeHealth: health.summary('surge'),
        surgeStats: stats.summary('surge'),
        recoveryHealth: health.summary('recovery'),
        recoveryStats: stats.summary('recovery'),
      },
      lost: tally.counters.lost,
      rssMb: { before: rssStats.first, peak: rssStats.peak, after: rssStats.last },
      perSecond,
      loadavg: [loadStart, Math.round(loadavg()[0] * 10) / 10],
    };
  } finally {
    await health.stop();
    await stats.stop();
    if (clients) await clients.stop(1000).catch(() => undefined);
    collector.close();
    await server.stop('SIGTERM');
  }
}
