// GET /metrics: Prometheus counters fed from the per-second stats (so the hot path never touches
// prom-client), engine totals and ledger health as gauges, plus Node's default process metrics.
import { createRequire } from 'node:module';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { Totals } from '../engine/types.ts';
import type { LedgerHealth } from '../ledger/types.ts';
import { COUNTER_FIELDS, type CounterField } from './counters.ts';
import type { SecondReport } from './stats.ts';

/** prom-client's default metrics but its event-loop lag, which samples the loop on a timer of its
 *  own: a second source of wake-ups on each of a cluster's ~56 idle-ish nodes. The loop delay is
 *  thread-gauges.ts's sampler's (hongbao_loop_delay_max_ms). */
const DEFAULT_METRICS = collectDefaultMetrics.metricsList.filter((m) => m !== 'eventLoopLag');
const promModule = createRequire(import.meta.url);

function snake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

export class Metrics {
  readonly registry = new Registry();
  private readonly counters: Record<CounterField, Counter>;
  private readonly connections: Gauge;
  private readonly loopDelay: Gauge;
  private readonly totals: Gauge;
  private readonly ledgerHealthy: Gauge;
  private readonly ledgerCommits: Gauge;
  private readonly ledgerLastCommitMs: Gauge;
  private readonly serverState: Gauge;

  constructor() {
    for (const m of DEFAULT_METRICS) (promModule(`prom-client/lib/metrics/${m}`) as (r: Registry, c: object) => void)(this.registry, { prefix: 'hongbao_' });
    this.counters = Object.fromEntries(
      COUNTER_FIELDS.map((f) => [
        f,
        new Counter({ name: `hongbao_${snake(f)}_total`, help: `${f} (see the stats document in docs/admin-api.md)`, registers: [this.registry] }),
      ]),
    ) as Record<CounterField, Counter>;
    this.connections = new Gauge({ name: 'hongbao_connections', help: 'open WebSocket connections', registers: [this.registry] });
    this.loopDelay = new Gauge({
      name: 'hongbao_loop_delay_max_ms',
      help: 'longest event-loop delay of any server thread in the last second',
      registers: [this.registry],
    });
    this.totals = new Gauge({
      name: 'hongbao_engine_totals',
      help: 'engine totals: flow (shake|group), part (created|paid|remaining|refunded), unit (count|cents)',
      labelNames: ['flow', 'part', 'unit'],
      registers: [this.registry],
    });
    this.ledgerHealthy = new Gauge({ name: 'hongbao_ledger_healthy', help: '1 while the ledger commits', registers: [this.registry] });
    this.ledgerCommits = new Gauge({ name: 'hongbao_ledger_commits', help: 'ledger transactions committed', registers: [this.registry] });
    this.ledgerLastCommitMs = new Gauge({ name: 'hongbao_ledger_last_commit_ms', help: 'duration of the last ledger transaction', registers: [this.registry] });
    this.serverState = new Gauge({ name: 'hongbao_server_healthy', help: '1 while money may move (0 degraded or rebuilding)', registers: [this.registry] });
  }

  second(r: SecondReport): void {
    for (const f of COUNTER_FIELDS) if (r.second[f] > 0) this.counters[f].inc(r.second[f]);
    this.connections.set(r.connections);
    this.loopDelay.set(r.loopDelayMs);
  }

  engine(t: Totals): void {
    for (const flow of ['shake', 'group'] as const) {
      for (const part of ['created', 'paid', 'remaining', 'refunded'] as const) {
        this.totals.set({ flow, part, unit: 'count' }, t[flow][part].count);
        this.totals.set({ flow, part, unit: 'cents' }, t[flow][part].cents);
      }
    }
  }

  ledger(h: LedgerHealth, serverHealthy: boolean): void {
    this.ledgerHealthy.set(h.healthy ? 1 : 0);
    this.ledgerCommits.set(h.commits);
    this.ledgerLastCommitMs.set(h.lastCommitMs);
    this.serverState.set(serverHealthy ? 1 : 0);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
