// The state store: reachable (PostgreSQL from DATABASE_URL, else PGlite in its folder), migrated
// to this fleetspec's version, and, for PGlite, a folder only its owner can read or write.
// Doctor opens the store without migrating it and never creates one.
import { createHash } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { redactUrl } from '../redact.js';
import { shellQuote } from '../ssh/quote.js';
import { MIGRATIONS } from '../state/migrations.js';
import { LockHeld } from '../state/lock.js';
import { explain, fail, ok, warn, withDeadline, type CheckGroup, type CheckResult, type DoctorContext } from './check.js';

/** Opening PGlite compiles its WebAssembly: seconds on a loaded machine, so it gets at least this. */
const LEAST_OPEN_MS = 60_000;

/** The embedded store's folder as the commands resolve it. */
export function stateFolder(env: NodeJS.ProcessEnv): string {
  return resolve(env.FLEETSPEC_STATE_DIR ?? join('.fleetspec', 'state'));
}

/** Owner and mode of the PGlite folder: others may neither read nor write it. */
export async function checkFolder(dir: string): Promise<CheckResult | 'missing'> {
  const info = await stat(dir).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? 'missing' : err));
  if (info === 'missing') return 'missing';
  if (info instanceof Error) return fail('store.folder', `cannot read ${dir}: ${info.message}`, 'set FLEETSPEC_STATE_DIR to a folder of the user fleetspec runs as');
  if (!info.isDirectory()) return fail('store.folder', `${dir} is not a folder`, 'set FLEETSPEC_STATE_DIR to a folder');
  const uid = process.getuid?.();
  if (uid !== undefined && info.uid !== uid) {
    return fail('store.folder', `${dir} belongs to uid ${info.uid}, not to this user (uid ${uid})`, `run fleetspec as the folder's owner, or: chown -R $(id -u): ${shellQuote(dir)}`);
  }
  const mode = info.mode & 0o777;
  const octal = mode.toString(8).padStart(4, '0');
  if (mode & 0o077) {
    const who = [mode & 0o070 ? 'its group' : '', mode & 0o007 ? 'all users' : ''].filter(Boolean).join(' and ');
    const can = [mode & 0o044 ? 'read' : '', mode & 0o022 ? 'write' : ''].filter(Boolean).join(' and ') || 'enter';
    return fail('store.folder', `${dir} lets ${who} ${can} it (mode ${octal})`, `check that nothing in it was planted by someone else, then: chmod -R go-rwx ${shellQuote(dir)}`);
  }
  return ok('store.folder', `${dir} (mode ${octal}, yours)`);
}

const checksum = (sql: string) => createHash('sha256').update(sql).digest('hex');

/** Whether the store holds exactly this fleetspec's migrations. */
export async function checkMigrations(ctx: DoctorContext): Promise<CheckResult> {
  const db = ctx.db!;
  const latest = Math.max(...MIGRATIONS.map((m) => m.version));
  const [table] = await db.query<{ name: string | null }>(`select to_regclass('fleetspec_migrations')::text as name`);
  if (!table?.name) return warn('store.migrations', `${db.location} holds no fleetspec schema yet (this fleetspec is at migration ${latest})`, 'nothing to do: the first fleetspec command creates it');
  const rows = await db.query<{ version: number; name: string; checksum: string }>('select version, name, checksum from fleetspec_migrations order by version');
  const known = new Map(MIGRATIONS.map((m) => [m.version, m]));
  const unknown = rows.filter((r) => !known.has(r.version));
  if (unknown.length) {
    return fail('store.migrations', `the store has migration ${unknown.map((r) => `${r.version} (${r.name})`).join(', ')}, which this fleetspec (at ${latest}) does not know`, 'a newer fleetspec has used this store: upgrade fleetspec');
  }
  const changed = rows.filter((r) => checksum(known.get(r.version)!.sql) !== r.checksum);
  if (changed.length) {
    return fail('store.migrations', `migration ${changed.map((r) => r.version).join(', ')} differs from the one this fleetspec has`, 'this fleetspec build does not match the store: install the release that made it');
  }
  const done = new Set(rows.map((r) => r.version));
  const pending = MIGRATIONS.filter((m) => !done.has(m.version)).map((m) => m.version);
  if (pending.length) return warn('store.migrations', `at migration ${Math.max(0, ...done)}, this fleetspec is at ${latest} (${pending.length} to apply)`, 'nothing to do: the next fleetspec command applies them, in one transaction');
  return ok('store.migrations', `at migration ${latest}, this fleetspec's`);
}

async function open(ctx: DoctorContext): Promise<CheckResult> {
  const { openDb } = await import('../state/db.js');
  const url = ctx.env.DATABASE_URL;
  const ms = Math.max(LEAST_OPEN_MS, ctx.settings.timeoutMs);
  const where = url ? `PostgreSQL at ${redactUrl(url)}` : `the embedded store in ${ctx.stateDir}`;
  return withDeadline(
    ms,
    async () => {
      try {
        ctx.db = url
          ? await openDb({ databaseUrl: url, migrate: false, maxConnections: 2, timeouts: { connectMs: ctx.settings.timeoutMs, queryMs: ctx.settings.timeoutMs } })
          : await openDb({ stateDir: ctx.stateDir!, migrate: false, waitMs: 0 });
        return ok('store', `reached ${where}`);
      } catch (err) {
        const { message, hint } = explain(err);
        if (err instanceof LockHeld) return warn('store', `${where} is in use: ${redactUrl(message)}`, 'stop the daemon (systemctl stop fleetspec) to check the store, or read the rest of this report');
        return fail('store', redactUrl(message), hint ?? (url ? 'check DATABASE_URL and that the server is up' : 'set FLEETSPEC_STATE_DIR to the store folder'));
      }
    },
    () => fail('store', `${where} did not open within ${Math.round(ms / 1000)} s`, url ? 'check that the database server answers (pg_isready) and the network to it' : 'check the disk under the state folder'),
  );
}

export const store: CheckGroup = {
  name: 'store',
  async run(ctx) {
    const results: CheckResult[] = [];
    if (!ctx.env.DATABASE_URL) {
      ctx.stateDir = stateFolder(ctx.env);
      const folder = await checkFolder(ctx.stateDir);
      if (folder === 'missing') {
        return [warn('store', `no embedded store at ${ctx.stateDir} yet, and no DATABASE_URL`, 'nothing to do for a first run: the first command creates it (mode 0700); for PostgreSQL, set DATABASE_URL')];
      }
      results.push(folder);
      // Opening would tighten the modes itself; the folder is reported as it is, and not opened when others can reach it.
      if (folder.status === 'fail') return results;
      // PGlite would initialise a store in an empty folder: doctor makes none.
      if ((await readdir(ctx.stateDir)).length === 0) {
        return [warn('store', `the embedded store folder ${ctx.stateDir} is empty`, 'nothing to do for a first run: the first command creates the store in it'), ...results];
      }
    }
    const opened = await open(ctx);
    results.unshift(opened);
    if (ctx.db) {
      results.push(
        await withDeadline(
          Math.max(LEAST_OPEN_MS, ctx.settings.timeoutMs),
          () => checkMigrations(ctx).catch((err) => fail('store.migrations', redactUrl(explain(err).message), explain(err).hint ?? 'check the store')),
          () => fail('store.migrations', 'reading the migrations did not finish in time', 'check the database server'),
        ),
      );
    }
    return results;
  },
};
