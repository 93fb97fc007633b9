import type { ExitCode } from '../exit-codes.js';
import { EXIT } from '../exit-codes.js';
import { deleteSecret, generateKey, getScopedSecret, getSecret, listSecrets, parseKey, rotateKey, setScope, setSecret } from '../state/secrets.js';
import type { Output } from './output.js';
import { actor, printTable, withStore } from './store.js';

/** The value to store, from standard input only (argv is visible in ps and shell history). */
export async function readStdin(stdin: NodeJS.ReadableStream & { isTTY?: boolean } = process.stdin): Promise<Buffer | undefined> {
  if (stdin.isTTY) return undefined;
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(Buffer.from(chunk as Buffer));
  const value = Buffer.concat(chunks);
  // `echo token | fleetspec secrets set` adds a newline the user did not mean to store.
  return value.at(-1) === 0x0a ? value.subarray(0, value.at(-2) === 0x0d ? -2 : -1) : value;
}

const scopeText = (scope: readonly string[]) => (scope.length ? scope.join(', ') : "fleetspec's own use only");

export function secretsSet(path: string, out: Output, input: () => Promise<Buffer | undefined> = readStdin, scope?: string[]): Promise<ExitCode> {
  return withStore(out, 'secrets set', async (db) => {
    const key = parseKey(process.env.FLEETSPEC_SECRET_KEY);
    const value = await input();
    if (value === undefined) {
      out.stderr('fleetspec secrets set: the value is read from standard input, and standard input is a terminal');
      out.stderr(`  hint: fleetspec secrets set ${path} < file   or   printf %s "$VALUE" | fleetspec secrets set ${path}`);
      return EXIT.INVALID;
    }
    const stored = await setSecret(db, key, path, value, actor(), scope);
    out.stderr(`stored ${path} (${value.length} bytes, key ${key.id}; scope: ${scopeText(stored)})`);
    return EXIT.OK;
  });
}

export function secretsGet(path: string, out: Output & { raw?: (b: Buffer) => void }): Promise<ExitCode> {
  return withStore(out, 'secrets get', async (db) => {
    const value = await getSecret(db, parseKey(process.env.FLEETSPEC_SECRET_KEY), path, actor());
    if (value === undefined) {
      out.stderr(`fleetspec secrets get: no secret at ${path}`);
      out.stderr('  hint: fleetspec secrets list shows the paths that exist');
      return EXIT.INVALID;
    }
    if (out.raw) out.raw(value);
    else out.stdout(value.toString('utf8'));
    return EXIT.OK;
  });
}

export function secretsList(prefix: string | undefined, opts: { format: 'text' | 'json' }, out: Output): Promise<ExitCode> {
  return withStore(out, 'secrets list', async (db) => {
    const rows = await listSecrets(db, actor(), prefix);
    if (opts.format === 'json') out.stdout(JSON.stringify(rows, null, 2));
    else printTable(out, ['PATH', 'KEY', 'UPDATED', 'SCOPE'], rows.map((r) => [r.path, r.keyId, r.updatedAt.toISOString(), r.scope.join(',') || '(fleetspec)']));
    return EXIT.OK;
  });
}

/** Shows a secret's scope (authenticated with the key), or replaces it when `scope` is given. */
export function secretsScope(path: string, scope: string[] | undefined, opts: { format: 'text' | 'json' }, out: Output): Promise<ExitCode> {
  return withStore(out, 'secrets scope', async (db) => {
    const key = parseKey(process.env.FLEETSPEC_SECRET_KEY);
    let result: string[];
    if (scope) result = await db.transaction((tx) => setScope(tx, key, path, scope, actor()));
    else {
      const found = await getScopedSecret(db, key, path, actor());
      if (!found) {
        out.stderr(`fleetspec secrets scope: no secret at ${path}`);
        out.stderr('  hint: fleetspec secrets list shows the paths that exist');
        return EXIT.INVALID;
      }
      result = found.scope;
    }
    if (opts.format === 'json') out.stdout(JSON.stringify({ path, scope: result }));
    else out.stdout(`${path}: ${scopeText(result)}`);
    return EXIT.OK;
  });
}

export function secretsDelete(path: string, out: Output): Promise<ExitCode> {
  return withStore(out, 'secrets delete', async (db) => {
    const gone = await deleteSecret(db, path, actor());
    out.stderr(gone ? `deleted ${path}` : `no secret at ${path}; nothing deleted`);
    return EXIT.OK;
  });
}

export function secretsRotate(out: Output): Promise<ExitCode> {
  return withStore(out, 'secrets rotate', async (db) => {
    const current = parseKey(process.env.FLEETSPEC_SECRET_KEY);
    const next = parseKey(process.env.FLEETSPEC_NEW_SECRET_KEY, 'FLEETSPEC_NEW_SECRET_KEY');
    const count = await db.transaction((tx) => rotateKey(tx, current, next, actor()));
    out.stderr(`re-encrypted ${count} secret${count === 1 ? '' : 's'} from key ${current.id} to key ${next.id}; set FLEETSPEC_SECRET_KEY to the new key now`);
    return EXIT.OK;
  });
}

export function secretsKeygen(out: Output): ExitCode {
  out.stdout(generateKey());
  return EXIT.OK;
}
