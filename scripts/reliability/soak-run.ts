// Soak: measure the shake capacity with a short ramp (unless a rate is given), then run at half of it
// for N minutes with a running supply and a group-packet campaign whose packets expire and are
// refunded along the way. The server's RSS is sampled every 5 s; after the warm-up its trend must be
// flat. At the end: no error of any kind, and the ledger reconciled item by item against the client
// tally (src/report/reconcile.ts), exactly.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { checkLedger } from '../../src/ledger/check.ts';
import { readLedgerItems } from '../../src/report/ledger-items.ts';
import { reconcile, type Reconciliation } from '../../src/report/reconcile.ts';
import { PushCollector } from '../../src/monitor/push-collector.ts';
import { ClientsProc } from './clients-proc.ts';
import { sleep } from './rng.ts';
import { RssSampler } from './rss.ts';
import type { StatsDocument } from '../../src/server/server.ts';
import { ServerProc } from '../../src/process/server-proc.ts';

export interface SoakOptions {
  dataDir: string;
  minutes: number;
  /** shakes per second; 0 = half the measured capacity */
  qps: number;
  users: number;
  serverArgs: string[];
  log(line: string): void;
}

export interface CapacityStep {
  qps: number;
  sentPerSecond: number;
  p99Ms: number;
  dropped: number;
  ok: boolean;
}

export interface SoakResult {
  ok: boolean;
  failures: string[];
  engine: string;
  capacity: { measured: number | null; steps: CapacityStep[] };
  qps: number;
  minutes: number;
  shakes: number;
  hits: number;
  opens: number;
  errors: Record<string, number>;
  latency: { p50Ms: number; p99Ms: number; p999Ms: number; maxMs: number };
  rss: { warmupMinutes: number; atWarmup: number; min: number; max: number; last: number; slopeMbPerMin: number; samples: Array<[number, number]> };
  refunds: { count: number; cents: number };
  reconciliation: Pick<Reconciliation, 'ok' | 'differences'> & { shake: unknown; group: unknown };
  ledgerDivergences: number;
}

const median = (xs: number[]) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] : 0);

/** Least-squares slope of (minute, MiB). */
function slope(points: Array<[number, number]>): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

