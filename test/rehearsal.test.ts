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
