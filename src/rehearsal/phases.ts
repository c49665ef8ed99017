// The phases of the reference experiment, scaled by the rehearsal's flags:
//   connect  every user connects and logs in (no load)
//   step-1   offered load at the first step
//   supply   + shake packets released at the supply rate
//   group    + the group-packet campaign (N recipients each)
//   step-2   offered load at the second step, both campaigns still on
//   drain    load 0, campaigns stopped, outstanding answers and opens awaited, every packet expired
import type { AmountRule } from '../engine/types.ts';

export interface RehearsalConfig {
  users: number;
  usersPerProcess: number;
  qps1: number;
  qps2: number;
  step1Seconds: number;
  supplySeconds: number;
  groupSeconds: number;
  step2Seconds: number;
  supplyRate: number;
  supplyTotal: number;
  supplyRule: AmountRule;
  groupRate: number;
  groupTotal: number;
  recipients: number;
  groupRule: AmountRule;
  connectTimeoutSeconds: number;
  drainTimeoutSeconds: number;
  threads: number | null;
  /** access nodes: 1 is the single server (SQLite); more, a cluster on Redis */
  nodes: number;
  /** a user no client simulates, for a person on the shake page (its sign-in link is printed); 0: none */
  spareUser: number;
  /** Node flags for the server processes */
  nodeArgs: string[];
  /** each server runs on a worker thread with a descriptor table of its own (`hongbao server --private-fds`) */
  privateFds: boolean;
  /** `hongbao clients --generator` (unset: the clients' default, $HONGBAO_GENERATOR or ts) */
  generator?: 'ts' | 'native';
  /** native generator: `hongbao clients --worker-tick-us` (unset: theirs, 0) */
  workerTickUs?: number;
  /** servers' `--loop-sample-ms` (unset: theirs) */
  loopSampleMs?: number;
  /** native generator: `hongbao clients --users-per-worker` (unset: theirs) */
  usersPerWorker?: number;
}

export interface TimedPhase {
  name: 'step-1' | 'supply' | 'group' | 'step-2';
  seconds: number;
  qps: number;
  startSupply: boolean;
  startCampaign: boolean;
}

export function timedPhases(c: RehearsalConfig): TimedPhase[] {
  return [
    { name: 'step-1', seconds: c.step1Seconds, qps: c.qps1, startSupply: false, startCampaign: false },
    { name: 'supply', seconds: c.supplySeconds, qps: c.qps1, startSupply: true, startCampaign: false },
    { name: 'group', seconds: c.groupSeconds, qps: c.qps1, startSupply: false, startCampaign: true },
    { name: 'step-2', seconds: c.step2Seconds, qps: c.qps2, startSupply: false, startCampaign: false },
  ].filter((p) => p.seconds > 0) as TimedPhase[];
}

/** Supply total that lasts from the supply phase to the end of step 2 at the supply rate. */
export function defaultSupplyTotal(c: Pick<RehearsalConfig, 'supplyRate' | 'supplySeconds' | 'groupSeconds' | 'step2Seconds'>): number {
  return Math.max(1, Math.round(c.supplyRate * (c.supplySeconds + c.groupSeconds + c.step2Seconds)));
}

/** Campaign size that lasts from the group phase to the end of step 2 at the campaign rate. */
export function defaultGroupTotal(c: Pick<RehearsalConfig, 'groupRate' | 'groupSeconds' | 'step2Seconds'>): number {
  return Math.max(1, Math.round(c.groupRate * (c.groupSeconds + c.step2Seconds)));
}

/** Split users 1..total into `ceil(total / perProcess)` nearly equal contiguous ranges. */
export function userRanges(total: number, perProcess: number): Array<{ from: number; to: number }> {
  const processes = Math.max(1, Math.ceil(total / perProcess));
  const ranges = [];
  for (let i = 0; i < processes; i++) {
    const from = Math.floor((i * total) / processes) + 1;
    const to = Math.floor(((i + 1) * total) / processes);
    if (to >= from) ranges.push({ from, to });
  }
  return ranges;
}
