// `fleetspec status`: is the fleet in sync, from what the loop recorded in the store only (no GitHub, no
// hosts): the last tick, the leader, the PRs waiting for approval and their verdicts, drift per kind,
// open findings, the trusted commit, and what is suspended. Exit 0 in sync, 2 something waits or differs.
import { EXIT, type ExitCode } from '../exit-codes.js';
import { logLine } from '../escape.js';
import type { Db } from '../state/db.js';
import type { RunRecord, TickRecord } from '../state/reports.js';
import type { Output } from './output.js';
import { withStore } from './store.js';
import { ago, short, when } from './runs.js';

export interface StatusOptions {
  repo?: string;
  format: 'text' | 'json';
}

/**
 * What is suspended and what sync windows hold, as the last tick recorded it (from the trusted commit's
 * specs and policies: status reads the store only): one line each, the holds with when they go.
 */
export function suspended(record?: Pick<TickRecord, 'suspended' | 'held'> | null): string[] {
  return [...(record?.suspended ?? []), ...(record?.held ?? []).map((h) => `held by sync window ${h.window}: ${h.sha ? `${short(h.sha)}${h.pr ? ` (#${h.pr})` : ''}` : `drift in ${h.kind ?? '?'}`}: ${h.detail}`)];
}

interface Waiting {
  pr: number;
  branch: string;
  sha: string | null;
  kind: string | null;
  verdict: string;
}

interface Finding {
  severity: 'error' | 'warning';
  key: string;
  message: string;
}

export interface Status {
  repo: string;
  inSync: boolean;
  /** Why not in sync, one line each. */
  reasons: string[];
  schedule: string;
  lastTick: { run: number; state: string; at: string; finishedAt: string | null; agoMs: number; durationMs: number | null; outcome: string | null } | null;
  leader: { run: number; state: string; host: string | null; pid: number | null; since: string; aliveAt: string | null } | { serverPid: number; application: string | null; since: string } | null;
  waiting: Waiting[];
  drift: { checkedBy: number | null; kinds: Record<string, number> } | null;
  findings: Finding[];
  trusted: { sha: string; via: string; pr: number | null; trusted: boolean; refused: { sha: string; outcome: string; pr: number | null; detail: string | null }[] } | null;
  suspended: string[];
}

export async function statusCommand(opts: StatusOptions, out: Output): Promise<ExitCode> {
  if (opts.repo !== undefined && !/^[A-Za-z0-9][A-Za-z0-9_-]{0,38}\/[A-Za-z0-9._-]{1,100}$/.test(opts.repo)) {
    out.stderr(`fleetspec status: --repo "${logLine(opts.repo)}" is not a GitHub repository name`, 'err');
    out.stderr('  hint: --repo OWNER/NAME', 'err');
    return EXIT.INVALID;
  }
  const schedule = process.env.FLEETSPEC_SCHEDULE || (await import('../loop/schedule.js')).DEFAULT_SCHEDULE;
  const { default: cron } = await import('node-cron');
  if (!cron.validate(schedule)) {
    out.stderr(`fleetspec status: FLEETSPEC_SCHEDULE "${logLine(schedule)}" is not a cron expression`, 'err');
    out.stderr('  hint: the daemon\'s --schedule, five fields: minute hour day month weekday', 'err');
    return EXIT.INVALID;
  }
  return withStore(out, 'status', async (db) => {
    const { ledgerRepos } = await import('../state/reports.js');
    let repo = opts.repo ?? process.env.FLEETSPEC_GITHUB_REPO;
    if (!repo) {
      const repos = await ledgerRepos(db);
      if (repos.length > 1) {
        out.stderr(`fleetspec status: the store holds runs of ${repos.length} repositories: ${repos.map(logLine).join(', ')}`, 'err');
        out.stderr('  hint: pass --repo OWNER/NAME or set FLEETSPEC_GITHUB_REPO', 'err');
        return EXIT.INVALID;
      }
      repo = repos[0];
    }
    if (!repo) {
      out.stderr('fleetspec status: no run is recorded yet: no tick has run against this store', 'err');
      out.stderr('  hint: run fleetspec reconcile, or start fleetspec daemon; DATABASE_URL or FLEETSPEC_STATE_DIR name the store it uses', 'err');
      return EXIT.CHANGES;
    }
    const status = await readStatus(db, repo, schedule);
    if (opts.format === 'json') out.stdout(JSON.stringify(status, null, 2));
    else printStatus(status, out);
    return status.inSync ? EXIT.OK : EXIT.CHANGES;
  });
}

