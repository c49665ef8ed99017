// `hongbao ledger <subcommand>`: tools that work on a ledger database file.
//   hongbao ledger check --db FILE   reconcile every packet and flow; table to stderr, JSON to stdout;
//                                    exit 0 when balanced, 1 naming every difference, 2 on misuse.
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type CheckReport, checkLedger, formatReport } from './check.ts';

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const processIo: CliIo = {
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
};

const USAGE = `usage: hongbao ledger check --db FILE

Reconciles a ledger database from its tables alone: per group packet and per flow, in count and
cents, created = paid + remaining + refunded; every share >= 1 cent; the shares of a fully opened
packet add up to its total; no packet refunded twice; no user paid twice for a packet; no payment
to a non-recipient; shake packets won at most once; no supply released past its total.

Prints a table to stderr and a JSON summary to stdout.
Exit status: 0 balanced, 1 differences found (each one named), 2 usage or unreadable file.

flags:
  --db FILE   the ledger's SQLite file (the server's --data-dir holds it)
  -h, --help  this text
`;

export async function main(argv: string[], io: CliIo = processIo): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    (sub ? io.stdout : io.stderr)(USAGE);
    return sub ? 0 : 2;
  }
  if (sub !== 'check') {
    io.stderr(`hongbao ledger: unknown subcommand "${sub}"\n\n${USAGE}`);
    return 2;
  }
  let values: { db?: string; help?: boolean };
  try {
    ({ values } = parseArgs({ args: rest, options: { db: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true }));
  } catch (err) {
    io.stderr(`hongbao ledger check: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    io.stdout(USAGE);
    return 0;
  }
  if (!values.db) {
    io.stderr(`hongbao ledger check: --db FILE is required\n\n${USAGE}`);
    return 2;
  }
  if (!existsSync(values.db)) {
    io.stderr(`hongbao ledger check: no such file: ${values.db}\n`);
    return 2;
  }
  let report: CheckReport;
  try {
    report = checkLedger(values.db);
  } catch (err) {
    io.stderr(`hongbao ledger check: cannot read ${values.db} as a ledger: ${(err as Error).message}\n`);
    return 2;
  }
  io.stderr(formatReport(report));
  io.stdout(`${JSON.stringify(report)}\n`);
  return report.ok ? 0 : 1;
}
