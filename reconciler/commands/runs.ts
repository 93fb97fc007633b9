// `fleetspec runs` and `fleetspec runs show ID`: the run ledger as recorded in the store (state/ledger.ts,
// state/reports.ts), newest first. Reads only the store; every value printed is escaped (logLine).
import { EXIT, type ExitCode } from '../exit-codes.js';
import { logLine } from '../escape.js';
import type { Queryable } from '../state/db.js';
import type { RunState, Transition } from '../state/ledger.js';
import type { PlanCounts, RunRecord } from '../state/reports.js';
import type { Output } from './output.js';
import { printTable, withStore } from './store.js';

export interface RunsOptions {
  limit: number;
  state?: string;
  repo?: string;
  format: 'text' | 'json';
}

/** The RUN_STATES of state/ledger.ts, here so that a bad --state is refused before the store opens. */
const STATES = ['PENDING', 'PLANNING', 'WAIT_FOR_APPROVE', 'APPLYING', 'ROLLBACK', 'DONE', 'BLOCKED', 'FAILED'] as const;

export const short = (sha: string | null | undefined, n = 7) => (sha ? sha.slice(0, n) : '-');

/** A time as `2025-01-31 12:00:05Z`. */
export const when = (at: Date | string | null) => (at ? new Date(at).toISOString().slice(0, 19).replace('T', ' ') + 'Z' : '-');

/** How long ago, to the coarsest useful unit: 45s, 12m, 3h, 2d. */
export function ago(at: Date | string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - new Date(at).getTime()) / 1000));
  if (s < 120) return `${s}s ago`;
  if (s < 7200) return `${Math.round(s / 60)}m ago`;
  if (s < 172_800) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86_400)}d ago`;
}

export const counts = (c: PlanCounts) =>
  `${c.add} to add, ${c.change} to change, ${c.destroy} to destroy${c.replace ? `, ${c.replace} to replace` : ''}${c.drift ? `, ${c.drift} drifted` : ''}${c.unknown ? `, ${c.unknown} not read` : ''}`;

const OUTCOME_WIDTH = 100;
const oneLine = (s: string | null) => {
  const line = logLine(s ?? '');
  return line.length > OUTCOME_WIDTH ? `${line.slice(0, OUTCOME_WIDTH - 1)}…` : line;
};

/** The commit a run dealt with: its own, or the default-branch commit it applied or refused. */
const runSha = (r: RunRecord & { mainSha?: string | null }) => r.gitSha ?? r.apply?.sha ?? r.mainSha ?? null;
const runPr = (r: RunRecord) => r.apply?.pr ?? r.pr ?? null;

export async function runsList(opts: RunsOptions, out: Output): Promise<ExitCode> {
  let state: RunState | undefined;
  if (opts.state !== undefined) {
    state = STATES.find((s) => s === opts.state!.toUpperCase());
    if (!state) {
      out.stderr(`fleetspec runs: --state "${logLine(opts.state)}" is not a run state`, 'err');
      out.stderr(`  hint: use one of ${STATES.join(', ')}`, 'err');
      return EXIT.INVALID;
    }
  }
  return withStore(out, 'runs', async (db) => {
    const { runRecords } = await import('../state/reports.js');
    const runs = await withMainSha(db, await runRecords(db, { limit: opts.limit, ...(state ? { state } : {}), ...(opts.repo ? { repo: opts.repo } : {}) }));
    if (opts.format === 'json') {
      out.stdout(
        JSON.stringify(
          {
            runs: runs.map((r) => ({
              id: r.id,
              repo: r.repo,
              trigger: r.trigger,
              state: r.state,
              createdAt: r.createdAt,
              finishedAt: r.finishedAt,
              gitSha: runSha(r),
              planHash: r.planHash,
              pr: runPr(r),
              outcome: r.reason,
            })),
          },
          null,
          2,
        ),
      );
      return EXIT.OK;
    }
    if (!runs.length) {
      out.stderr(`no runs${state ? ` in state ${state}` : ''}${opts.repo ? ` of ${logLine(opts.repo)}` : ''} in the ledger`);
      return EXIT.OK;
    }
    const now = Date.now();
    printTable(
      out,
      ['RUN', 'REPO', 'TRIGGER', 'STATE', 'WHEN', 'AGO', 'SHA', 'PLAN', 'PR', 'OUTCOME'],
      runs.map((r) => [String(r.id), r.repo, r.trigger, r.state, when(r.createdAt), ago(r.createdAt, now), short(runSha(r)), short(r.planHash, 12), runPr(r) ? `#${runPr(r)}` : '-', oneLine(r.reason)]),
    );
    return EXIT.OK;
  });
}