export async function runSoak(o: SoakOptions): Promise<SoakResult> {
  const env = { HONGBAO_SECRET: randomBytes(24).toString('hex'), HONGBAO_ADMIN_TOKEN: randomBytes(24).toString('hex') };
  const secretFile = path.join(o.dataDir, 'load-secret');
  const server = await ServerProc.start({ dataDir: o.dataDir, host: '127.0.0.1', env, args: o.serverArgs });
  writeFileSync(secretFile, env.HONGBAO_SECRET, { mode: 0o600 });
  const collector = await PushCollector.start();
  const failures: string[] = [];
  let clients: ClientsProc | null = null;
  let stopped = false;
  try {
    clients = await ClientsProc.start({ ws: server.ws, users: [1, o.users], qps: 0, secretFile, monitor: collector.url });
    for (let i = 0; i < 240 && (await clients.stats()).connected < o.users; i++) await sleep(250);
    const c = clients;
    const hold = async (qps: number, seconds: number): Promise<[number, number]> => {
      await c.setQps(qps);
      const from = Math.floor(Date.now() / 1000) + 1;
      await sleep((from + seconds) * 1000 - Date.now() + 1200); // the last second's push arrives
      return [from, from + seconds];
    };

    // -- capacity: the highest rate the generator and the server keep (all sent, nothing dropped, p99 <= 50 ms)
    const steps: CapacityStep[] = [];
    let measured: number | null = null;
    let qps = o.qps;
    if (qps === 0) {
      for (const step of [2000, 4000, 8000, 12_000, 16_000, 24_000, 32_000, 48_000, 64_000].filter((q) => q <= o.users * 40)) {
        const [a, b] = await hold(step, 6);
        const secs = collector.clientSeconds(c.id, a + 1, b); // the first second of a step still ramps
        const sent = median(secs.map(([, x]) => x.sent));
        const p99 = median(secs.map(([, x]) => x.p99Ms));
        const dropped = secs.reduce((s, [, x]) => s + (x.dropped ?? 0), 0);
        const ok = sent >= step * 0.95 && dropped === 0 && p99 <= 50;
        steps.push({ qps: step, sentPerSecond: sent, p99Ms: p99, dropped, ok });
        o.log(`capacity step ${step}/s: sent ${sent}/s, p99 ${p99} ms, dropped ${dropped}: ${ok ? 'kept' : 'NOT kept'}`);
        if (!ok) break;
        measured = step;
      }
      await c.setQps(0);
      if (measured === null) throw new Error('could not keep even 2000 shakes/s; give --qps');
      qps = Math.round(measured / 2);
    }

    // -- the soak
    const durationS = Math.round(o.minutes * 60);
    await server.adminFetch('POST', '/admin/supply', { total: 200 * durationS, ratePerSecond: 200, rule: { kind: 'range', min: 1, max: 500 } });
    await server.adminFetch('POST', '/admin/campaign', {
      count: 50 * durationS,
      ratePerSecond: 50,
      recipientsPerPacket: 3,
      userFrom: 1,
      userTo: o.users,
      rule: { kind: 'range', min: 3, max: 1000 },
      expiresInMs: 20_000,
    });
    const rss = new RssSampler(server.pid, 5000).start();
    o.log(`soak: ${qps} shakes/s for ${o.minutes} min, supply 200 packets/s, campaign 50 group packets/s (expiring after 20 s)`);
    await c.setQps(qps);
    const soakFrom = Math.floor(Date.now() / 1000) + 1;
    const started = Date.now();
    let nextLog = 60_000;
    while (Date.now() - started < durationS * 1000) {
      await sleep(1000);
      if (Date.now() - started >= nextLog) {
        nextLog += 60_000;
        const last = collector.clientSeconds(c.id, Math.floor(Date.now() / 1000) - 60, Math.floor(Date.now() / 1000));
        const stats = (await server.adminFetch<StatsDocument>('GET', '/stats').catch(() => null))?.body;
        const heaps = stats ? (stats.heapUsedMb ?? []).map((used, i) => `${used.toFixed(0)}/${Number(stats.heapMb[i]).toFixed(0)}`) : [];
        if (stats?.ledger) heaps.push(`ledger ${Number(stats.ledger.heapUsedMb).toFixed(0)}/${Number(stats.ledger.heapMb).toFixed(0)}`);
        const held = stats ? `, ${stats.totals.groupPackets - stats.cumulative.evicted} group packets held` : '';
        o.log(
          `+${Math.round((Date.now() - started) / 60_000)} min: RSS ${(rss.sample() ?? 0).toFixed(1)} MiB (V8 heaps in use/committed ${heaps.join(', ')} MiB${held}), last minute ${Math.round(last.reduce((s, [, x]) => s + x.sent, 0) / Math.max(1, last.length))} shakes/s, ` +
            `p99 ${median(last.map(([, x]) => x.p99Ms))} ms, errors ${last.reduce((s, [, x]) => s + x.errors + (x.unavailable ?? 0), 0)}`,
        );
      }
    }
    const soakTo = Math.floor(Date.now() / 1000);
    // -- wind down: no more packets, let the last notifications be opened, stop the clients, stop the server
    await server.adminFetch('DELETE', '/admin/campaign');
    await server.adminFetch('DELETE', '/admin/supply');
    await c.setQps(0);
    await sleep(3000);
    const statsEnd = (await server.adminFetch<StatsDocument>('GET', '/stats')).body;
    const tally = await c.stop(5000);
    clients = null;
    const rssStats = rss.stop();
    const exit = await server.stop('SIGTERM');
    stopped = true;
    if (exit.code !== 0) failures.push(`the server exited ${exit.code ?? exit.signal}`);

    // -- RSS trend after the warm-up
    const warmupMinutes = Math.min(5, Math.max(0.5, o.minutes * 0.2));
    const t0 = rss.samples[0]?.at ?? Date.now();
    const points = rss.samples.map((s) => [(s.at - t0) / 60_000, s.mb] as [number, number]);
    const after = points.filter(([m]) => m >= warmupMinutes);
    const slopeMbPerMin = Math.round(slope(after) * 100) / 100;
    const mbs = after.map(([, mb]) => mb);
    const rssReport = {
      warmupMinutes,
      atWarmup: Math.round((after[0]?.[1] ?? 0) * 10) / 10,
      min: Math.round(Math.min(...mbs) * 10) / 10,
      max: Math.round(Math.max(...mbs) * 10) / 10,
      last: rssStats.last,
      slopeMbPerMin,
      samples: points.map(([m, mb]) => [Math.round(m * 100) / 100, Math.round(mb * 10) / 10] as [number, number]),
    };
    if (slopeMbPerMin > 2) failures.push(`server RSS keeps growing after the warm-up: ${slopeMbPerMin} MiB/min`);

    // -- errors of any kind, and the exact reconciliation
    const k = tally.counters;
    const errors = {
      errors: k.errors,
      unavailable: k.unavailable,
      overloaded: k.overloaded,
      dropped: k.dropped,
      lost: k.lost,
      disconnects: k.disconnects,
      connectFailures: k.connectFailures,
      unmatched: k.unmatched,
    };
    for (const [name, n] of Object.entries(errors)) if (n > 0) failures.push(`${n} ${name}`);
    const check = checkLedger(server.ready.db);
    const rec = reconcile({ check, items: readLedgerItems(server.ready.db), serverTotals: statsEnd.totals, tallies: [tally] });
    if (!rec.ok) failures.push(`reconciliation: ${rec.differences.slice(0, 3).join('; ')}`);
    const divergences = statsEnd.ledger?.divergences ?? 0;
    if (divergences > 0) failures.push(`${divergences} ledger divergences`);
    const secs = collector.clientSeconds(c.id, soakFrom, soakTo);
    return {
      ok: failures.length === 0,
      failures,
      engine: process.env.HONGBAO_ENGINE ?? 'native',
      capacity: { measured, steps },
      qps,
      minutes: o.minutes,
      shakes: k.sent,
      hits: k.hits,
      opens: k.opens,
      errors,
      latency: {
        p50Ms: tally.latency.p50Ms,
        p99Ms: tally.latency.p99Ms,
        p999Ms: tally.latency.p999Ms,
        maxMs: Math.max(0, ...secs.map(([, x]) => x.p999Ms)),
      },
      rss: rssReport,
      refunds: { count: statsEnd.cumulative.refunds, cents: statsEnd.cumulative.refundCents },
      reconciliation: { ok: rec.ok, differences: rec.differences, shake: rec.shake, group: rec.group },
      ledgerDivergences: divergences,
    };
  } finally {
    if (clients) await clients.stop(1000).catch(() => undefined);
    collector.close();
    if (!stopped) await server.stop('SIGTERM');
  }
}
