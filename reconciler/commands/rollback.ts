// `fleetspec rollback PR|run:N`: what an approver's `/fleetspec rollback` comment does, from the
// server's command line. It records the request and runs one tick, which opens the revert pull
// request and plans it (loop/rollback.ts); approval and apply are as for any change. With
// `--list`, the rollbacks asked for, with their times against the rollback SLA.
import { EXIT, type ExitCode } from '../exit-codes.js';
import { logLine } from '../escape.js';
import { ConfigError } from '../loop/config.js';
import { ROLLBACK_BEGIN_GOAL_MS } from '../loop/rollback.js';
import { getCommand, recordCommand, type Command } from '../state/commands.js';
import type { Db } from '../state/db.js';
import { LockHeld } from '../state/lock.js';
import type { TickReport } from '../loop/tick.js';
import { explain, openLoop, runTick, type ReconcileOptions } from './loop.js';
import type { Output } from './output.js';
import { withStore } from './store.js';

export interface RollbackOptions extends ReconcileOptions {
  list?: boolean;
}

/** PR 12 (`12`, `#12`), or the PR run 34 applied (`run:34`). */
export function parseRollbackTarget(text: string): { pr: number } | { run: number } | { problem: string } {
  const pr = /^#?([1-9][0-9]{0,9})$/.exec(text.trim());
  if (pr) return { pr: Number(pr[1]) };
  const run = /^run:([1-9][0-9]{0,12})$/.exec(text.trim());
  if (run) return { run: Number(run[1]) };
  return { problem: `"${logLine(text)}" is neither a pull request number (12 or #12) nor a run (run:34)` };
}

export function rollbackCommand(target: string | undefined, opts: RollbackOptions, out: Output): Promise<ExitCode> {
  if (opts.list) return withStore(out, 'rollback', (db) => listRollbacks(db, opts, out));
  if (target === undefined) {
    out.stderr('fleetspec rollback: name the pull request to roll back (fleetspec rollback 12, or run:34 for the PR run 34 applied), or --list', 'err');
    return Promise.resolve(EXIT.INVALID);
  }
  const parsed = parseRollbackTarget(target);
  if ('problem' in parsed) {
    out.stderr(`fleetspec rollback: ${parsed.problem}`, 'err');
    out.stderr('  hint: fleetspec runs lists runs; a PR number is the one GitHub shows', 'err');
    return Promise.resolve(EXIT.INVALID);
  }
  return withStore(out, 'rollback', async (db) => {
    let pr: number;
    if ('run' in parsed) {
      const [row] = await db.query<{ apply: { pr?: number } | string | null }>(`select apply from runs where id = $1`, [parsed.run]);
      const apply = typeof row?.apply === 'string' ? (JSON.parse(row.apply) as { pr?: number }) : row?.apply;
      if (!row) {
        out.stderr(`fleetspec rollback: there is no run ${parsed.run} in the state store`, 'err');
        return EXIT.INVALID;
      }
      if (!apply?.pr) {
        out.stderr(`fleetspec rollback: run ${parsed.run} applied no pull request`, 'err');
        out.stderr('  hint: fleetspec runs show N tells what a run did; name the pull request instead', 'err');
        return EXIT.INVALID;
      }
      pr = apply.pr;
    } else pr = parsed.pr;

    let loop;
    try {
      loop = await openLoop(db, opts, out, !opts.quiet);
    } catch (err) {
      const known = err instanceof ConfigError ? { message: err.message, hint: err.hint } : explain(err);
      if (!known) throw err;
      out.stderr(`fleetspec rollback: ${logLine(known.message)}`, 'err');
      if (known.hint) out.stderr(`  hint: ${logLine(known.hint)}`, 'err');
      return err instanceof ConfigError ? EXIT.INVALID : EXIT.ERROR;
    }
    const cmd = await recordCommand(db, loop.config.fullName, { source: 'cli', pr, command: 'rollback', requestedAt: new Date() });
    if (!cmd) throw new Error('the rollback was not recorded');
    let report: TickReport | undefined;
    try {
      report = await runTick(db, loop, opts, out, 'command', !opts.quiet);
    } catch (err) {
      if (err instanceof LockHeld) {
        // The daemon has the repository: the request waits in the store for its next tick.
        out.stderr(`fleetspec rollback: ${logLine(err.message)}`, 'notice');
        out.stderr(`fleetspec rollback: the rollback of #${pr} is recorded (command ${cmd.id}); the running fleetspec opens it at its next tick`, 'notice');
        if (opts.format === 'json') out.stdout(JSON.stringify(await commandJson(db, cmd.id), null, 2));
        return EXIT.OK;
      }
      report = (err as { report?: TickReport }).report;
      if (!report) {
        out.stderr(`fleetspec rollback: ${logLine(err instanceof Error ? err.message : String(err))}`, 'err');
        return EXIT.ERROR;
      }
    }
    const done = (await getCommand(db, cmd.id))!;
    if (opts.format === 'json') out.stdout(JSON.stringify(await commandJson(db, cmd.id), null, 2));
    if (done.state === 'done') {
      if (opts.format !== 'json') out.stdout(`rollback of #${pr}: revert pull request #${done.resultPr} ${done.detail?.includes('already') ? 'is open already' : 'opened and planned'} (run ${report?.run})`);
      if (opts.format !== 'json') for (const n of done.notes ?? []) out.stdout(`  cannot be undone: ${logLine(n)}`);
      if (opts.format !== 'json') out.stdout('It is applied once an approver approves it on GitHub and it is merged; a rollback asked for here needs two approvers (fleetspec cannot name who asked).');
      return EXIT.OK;
    }
    if (done.state === 'refused') {
      out.stderr(`fleetspec rollback: not rolled back: ${logLine(done.detail ?? 'refused')}`, 'err');
      return EXIT.INVALID;
    }
    out.stderr(`fleetspec rollback: the tick (run ${report?.run}, ${report?.state}) did not act on the rollback: ${logLine(report?.errors.join('; ') || report?.reason || 'unknown')}; it stays recorded for the next tick`, 'err');
    return EXIT.ERROR;
  });
}