async function readStatus(db: Db, repo: string, schedule: string): Promise<Status> {
  const { lastTick, unfinishedHolders } = await import('../state/reports.js');
  const { trustedTip, unapprovedSinceApplied, lastApply } = await import('../state/loop.js');
  const { scheduleGapMs } = await import('../loop/watchdog.js');
  const now = Date.now();
  const reasons: string[] = [];
  const [tick, checked, holders, tip, unapproved, applied] = await Promise.all([
    lastTick(db, repo),
    lastTick(db, repo, { live: true }),
    unfinishedHolders(db, repo),
    trustedTip(db, repo),
    unapprovedSinceApplied(db, repo),
    lastApply(db, repo),
  ]);

  let lastTickStatus: Status['lastTick'] = null;
  if (!tick) reasons.push('no tick has recorded its report yet');
  else {
    const at = new Date(tick.finishedAt ?? tick.updatedAt);
    lastTickStatus = {
      run: tick.id,
      state: tick.state,
      at: new Date(tick.createdAt).toISOString(),
      finishedAt: tick.finishedAt ? new Date(tick.finishedAt).toISOString() : null,
      agoMs: now - at.getTime(),
      durationMs: tick.report?.durationMs ?? null,
      outcome: tick.reason,
    };
    const gap = scheduleGapMs(schedule);
    if (tick.state === 'FAILED') reasons.push(`the last tick (run ${tick.id}) failed`);
    if (now - at.getTime() > 2 * gap) reasons.push(`the last tick (run ${tick.id}) ended ${ago(at, now)}, more than two schedules ("${schedule}") ago`);
  }

  const leader = await readLeader(db, repo, holders);
  const waiting = tick ? await waitingPulls(db, repo, tick) : [];
  if (waiting.length) reasons.push(`${waiting.length} pull request${waiting.length === 1 ? '' : 's'} wait${waiting.length === 1 ? 's' : ''} for approval`);

  const drift = checked?.report?.live ? { checkedBy: checked.id, kinds: checked.report.live.drift } : null;
  const drifted = Object.entries(drift?.kinds ?? {}).filter(([, n]) => n > 0);
  if (drifted.length) reasons.push(`live differs from the trusted commit in ${drifted.map(([k]) => k).join(', ')}`);

  const findings: Finding[] = (checked?.report?.live?.findings ?? []).map((f) => ({
    severity: f.severity === 'error' ? 'error' : 'warning',
    key: `${f.kind}/${f.name} ${f.code}`,
    message: f.message,
  }));
  // The loop's own findings (loop/findings.ts), from the ledger: a failed or interrupted last apply, unapproved commits.
  if (applied && (applied.outcome === 'failed' || applied.outcome === 'abandoned')) {
    findings.push({ severity: 'error', key: 'apply.failed', message: `the last apply, ${short(applied.sha)}${applied.pr ? ` (#${applied.pr})` : ''}, ${applied.outcome === 'failed' ? 'failed' : 'was interrupted'}${applied.detail ? `: ${applied.detail}` : ''}` });
  }
  if (unapproved.commits.length) {
    findings.push({ severity: 'error', key: 'main.unapproved', message: `${unapproved.commits.length} commit${unapproved.commits.length === 1 ? '' : 's'} on the default branch nobody approved: ${unapproved.commits.map((c) => `${short(c.sha)} ${c.outcome}`).join(', ')}` });
  }
  const errors = findings.filter((f) => f.severity === 'error').length;
  if (errors) reasons.push(`${errors} error finding${errors === 1 ? '' : 's'}`);

  const trusted: Status['trusted'] = tip
    ? { sha: tip.sha, via: tip.via, pr: tip.pr, trusted: unapproved.commits.length === 0, refused: unapproved.commits.map((c) => ({ sha: c.sha, outcome: c.outcome, pr: c.pr, detail: c.detail })) }
    : null;
  if (!tip) reasons.push('no trusted commit yet: the first tick records one');
  else if (!trusted!.trusted) reasons.push('the default branch is not trusted');

  const held = suspended(tick?.report);
  const windowed = (tick?.report?.held ?? []).filter((h) => h.sha);
  if (windowed.length) reasons.push(`${windowed.length} approved merge${windowed.length === 1 ? '' : 's'} wait${windowed.length === 1 ? 's' : ''} for a sync window`);
  return { repo, inSync: reasons.length === 0, reasons, schedule, lastTick: lastTickStatus, leader, waiting, drift, findings, trusted, suspended: held };
}

/** The run in progress and its process; on PostgreSQL without one, the session holding the leader lock. */
async function readLeader(db: Db, repo: string, holders: Awaited<ReturnType<typeof import('../state/reports.js').unfinishedHolders>>): Promise<Status['leader']> {
  const [run] = holders;
  if (run) {
    return {
      run: run.id,
      state: run.state,
      host: run.holder?.host ?? null,
      pid: run.holder?.pid ?? null,
      since: new Date(run.createdAt).toISOString(),
      aliveAt: run.aliveAt ? new Date(run.aliveAt).toISOString() : null,
    };
  }
  // The embedded store is this process's while status reads it: nobody else holds the lock.
  if (db.engine !== 'postgres') return null;
  const [lock] = await db
    .query<{ pid: number; app: string | null; since: Date }>(
      `select a.pid, a.application_name as app, a.backend_start as since
         from pg_locks l join pg_stat_activity a on a.pid = l.pid
        where l.locktype = 'advisory' and l.granted
          and ((l.classid::bigint << 32) | l.objid::bigint) = hashtextextended($1, 0)`,
      [`fleetspec:leader:${repo}`],
    )
    .catch(() => []);
  return lock ? { serverPid: lock.pid, application: lock.app || null, since: new Date(lock.since).toISOString() } : null;
}

/** The PRs the last tick planned and left open (spec branches and drift PRs): each waits for an approval, with its plan's verdict. */
async function waitingPulls(db: Db, repo: string, tick: RunRecord): Promise<Waiting[]> {
  const report = tick.report!;
  const pulls: { pr: number; branch: string; sha: string | null; kind: string | null }[] = [
    ...report.branches.map((b) => ({ pr: b.pr, branch: b.branch, sha: b.sha, kind: null })),
    ...report.drift.filter((d) => d.action !== 'closed').map((d) => ({ pr: d.pr, branch: `fleetspec/drift-${d.kind}`, sha: null, kind: d.kind })),
  ];
  const waiting: Waiting[] = [];
  for (const p of pulls) {
    const [planned] = await db.query<{ sha: string; verdict: string | null; problem: string | null }>(
      `select sha, plan -> 'verdict' ->> 'status' as verdict, problem from planned_commits
        where repo = $1 and pr = $2 and ($3::text is null or sha = $3) order by created_at desc limit 1`,
      [repo, p.pr, p.sha],
    );
    const verdict = planned ? (planned.verdict ?? `invalid${planned.problem ? `: ${planned.problem}` : ''}`) : 'not planned';
    waiting.push({ ...p, sha: p.sha ?? planned?.sha ?? null, verdict });
  }
  return waiting.sort((a, b) => a.pr - b.pr);
}

function printStatus(s: Status, out: Output): void {
  // "suspended: none": each label with its colon, the values aligned after the longest.
  const line = (label: string, value: string) => out.stdout(`${`${label}:`.padEnd(11)}${logLine(value)}`);
  const item = (value: string) => out.stdout(`${''.padEnd(11)}${logLine(value)}`);
  line('repo', s.repo);
  const t = s.lastTick;
  line(
    'last tick',
    t
      ? `run ${t.run} ${t.state} at ${when(t.at)} (${ago(new Date(Date.now() - t.agoMs))}${t.durationMs !== null ? `, took ${Math.round(t.durationMs / 100) / 10}s` : ''}): ${t.outcome ?? '-'}`
      : 'none recorded',
  );
  const l = s.leader;
  line(
    'leader',
    !l
      ? 'none (no tick running)'
      : 'run' in l
        ? `run ${l.run} (${l.state}), ${l.pid ? `pid ${l.pid} on ${l.host}` : 'holder not recorded'}, since ${when(l.since)}${l.aliveAt ? `, alive ${ago(l.aliveAt)}` : ''}`
        : `PostgreSQL session ${l.serverPid}${l.application ? ` (${l.application})` : ''}, connected since ${when(l.since)}`,
  );
  if (!s.waiting.length) line('waiting', 'no pull request waits for approval');
  s.waiting.forEach((w, i) => (i ? item : (v: string) => line('waiting', v))(`#${w.pr} ${w.branch} ${short(w.sha)}: verdict ${w.verdict}`));
  if (!s.drift) line('drift', 'not checked yet');
  else {
    const kinds = Object.entries(s.drift.kinds).filter(([, n]) => n > 0);
    line('drift', kinds.length ? `${kinds.map(([k, n]) => `${k} ${n} change${n === 1 ? '' : 's'}`).join(', ')} (checked by run ${s.drift.checkedBy})` : `none (checked by run ${s.drift.checkedBy})`);
  }
  if (!s.findings.length) line('findings', 'none');
  s.findings.forEach((f, i) => (i ? item : (v: string) => line('findings', v))(`${f.severity.padEnd(7)} ${f.key}: ${f.message}`));
  const tr = s.trusted;
  line(
    'trusted',
    !tr
      ? 'no trusted commit yet'
      : `${short(tr.sha)} (${tr.via}${tr.pr ? `, #${tr.pr}` : ''})${tr.trusted ? '' : `; the default branch is NOT trusted: ${tr.refused.length} commit${tr.refused.length === 1 ? '' : 's'} refused since`}`,
  );
  if (!s.suspended.length) line('suspended', 'none');
  s.suspended.forEach((v, i) => (i ? item : (x: string) => line('suspended', x))(v));
  line('in sync', s.inSync ? 'yes' : `no: ${s.reasons.join('; ')}`);
}
