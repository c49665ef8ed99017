// The server's HMAC secret and the admin token: taken from the environment, else read from (or
// generated into) a file of the data directory with mode 0600. Only the path is ever printed.
import { randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface SecretSource {
  value: string;
  /** 'env' when the environment gave it, else the file it lives in. */
  from: 'env' | 'file';
  file: string | null;
  generated: boolean;
}

/** Read `<dataDir>/<name>`, or create it (0600, exclusive) with 32 random bytes in base64url. */
export function loadOrCreateSecret(envValue: string | undefined, dataDir: string, name: string): SecretSource {
  if (envValue !== undefined && envValue.trim() !== '') return { value: envValue.trim(), from: 'env', file: null, generated: false };
  const file = path.resolve(dataDir, name);
  try {
    writeFileSync(file, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
    chmodSync(file, 0o600); // the umask may have taken bits away, never added: this is only for clarity
    return { value: readSecretFile(file), from: 'file', file, generated: true };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new Error(`cannot create ${file}: ${(err as Error).message}`);
  }
  const mode = statSync(file).mode & 0o777;
  if ((mode & 0o077) !== 0) throw new Error(`${file} is readable by others (mode ${mode.toString(8)}): chmod 600 it`);
  return { value: readSecretFile(file), from: 'file', file, generated: false };
}

function readSecretFile(file: string): string {
  const value = readFileSync(file, 'utf8').trim();
  if (value.length < 16) throw new Error(`${file} holds fewer than 16 characters: not a usable secret`);
  return value;
}