async function commandJson(db: Db, id: number): Promise<Record<string, unknown>> {
  const c = (await getCommand(db, id))!;
  return toJson(c);
}

function toJson(c: Command): Record<string, unknown> {
  return {
    id: c.id,
    repo: c.repo,
    pr: c.pr,
    source: c.source,
    requestedBy: c.requestedBy,
    requestedAt: c.requestedAt.toISOString(),
    state: c.state,
    detail: c.detail,
    revertPr: c.resultPr,
    notes: c.notes ?? [],
    run: c.runId,
    openedAt: c.openedAt?.toISOString() ?? null,
    plannedAt: c.plannedAt?.toISOString() ?? null,
    beginMs: c.plannedAt ? c.plannedAt.getTime() - c.requestedAt.getTime() : null,
  };
}

async function listRollbacks(db: Db, opts: RollbackOptions, out: Output): Promise<ExitCode> {
  const rows = await db.query<{ id: number }>(`select id::integer as id from commands where command = 'rollback' order by requested_at desc, id desc limit 100`);
  const all = await Promise.all(rows.map((r) => getCommand(db, r.id)));
  const list = all.filter((c): c is Command => c !== undefined);
  if (opts.format === 'json') {
    out.stdout(JSON.stringify(list.map(toJson), null, 2));
    return EXIT.OK;
  }
  if (!list.length) {
    out.stdout('No rollback has been asked for.');
    return EXIT.OK;
  }
  for (const c of list) {
    const begin = c.plannedAt ? (c.plannedAt.getTime() - c.requestedAt.getTime()) / 1000 : undefined;
    const sla = begin === undefined ? '' : `, planned ${begin.toFixed(1)} s after the request (goal under ${ROLLBACK_BEGIN_GOAL_MS / 60_000} min: ${begin * 1000 <= ROLLBACK_BEGIN_GOAL_MS ? 'met' : 'missed'})`;
    out.stdout(
      `${c.requestedAt.toISOString()} ${logLine(c.repo)} #${c.pr} by ${c.requestedBy ? `@${logLine(c.requestedBy)}` : 'the command line'}: ${c.state}${c.resultPr ? ` -> #${c.resultPr}` : ''}${c.detail && c.state !== 'done' ? ` (${logLine(c.detail)})` : ''}${sla}`,
    );
  }
  return EXIT.OK;
}
