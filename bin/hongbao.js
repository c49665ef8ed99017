#!/usr/bin/env node
// Runs src/cli.ts in this very process: tsx registered through its API, then the CLI imported, so
// signals, exit codes and execArgv are this process's own (no wrapper process in between).
import { register } from 'tsx/esm/api';

register();
await import('../src/cli.ts');
