// A short real rehearsal: monitor, server (the engine HONGBAO_ENGINE selects), two client processes
// with disjoint id ranges (with each generator: ts, and native with its worker processes), a few
// hundred users, three seconds a phase; together the processes must send exactly the target rate,
// and the run must reconcile exactly and write every report file. One at a time: each is heavy.
import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { RehearsalReport } from '../src/report/report-json.ts';
import { GENERATORS } from '../src/simulator/generator.ts';

for (const generator of GENERATORS) {
  test.serial(`${generator} generator: a short rehearsal runs every phase and reconciles ledger, server and clients to the cent`, async (t) => {
    const out = mkdtempSync(path.join(tmpdir(), 'hongbao-rehearsal-test-'));
    t.teardown(() => rmSync(out, { recursive: true, force: true }));
    const args = [
      '--import',
      'tsx',
      'src/cli.ts',
      'rehearsal',
      '--users',
      '300',
      '--users-per-process',
      '150',
      '--qps1',
      '300',
      '--qps2',
      '600',
      '--phase-seconds',
      '3',
      '--supply-rate',
      '20',
      '--group-rate',
      '10',
      '--recipients',
      '3',
      '--generator',
      generator,
      '--out',
      out,
    ];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    t.teardown(() => child.kill('SIGKILL'));
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    t.is(code, 0, `the rehearsal exits 0; its stderr:\n${stderr}`);

    const report = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8')) as RehearsalReport;
    t.deepEqual(JSON.parse(stdout.trim().split('\n').pop() ?? 'null')?.ok, true, 'report JSON on stdout');
    t.is(report.engine, process.env.HONGBAO_ENGINE ?? 'native', 'the server ran the engine the suite selected');
    t.true(report.reconciliation.ok, `reconciled: ${report.reconciliation.differences.join('; ')}`);
    t.deepEqual(report.problems, [], 'no process problems');
    t.is(report.clientProcesses, 2, 'two client processes');
    t.deepEqual(
      report.phases.map((p) => p.name),
      ['connect', 'step-1', 'supply', 'group', 'step-2', 'drain'],
      'every phase of the reference experiment',
    );
    for (const p of report.phases.filter((p) => p.targetQps > 0)) {
      t.is(p.clientQps, p.targetQps, `${p.name}: the two processes together sent exactly the target (median per second)`);
      t.true(Math.abs(p.serverQps - p.targetQps) <= p.targetQps * 0.1, `${p.name}: the server handled about the target (${p.serverQps})`);
      t.true(p.latency.count > 0 && p.latency.p99Ms > 0, `${p.name}: latency measured`);
    }
    t.true(report.shake.issued.count > 0 && report.shake.received.count > 0, 'shake packets were released and won');
    t.deepEqual(report.shake.received, report.shake.clients.received, 'shakes: ledger paid = clients received, count and cents');
    t.true(report.group.packets > 0, 'group packets were created');
    t.deepEqual(report.group.received, report.group.clients.received, 'group: ledger paid = clients received');
    t.deepEqual(report.group.issued, report.group.clients.issued, 'group: ledger created = clients notified');
    t.deepEqual(report.group.remaining, { count: 0, cents: 0 }, 'nothing left unexpired after the drain');
    t.is(report.group.issued.cents, report.group.received.cents + report.group.refunded.cents, 'group: issued = received + refunded, to the cent');
    for (const f of ['report.html', 'series.jsonl', 'series.csv', 'ledger.db', 'plots/qps.svg', 'plots/latency.svg', 'plots/network.svg']) {
      t.true(existsSync(path.join(out, f)), `${f} written`);
    }
    t.true(readFileSync(path.join(out, 'report.html'), 'utf8').includes('<svg'), 'the HTML report inlines its plots');
    t.regex(stderr, /RECONCILED/, 'the summary table says so');
  });
}

test.serial(
  "the seed preset's plumbing at small scale: 60,000 users over 4 access nodes on a Redis Cluster, native generator, reconciled to the cent",
  async (t) => {
    t.timeout(600_000);
    const out = mkdtempSync(path.join(tmpdir(), 'hongbao-rehearsal-seed-'));
    t.teardown(() => rmSync(out, { recursive: true, force: true }));
    // every figure but the scale is the seed's: its preset, its phases, its supply and campaign rates
    const args = ['--import', 'tsx', 'src/cli.ts', 'rehearsal', '--preset', 'seed', '--users', '60000', '--nodes', '4', '--users-per-process', '30000'];
    args.push('--qps1', '3000', '--qps2', '6000', '--phase-seconds', '4', '--supply-total', '800', '--group-total', '400', '--out', out);
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    t.teardown(() => child.kill('SIGKILL'));
    let stderr = '';
    child.stdout.resume();
    child.stderr.on('data', (d) => (stderr += d));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    t.is(code, 0, `the rehearsal exits 0; its stderr:\n${stderr.slice(-4000)}`);
    const report = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8')) as RehearsalReport;
    t.true(report.reconciliation.ok, `Redis, the four journals and the clients reconcile: ${report.reconciliation.differences.join('; ')}`);
    t.deepEqual(report.problems, [], 'no process problems');
    t.like(report, { nodes: 4, store: 'redis-cluster', users: 60_000 }, 'four access nodes on the Redis Cluster');
    t.is(report.connections.peak, 60_000, 'every user connected');
    t.is(report.perNode.length, 4, 'figures per node');
    t.is(
      report.perNode.reduce((a, n) => a + n.connectionsPeak, 0),
      60_000,
      'the shared port spread the users over the nodes: their peaks add up to all of them',
    );
    t.true(
      report.perNode.every((n) => n.connectionsPeak > 0 && (n.shakes ?? 0) > 0),
      'every node held users and served shakes',
    );
    const m = report.memory.classes;
    t.true(m.nodes.processes === 4 && m.redis.processes === 6 && m.clients.processes >= 2 && m.monitor.processes === 1, 'memory of every process class');
    t.true(report.memory.slab.peakMiB >= report.memory.slab.startMiB, "the kernel's slab is measured");
    for (const p of report.phases.filter((p) => p.targetQps > 0)) {
      t.is(p.clientQps, p.targetQps, `${p.name}: the target rate was sent`);
      t.true((p.cpu?.cores.nodes ?? 0) > 0 && (p.cpu?.msPer1000?.nodes ?? 0) > 0, `${p.name}: the nodes' CPU per 1,000 shakes is measured`);
    }
    t.is(report.phases[0].cpu?.per, 'connections', 'the connect phase counts CPU per 1,000 users connected');
    t.true(report.shake.received.count > 0 && report.group.received.count > 0, 'hits and shares were paid and tallied');
    for (const f of ['report.html', 'series.csv', 'journals/node-1.db', 'journals/node-4.db']) t.true(existsSync(path.join(out, f)), `${f} written`);
    t.regex(readFileSync(path.join(out, 'report.html'), 'utf8'), /the seed/, "the report sets the seed's figures beside the run's");
  },
);
