// What of a tick's report is worth a notification: the apply's result, findings proposed (new) and
// proposed for closing (cleared), and default-branch commits refused this tick (not trusted). Each is
// in one tick's report only, so each is sent once.
import type { TickReport } from '../loop/phases/types.js';
import { REFUSED } from '../state/loop.js';
import type { NotifyEvent } from './types.js';

const short = (sha: string) => sha.slice(0, 7);

/** The events of `report`; `web` is the repository's page, such as https://github.com/acme/fleet. */
export function eventsOf(report: TickReport, repo: string, web: string): NotifyEvent[] {
  const out: NotifyEvent[] = [];
  const base = { repo, run: report.run };
  const pull = (n: number) => `${web}/pull/${n}`;
  const a = report.applied;
  if (a) {
    const detail = report.main.find((m) => m.sha === a.sha)?.detail;
    if (a.status === 'applied') {
      out.push({ ...base, event: 'apply.applied', severity: 'info', summary: `applied ${short(a.sha)} from #${a.pr}: ${a.changes} change${a.changes === 1 ? '' : 's'}`, url: pull(a.pr) });
    } else if (a.status === 'failed') {
      const rolledBack = a.rollback === 'complete';
      out.push({
        ...base,
        event: rolledBack ? 'apply.rolled-back' : 'apply.failed',
        severity: rolledBack ? 'warning' : 'error',
        summary: `the apply of ${short(a.sha)} from #${a.pr} failed${detail ? `: ${detail}` : ''}; ${rolledBack ? 'rolled back' : 'NOT fully rolled back: see the PR'}`,
        url: pull(a.pr),
      });
    }
  }
  for (const f of report.findings) {
    if (f.action === 'opened') out.push({ ...base, event: 'finding.new', severity: 'warning', summary: `finding ${f.key}: ${f.id} proposed${f.pr ? ` in #${f.pr}` : ''}`, ...(f.pr ? { url: pull(f.pr) } : {}) });
    if (f.action === 'closing') out.push({ ...base, event: 'finding.cleared', severity: 'info', summary: `finding ${f.key} cleared: closing ${f.id} proposed${f.pr ? ` in #${f.pr}` : ''}`, ...(f.pr ? { url: pull(f.pr) } : {}) });
  }
  // A rollback waits for an approver: the SLA runs from the request, so the people who can approve should know now.
  for (const c of report.commands ?? []) {
    if (c.command !== 'rollback' || c.state !== 'done' || !c.resultPr || c.detail.includes('already')) continue;
    out.push({ ...base, event: 'rollback.opened', severity: 'warning', summary: `rollback of #${c.pr} asked for by ${c.by}: #${c.resultPr} waits for an approver who did not ask for it`, url: pull(c.resultPr) });
  }
  for (const m of report.main) {
    if (!REFUSED.includes(m.outcome)) continue;
    out.push({ ...base, event: 'main.untrusted', severity: 'error', summary: `the default branch is not trusted: ${short(m.sha)}${m.pr ? ` (#${m.pr})` : ''} ${m.outcome}${m.detail ? `: ${m.detail}` : ''}`, url: `${web}/commit/${m.sha}` });
  }
  return out;
}
