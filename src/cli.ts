// `hongbao <command>`: one entry point for every role. Each command module exports
// `main(argv): Promise<number>` and owns its own flags and `--help`.
const commands: Record<string, { summary: string; load: () => Promise<{ main(argv: string[]): Promise<number> }> }> = {
  server: { summary: 'run the access server (WebSocket + HTTP + admin API)', load: () => import('./server/main.ts') },
  clients: { summary: 'run a coordinated client simulator process', load: () => import('./simulator/main.ts') },
  monitor: { summary: 'collect per-second counters, write the time series and plots', load: () => import('./monitor/main.ts') },
  rehearsal: { summary: 'the whole experiment end to end (npm start)', load: () => import('./rehearsal/main.ts') },
  ledger: { summary: 'ledger tools: `hongbao ledger check --db FILE`', load: () => import('./ledger/cli.ts') },
  cluster: {
    summary: 'a local Redis Cluster and N access nodes: `hongbao cluster up --dir D --nodes N`, `down --dir D`',
    load: () => import('./cluster/cli.ts'),
  },
};

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return `usage: hongbao <command> [flags]   (hongbao <command> --help for its flags)\n\ncommands:\n${lines.join('\n')}\n`;
}

const [name, ...rest] = process.argv.slice(2);
if (!name || name === '--help' || name === '-h') {
  process.stdout.write(usage());
  process.exit(name ? 0 : 2);
}
const command = commands[name];
if (!command) {
  process.stderr.write(`hongbao: unknown command "${name}"\n\n${usage()}`);
  process.exit(2);
}
try {
  const code = await (await command.load()).main(rest);
  process.exitCode = code;
} catch (err) {
  process.stderr.write(`hongbao ${name}: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