/** Runs of the loop name their commit in main_commits, not on the run: the newest one each dealt with. */
async function withMainSha(db: Queryable, runs: RunRecord[]): Promise<(RunRecord & { mainSha: string | null })[]> {
  if (!runs.length) return [];
  const rows = await db.query<{ runId: number; sha: string }>(
    `select distinct on (run_id) run_id::integer as "runId", sha from main_commits where run_id = any($1::bigint[]) order by run_id, at desc`,
    [runs.map((r) => r.id)],
  );
  const byRun = new Map(rows.map((r) => [Number(r.runId), r.sha]));
  return runs.map((r) => ({ ...r, mainSha: byRun.get(r.id) ?? null }));
}

interface CommitRow {
  sha: string;
  outcome: string;
  pr: number | null;
  detail: string | null;
  at: Date;
}

/** Who approved: the apply's record, else the reason of the transition into APPLYING ("#4 approved by @alice"). */
function approvedBy(r: RunRecord, history: Transition[]): string | null {
  if (r.apply?.approvedBy) return r.apply.approvedBy;
  const applying = history.find((t) => t.to === 'APPLYING');
  const m = applying?.reason?.match(/approved by (.+)$/);
  return m ? m[1]! : null;
}

export async function runsShow(id: string, opts: { format: 'text' | 'json' }, out: Output): Promise<ExitCode> {
  if (!/^[1-9][0-9]{0,15}$/.test(id)) {
    out.stderr(`fleetspec runs show: "${logLine(id)}" is not a run id`, 'err');
    out.stderr('  hint: fleetspec runs lists them', 'err');
    return EXIT.INVALID;
  }
  return withStore(out, 'runs show', async (db) => {
    const { runRecord } = await import('../state/reports.js');
    const { runHistory } = await import('../state/ledger.js');
    const run = await runRecord(db, Number(id));
    if (!run) {
      out.stderr(`fleetspec runs show: no run ${id} in the ledger`, 'err');
      out.stderr('  hint: fleetspec runs lists them', 'err');
      return EXIT.INVALID;
    }
    const [history, commits, planned] = await Promise.all([
      runHistory(db, run.id),
      db.query<CommitRow>(`select sha, outcome, pr, detail, at from main_commits where run_id = $1 order by at`, [run.id]),
      run.planHash
        ? db.query<{ summary: PlanCounts | string | null }>(`select plan -> 'summary' as summary from planned_commits where plan_hash = $1 and plan is not null order by created_at desc limit 1`, [run.planHash])
        : Promise.resolve([]),
    ]);
    const raw = planned[0]?.summary;
    const summary: PlanCounts | null = run.apply?.summary ?? (typeof raw === 'string' ? (JSON.parse(raw) as PlanCounts) : (raw ?? null));
    const sha = run.gitSha ?? run.apply?.sha ?? commits.at(-1)?.sha ?? null;
    const pr = run.apply?.pr ?? run.pr ?? null;
    const approver = approvedBy(run, history);
    if (opts.format === 'json') {
      out.stdout(
        JSON.stringify(
          {
            id: run.id,
            repo: run.repo,
            trigger: run.trigger,
            state: run.state,
            reason: run.reason,
            createdAt: run.createdAt,
            updatedAt: run.updatedAt,
            finishedAt: run.finishedAt,
            gitSha: sha,
            planHash: run.planHash,
            planSummary: summary,
            pr,
            approvedBy: approver,
            transitions: history.map((t) => ({ from: t.from, to: t.to, reason: t.reason, at: t.at })),
            commits: commits.map((c) => ({ sha: c.sha, outcome: c.outcome, pr: c.pr, detail: c.detail, at: c.at })),
            apply: run.apply,
            tick: run.report,
          },
          null,
          2,
        ),
      );
      return EXIT.OK;
    }
    const line = (label: string, value: string) => out.stdout(`${label.padEnd(12)}${logLine(value)}`);
    line('run', `${run.id} ${run.state} (${run.trigger}) ${run.repo}`);
    line('started', `${when(run.createdAt)} (${ago(run.createdAt)})`);
    if (run.finishedAt) line('finished', `${when(run.finishedAt)} (took ${Math.max(0, Math.round((new Date(run.finishedAt).getTime() - new Date(run.createdAt).getTime()) / 1000))}s)`);
    line('commit', sha ?? '-');
    line('plan', run.planHash ? `${run.planHash}${summary ? `: ${counts(summary)}` : ''}` : '-');
    line('PR', pr ? `#${pr}` : '-');
    line('approved by', approver ?? '-');
    line('outcome', run.reason ?? '-');
    out.stdout('transitions:');
    const rows = history.map((t) => [when(t.at), `${t.from ?? ''}${t.from ? ' -> ' : '-> '}${t.to}`, t.reason ?? '']);
    const width = Math.max(...rows.map((r) => r[1]!.length));
    for (const [at, edge, reason] of rows) out.stdout(`  ${at}  ${edge!.padEnd(width)}${reason ? `  ${logLine(reason)}` : ''}`.trimEnd());
    if (run.apply) {
      const a = run.apply;
      out.stdout(`apply: ${logLine(a.status)}`);
      const list = (label: string, items: string[]) => {
        if (items.length) out.stdout(`  ${label}:`);
        for (const item of items) out.stdout(`    ${logLine(item)}`);
      };
      list('applied', a.done);
      if (a.failed) out.stdout(`  failed: ${logLine(a.failed.change)}: ${logLine(a.failed.error)}`);
      list('rolled back', a.rolledBack);
      list('rollback failed', a.rollbackFailed.map((r) => `${r.description}: ${r.error}`));
      list('not done', a.notDone);
    }
    if (commits.length) {
      out.stdout('default branch:');
      for (const c of commits) out.stdout(`  ${short(c.sha)} ${logLine(c.outcome)}${c.pr ? ` #${c.pr}` : ''}${c.detail ? `: ${logLine(c.detail)}` : ''}`);
    }
    const t = run.report;
    if (t) {
      out.stdout(`tick: took ${Math.round(t.durationMs / 100) / 10}s`);
      for (const c of t.commands ?? []) out.stdout(`  command /fleetspec ${logLine(c.command)} on #${c.pr} by ${logLine(c.by)}: ${logLine(c.state)}${c.resultPr ? ` (#${c.resultPr})` : ''}${c.state !== 'done' ? `: ${logLine(c.detail)}` : ''}`);
      for (const b of t.branches) out.stdout(`  branch ${logLine(b.branch)} ${short(b.sha)}: PR #${b.pr} ${logLine(b.action)} (${logLine(b.status)})`);
      for (const d of t.drift) out.stdout(`  drift ${logLine(d.kind)}: PR #${d.pr} ${logLine(d.action)}`);
      for (const f of t.findings) out.stdout(`  finding ${logLine(f.key)} ${logLine(f.id)}: ${f.pr ? `PR #${f.pr} ` : ''}${logLine(f.action)}`);
      for (const e of t.errors) out.stdout(`  error: ${logLine(e)}`);
      if (t.waiting) out.stdout(`  ${t.waiting} commit${t.waiting === 1 ? '' : 's'} left for the next tick`);
    }
    return EXIT.OK;
  });
}
