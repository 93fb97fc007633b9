// Shared by the commands that use the state store: open it from the environment,
// turn StateErrors into a message, a hint and an exit code, and always close it.
import { userInfo } from 'node:os';
import type { ExitCode } from '../exit-codes.js';
import type { Db } from '../state/db.js';
import { StateError } from '../state/errors.js';
import type { Output } from './output.js';
import { logLine } from '../escape.js';

/** Who is acting, for audit rows: FLEETSPEC_ACTOR, else the OS user. */
export function actor(): string {
  return process.env.FLEETSPEC_ACTOR ?? userInfo().username;
}

export async function withStore(out: Output, command: string, fn: (db: Db) => Promise<ExitCode>): Promise<ExitCode> {
  let db: Db | undefined;
  try {
    // The store's drivers (pg, PGlite) are imported when a command opens it, not by the commands
    // that only share this module's helpers (printTable, actor).
    const { openDb, optionsFromEnv } = await import('../state/db.js');
    db = await openDb(optionsFromEnv());
    return await fn(db);
  } catch (err) {
    if (err instanceof StateError) {
      out.stderr(`fleetspec ${command}: ${logLine(err.message)}`, 'err');
      if (err.hint) out.stderr(`  hint: ${logLine(err.hint)}`, 'err');
      return err.exitCode;
    }
    throw err;
  } finally {
    await db?.close().catch(() => {});
  }
}

/** Columns padded to their widest cell; each cell is one escaped line (logLine), whatever a spec or the store held. */
export function printTable(out: Output, header: string[], cells: string[][]): void {
  const rows = cells.map((r) => r.map(logLine));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  out.stdout(line(header));
  for (const r of rows) out.stdout(line(r));
}
