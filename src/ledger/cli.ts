// `hongbao ledger check`: reconciles a single server's ledger database from its own tables, or a
// cluster (--cluster) from Redis and every access node's journal. Table to stderr, JSON to stdout;
// exit 0 when balanced, 1 naming every difference, 2 on misuse or an unreadable source.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Flags, type Io, runCommand } from '../cli/flags.ts';
import { type CheckReport, checkLedger, formatReport } from './check.ts';

export type CliIo = Io;

const processIo: CliIo = {
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
};

const flags = new Flags(
  'hongbao ledger check --db FILE | --cluster (--dir DIR | --redis URL[,URL...] --journal FILE[,FILE...])',
  `A server ledger (--db): per group packet and per flow, in count and cents, created = paid +
remaining + refunded; every share >= 1 cent; the shares of a fully opened packet add up to its total;
no packet refunded twice; no user paid twice for a packet; no payment to a non-recipient; shake
packets won at most once; no supply released past its total.
A cluster (--cluster, Redis still up, the nodes stopped): the same identities on Redis, and every
hit, share, packet and refund in Redis in exactly one node's journal with the same user and cents,
nothing a journal told missing from Redis, every doubt settled (docs/cluster.md).

Exit status: 0 balanced, 1 differences found (each one named), 2 usage or unreadable source.`,
)
  .string('db', "the ledger's SQLite file (the server's --data holds it)", { value: 'FILE' })
  .bool('cluster', 'check a cluster instead of one ledger')
  .string('dir', 'the directory of `hongbao cluster up` (its Redis and journals)', { value: 'DIR' })
  .list('redis', 'the Redis Cluster (any of its instances)', { value: 'URL[,URL...]' })
  .list('journal', "the access nodes' journal files", { value: 'FILE[,FILE...]' });

export async function main(argv: string[], io: CliIo = processIo): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    (sub ? io.stdout : io.stderr)(flags.help());
    return sub ? 0 : 2;
  }
  if (sub !== 'check') {
    io.stderr(`hongbao ledger: unknown subcommand "${sub}"\n\n${flags.help()}`);
    return 2;
  }
  return runCommand(
    'hongbao ledger check',
    flags,
    rest,
    async (v) => {
      let report: CheckReport;
      if (v.cluster) {
        let urls = v.redis;
        let journals = v.journal;
        if (v.dir) {
          const stateFile = path.join(v.dir, 'cluster.json');
          if (!existsSync(stateFile)) {
            io.stderr(`hongbao ledger check: no running cluster in ${v.dir} (no cluster.json)\n`);
            return 2;
          }
          const state = JSON.parse(readFileSync(stateFile, 'utf8')) as { redisUrls: string[]; journals: string[] };
          urls = state.redisUrls;
          journals = state.journals.filter((f) => existsSync(f));
        }
        if (urls.length === 0) {
          io.stderr('hongbao ledger check --cluster: --dir or --redis is required\n');
          return 2;
        }
        try {
          const { checkCluster } = await import('../cluster/cluster-check.ts');
          report = (await checkCluster(urls, journals)).report;
        } catch (err) {
          io.stderr(`hongbao ledger check: cannot read the cluster: ${(err as Error).message}\n`);
          return 2;
        }
      } else {
        if (!v.db) {
          io.stderr(`hongbao ledger check: --db FILE (or --cluster) is required\n\n${flags.help()}`);
          return 2;
        }
        if (!existsSync(v.db)) {
          io.stderr(`hongbao ledger check: no such file: ${v.db}\n`);
          return 2;
        }
        try {
          report = checkLedger(v.db);
        } catch (err) {
          io.stderr(`hongbao ledger check: cannot read ${v.db} as a ledger: ${(err as Error).message}\n`);
          return 2;
        }
      }
      io.stderr(formatReport(report));
      io.stdout(`${JSON.stringify(report)}\n`);
      return report.ok ? 0 : 1;
    },
    io,
  );
}
