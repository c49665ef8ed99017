// report.json: the machine-readable outcome of a rehearsal.
import type { CountCents } from '../engine/types.ts';
import type { PhaseStats } from './phase-stats.ts';
import type { Reconciliation } from './reconcile.ts';
import type { LatencySummary } from '../simulator/histogram.ts';
import type { Counters } from '../simulator/tally.ts';
import type { MemoryBlock, OtherProcess, PhaseCpu } from '../rehearsal/resources.ts';

/** One access node's share of a run. */
export interface NodeFigures {
  name: string;
  connectionsPeak: number;
  shakes: number | null;
  hits: number | null;
  opens: number | null;
  unavailable: number | null;
  /** V8 heap committed per thread at the end, MiB */
  heapMb: number[];
}

export interface MoneyBlock {
  issued: CountCents;
  received: CountCents;
  remaining: CountCents;
  refunded: CountCents;
}

export interface RehearsalReport {
  ok: boolean;
  engine: string;
  threads: number;
  /** access nodes (1: the single server) */
  nodes: number;
  /** where the money lived: the server's SQLite ledger, or Redis Cluster with a journal per node */
  store: 'sqlite' | 'redis-cluster';
  users: number;
  clientProcesses: number;
  startedAt: string;
  durationSeconds: number;
  config: Record<string, unknown>;
  /** users connected at the peak, how long connecting took, at what rate, and connections lost later */
  connections: { peak: number; connectSeconds: number; perSecond: number; disconnects: number };
  perNode: NodeFigures[];
  memory: MemoryBlock;
  /** each phase, with the CPU every class of process used in it */
  phases: Array<PhaseStats & { cpu: PhaseCpu | null }>;
  /** the processes of no class (this rehearsal, anything else on the machine) that used the most CPU */
  otherProcesses: OtherProcess[];
  /** ledger figures (count = packets); `clients` what the clients tallied */
  shake: MoneyBlock & { clients: { received: CountCents } };
  /** ledger figures (count = shares); `clients` what the clients tallied */
  group: MoneyBlock & { packets: number; clients: { issued: CountCents | null; received: CountCents; unclaimed: CountCents | null } };
  /** over the whole run, from the clients' merged histograms */
  latency: LatencySummary;
  clientCounters: Counters;
  reconciliation: Reconciliation;
  monitor: { rows: number; late: number; rejected: number };
  /** files of the output folder, relative to it */
  files: Record<string, string | string[]>;
  /** anything that went wrong outside the money (a child that exited badly, a timeout) */
  problems: string[];
}

export function moneyFrom(r: Reconciliation): Pick<RehearsalReport, 'shake' | 'group'> {
  return {
    shake: { ...r.shake.ledger, clients: { received: r.shake.clients.received } },
    group: {
      ...r.group.ledger,
      packets: r.group.packets.ledger,
      clients: { issued: r.group.clients.issued, received: r.group.clients.received, unclaimed: r.group.clients.unclaimed },
    },
  };
}
