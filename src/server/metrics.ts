// GET /metrics: Prometheus counters fed from the per-second stats (so the hot path never touches
// prom-client), engine totals and ledger health as gauges, plus Node's default process metrics.
// prom-client is loaded with the first scrape: it holds ~1.5 MiB of heap, and of a cluster's ~56
// nodes most are never scraped. Until then the figures are kept here as plain numbers.
import { createRequire } from 'node:module';
import type { Registry } from 'prom-client';
import type { Totals } from '../engine/types.ts';
import type { LedgerHealth } from '../ledger/types.ts';
import { COUNTER_FIELDS, type CounterField } from './counters.ts';
import type { SecondReport } from './stats.ts';

const promModule = createRequire(import.meta.url);
const FLOWS = ['shake', 'group'] as const;
const PARTS = ['created', 'paid', 'remaining', 'refunded'] as const;

function snake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** What a scrape reports, kept from the per-second stats. */
interface Figures {
  counted: Record<CounterField, number>;
  connections: number;
  loopDelayMs: number;
  totals: Totals | null;
  ledger: LedgerHealth | null;
  serverHealthy: boolean;
}

export class Metrics {
  private readonly figures: Figures = {
    counted: Object.fromEntries(COUNTER_FIELDS.map((f) => [f, 0])) as Record<CounterField, number>,
    connections: 0,
    loopDelayMs: 0,
    totals: null,
    ledger: null,
    serverHealthy: false,
  };
  private registry: Promise<Registry> | null = null;

  second(r: SecondReport): void {
    for (const f of COUNTER_FIELDS) if (r.second[f] > 0) this.figures.counted[f] += r.second[f];
    this.figures.connections = r.connections;
    this.figures.loopDelayMs = r.loopDelayMs;
  }

  engine(t: Totals): void {
    this.figures.totals = t;
  }

  ledger(h: LedgerHealth, serverHealthy: boolean): void {
    this.figures.ledger = h;
    this.figures.serverHealthy = serverHealthy;
  }

  /** The Prometheus text and its content type. */
  async text(): Promise<{ body: string; contentType: string }> {
    this.registry ??= buildRegistry(this.figures);
    const registry = await this.registry;
    return { body: await registry.metrics(), contentType: registry.contentType };
  }
}

/** prom-client's registry, every metric read from `f` when scraped. */
async function buildRegistry(f: Figures): Promise<Registry> {
  const { collectDefaultMetrics, Counter, Gauge, Registry } = await import('prom-client');
  const registry = new Registry();
  const registers = [registry];
  // The default metrics but the event-loop lag, which samples the loop on a timer of its own: a
  // second source of wake-ups on each idle-ish node. The loop delay is thread-gauges.ts's
  // (hongbao_loop_delay_max_ms). The GC histogram counts from the first scrape on.
  for (const m of collectDefaultMetrics.metricsList) {
    if (m !== 'eventLoopLag') (promModule(`prom-client/lib/metrics/${m}`) as (r: Registry, c: object) => void)(registry, { prefix: 'hongbao_' });
  }
  for (const field of COUNTER_FIELDS) {
    new Counter({
      name: `hongbao_${snake(field)}_total`,
      help: `${field} (see the stats document in docs/admin-api.md)`,
      registers,
      collect() {
        this.reset();
        this.inc(f.counted[field]);
      },
    });
  }
  const gauge = (name: string, help: string, value: () => number) =>
    new Gauge({
      name,
      help,
      registers,
      collect() {
        this.set(value());
      },
    });
  gauge('hongbao_connections', 'open WebSocket connections', () => f.connections);
  gauge('hongbao_loop_delay_max_ms', 'longest event-loop delay of any server thread in the last second', () => f.loopDelayMs);
  gauge('hongbao_ledger_healthy', '1 while the ledger commits', () => (f.ledger?.healthy ? 1 : 0));
  gauge('hongbao_ledger_commits', 'ledger transactions committed', () => f.ledger?.commits ?? 0);
  gauge('hongbao_ledger_last_commit_ms', 'duration of the last ledger transaction', () => f.ledger?.lastCommitMs ?? 0);
  gauge('hongbao_server_healthy', '1 while money may move (0 degraded or rebuilding)', () => (f.serverHealthy ? 1 : 0));
  new Gauge({
    name: 'hongbao_engine_totals',
    help: 'engine totals: flow (shake|group), part (created|paid|remaining|refunded), unit (count|cents)',
    labelNames: ['flow', 'part', 'unit'],
    registers,
    collect() {
      const t = f.totals;
      if (t === null) return;
      for (const flow of FLOWS) {
        for (const part of PARTS) {
          this.set({ flow, part, unit: 'count' }, t[flow][part].count);
          this.set({ flow, part, unit: 'cents' }, t[flow][part].cents);
        }
      }
    },
  });
  return registry;
}
