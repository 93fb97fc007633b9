// Rollback: a pull request that restores the specs applied before an applied pull request was
// merged. It is a change like any other: planned live, approved by an approver who did not ask for
// it (the two-person rule, loop/approval.ts), merged, then applied by the loop. Nothing skips review.
//
// The revert is by file, like the merge check (loop/trust.ts): each file under specs/ and policies/
// that the merge changed goes back to its content before the merge, on top of the trusted commit. A
// file changed again since (a later apply) is not guessed at: the rollback is refused and names it.
// stacks/ and the diagrams are derived from the specs: the branch's planning synthesises them anew.
import { relative } from 'node:path';
import type { LabelSpec, PullRequest } from '../github/client.js';
import { logLine, mdCode, mdInline, mention } from '../escape.js';
import { appliedCommitOf, outcomesOf, trustedBefore } from '../state/loop.js';
import type { Command } from '../state/commands.js';
import { branchPrefix, openProposal, proposalBranch } from '../proposals/index.js';
import { policiesDir, specsDir } from './phases/shared.js';
import type { Services } from './phases/types.js';
import { short } from './pr-text.js';

/** Branches of revert pull requests: fleetspec/rollback/pr-12. fleetspec's own: a push by anyone else closes it. */
export const ROLLBACK_PREFIX = branchPrefix('rollback');
export const ROLLBACK_LABEL: LabelSpec = { name: 'fleetspec:rollback', color: 'b60205', description: 'Reverts an applied pull request; approved and applied like any change' };
/** The marker in a revert PR's body. */
export const rollbackMarker = (pr: number) => `<!-- fleetspec:rollback of=${pr} -->`;

export const rollbackBranch = (pr: number) => proposalBranch('rollback', `pr-${pr}`);

/**
 * What a revert cannot give back, by kind: creating it again is not restoring it. Said in the revert's
 * plan comment for each such resource the rolled-back apply deleted or replaced.
 */
const LOST: Readonly<Record<string, string>> = {
  vms: 'its boot disk and everything on it are gone; rolling back creates a new, empty VM',
  models: 'its files were removed from the host; rolling back pulls it again (a download), and a model built on the host itself is not restored',
  tickets: "its issue's discussion stays closed on GitHub; rolling back opens a new issue",
};

/** Why a rollback cannot be opened: said to who asked, and recorded. */
export class RollbackRefused extends Error {}

export interface RollbackOpened {
  branch: string;
  sha: string;
  pr: PullRequest;
  /** What the revert cannot undo (LOST), for the plan comment. */
  notes: string[];
  /** Files restored, relative to the repository. */
  files: string[];
  /** Whether the PR was there already (a command given twice). */
  existed: boolean;
}

/**
 * Opens (or finds) the revert pull request of PR `cmd.pr` on top of the trusted commit `trusted`.
 * Throws RollbackRefused when there is nothing fleetspec applied to roll back, or a later change
 * touched the same files.
 */
export async function openRollback(svc: Services, cmd: Command, main: string, trusted: string, heads: Map<string, string>): Promise<RollbackOpened> {
  const branch = rollbackBranch(cmd.pr);
  const open = await svc.github.openPullFor(branch);
  if (open && heads.has(branch)) return { branch, sha: heads.get(branch)!, pr: open, notes: [], files: [], existed: true };

  const applied = await appliedCommitOf(svc.db, svc.repoKey, cmd.pr);
  if (!applied) {
    const outcomes = await outcomesOf(svc.db, svc.repoKey, cmd.pr);
    const last = outcomes[0];
    throw new RollbackRefused(
      last
        ? `#${cmd.pr} was not applied (its merge ${short(last.sha)} is recorded as ${last.outcome}${last.detail ? `: ${last.detail}` : ''}), so there is nothing to roll back${last.outcome === 'failed' ? '; a failed apply is rolled back when it fails' : ''}`
        : `fleetspec has not applied #${cmd.pr} (no merge of it on ${main} was applied), so there is nothing to roll back`,
    );
  }
  const before = await trustedBefore(svc.db, svc.repoKey, applied.sha);
  if (!before) throw new RollbackRefused(`the commit applied before #${cmd.pr} (${short(applied.sha)}) is not known: it was the first fleetspec accepted, so there is nothing earlier to go back to`);

  // Only what an apply reads is restored; stacks and diagrams follow from the specs.
  const roots = [specsDir(svc), policiesDir(svc)].map((p) => relative(svc.git.dir, p));
  const under = (path: string) => roots.some((root) => path === root || path.startsWith(`${root}/`));
  const [changed, since] = await Promise.all([svc.git.diffTrees(before, applied.sha), svc.git.diffTrees(applied.sha, trusted)]);
  const files: Record<string, string | null> = {};
  const conflicts: string[] = [];
  let already = 0;
  for (const [path, { a: was }] of changed) {
    if (!under(path)) continue;
    const later = since.get(path);
    if (later) {
      // Changed since the merge: already back to what it was, or someone else's change now.
      if (later.b?.oid === was?.oid) already++;
      else conflicts.push(path);
      continue;
    }
    files[path] = was ? ((await svc.git.readFile(before, path)) ?? null) : null;
  }
  if (conflicts.length) {
    throw new RollbackRefused(
      `${conflicts.slice(0, 5).join(', ')}${conflicts.length > 5 ? ` and ${conflicts.length - 5} more` : ''} changed again after #${cmd.pr} was applied; roll back the later change first, or write the revert on a branch yourself`,
    );
  }
  if (!Object.keys(files).length) {
    throw new RollbackRefused(already ? `the files #${cmd.pr} changed are already back to what they were before it` : `#${cmd.pr} changed nothing under ${roots.join(' or ')}, so there is nothing to roll back`);
  }

  const notes = await lostBy(svc, applied.runId, cmd.pr);
  const original = await svc.github.getPull(cmd.pr).catch(() => undefined);
  const title = `Roll back #${cmd.pr}${original ? `: ${logLine(original.title)}` : ''}`.slice(0, 200);
  const message = `${title}\n\nRestores ${Object.keys(files).length} file${Object.keys(files).length === 1 ? '' : 's'} to ${short(before)}, the commit applied before #${cmd.pr} (merged as ${short(applied.sha)}).`;
  const body = rollbackBody(cmd, applied.sha, before, Object.keys(files).sort(), notes);
  const opened = await openProposal(svc, main, { branch, base: trusted, files, message, title, body, labels: [ROLLBACK_LABEL], open: open ?? null });
  // The files differ from the trusted commit's (checked above), so there is always a commit.
  if (!opened) throw new RollbackRefused(`the files #${cmd.pr} changed are already back to what they were before it`);
  heads.set(branch, opened.sha);
  svc.progress(`rollback of #${cmd.pr}: ${branch} at ${short(opened.sha)} restores ${Object.keys(files).sort().join(', ')}`);
  return { branch, sha: opened.sha, pr: opened.pr, notes, files: Object.keys(files).sort(), existed: false };
}

/** What the apply of PR `pr` (run `runId`) deleted or replaced that a revert creates anew rather than restores. */
async function lostBy(svc: Services, runId: number | null, pr: number): Promise<string[]> {
  if (runId === null) return [];
  const [row] = await svc.db.query<{ apply: { done?: string[] } | string | null }>(`select apply from runs where id = $1`, [runId]);
  const record = typeof row?.apply === 'string' ? (JSON.parse(row.apply) as { done?: string[] }) : row?.apply;
  const out: string[] = [];
  for (const change of record?.done ?? []) {
    const m = /^([a-z]+)\/(\S+) (delete|replace)$/.exec(change);
    if (!m || !LOST[m[1]!]) continue;
    out.push(`${m[1]}/${m[2]} was ${m[3] === 'delete' ? 'deleted' : 'replaced'} by #${pr}: ${LOST[m[1]!]}`);
  }
  return out;
}

function rollbackBody(cmd: Command, merged: string, before: string, files: string[], notes: string[]): string {
  const who = cmd.requestedBy ? mention(cmd.requestedBy) : 'the command line on the server (`fleetspec rollback`)';
  return [
    rollbackMarker(cmd.pr),
    `Rolls back #${cmd.pr}: restores the specs applied before it was merged (${short(before)}; it was merged as ${short(merged)}). Asked for by ${who}.`,
    '',
    'This is a change like any other: fleetspec plans it below, and applies it only once an approver who did not ask for it approves the planned head and it is merged.',
    '',
    '**Files restored:**',
    '',
    ...files.map((f) => `- ${mdCode(f)}`),
    ...(notes.length ? ['', '**Cannot be undone** (rolling back creates these anew; it does not restore them):', '', ...notes.map((n) => `- ${noteMarkdown(n)}`)] : []),
  ].join('\n');
}

/** A note of lostBy as Markdown: the resource as code, the rest as text. */
export function noteMarkdown(note: string): string {
  const m = /^(\S+) (was deleted|was replaced) by #([0-9]+): (.*)$/s.exec(note);
  return m ? `${mdCode(m[1]!)} ${m[2]} by #${m[3]}: ${mdInline(m[4]!)}` : mdInline(note);
}

/** The rollback section of a revert PR's plan comment. */
export function rollbackSection(cmd: Pick<Command, 'pr' | 'requestedBy' | 'notes'>): string[] {
  const notes = cmd.notes ?? [];
  return [
    `### Rollback of #${cmd.pr}`,
    '',
    `Asked for by ${cmd.requestedBy ? mention(cmd.requestedBy) : 'the command line on the server'}, who cannot approve it. The plan below is what rolling back does to live now.`,
    ...(notes.length
      ? ['', `**⚠ Cannot be undone:** ${notes.length === 1 ? 'this was' : 'these were'} deleted or replaced by #${cmd.pr}; rolling back creates ${notes.length === 1 ? 'it' : 'them'} anew and does not restore what ${notes.length === 1 ? 'it' : 'they'} held:`, '', ...notes.map((n) => `- ${noteMarkdown(n)}`)]
      : ['', 'Nothing #' + cmd.pr + ' deleted or replaced is lost by rolling back: every change it made can be made back.']),
    '',
  ];
}

/** The rollback SLA (begin < 5 min, finish < 15 min), measured: in a revert PR's result comment and `fleetspec rollback --list`. */
export const ROLLBACK_BEGIN_GOAL_MS = 5 * 60_000;
export const ROLLBACK_FINISH_GOAL_MS = 15 * 60_000;

const seconds = (ms: number) => (ms < 120_000 ? `${(ms / 1000).toFixed(1)} s` : `${(ms / 60_000).toFixed(1)} min`);
const against = (ms: number, goal: number) => `${seconds(ms)} (goal under ${goal / 60_000} min: ${ms <= goal ? 'met' : 'missed'})`;

/** How long the rollback took against its SLA: from the request to the revert PR with its plan, and from the approved merge to the apply finished. */
export function rollbackTimes(cmd: Pick<Command, 'pr' | 'requestedAt' | 'plannedAt'>, mergedAt: Date | undefined, appliedAt: Date): string[] {
  const lines = [`**Rollback of #${cmd.pr}, against its SLA:**`, ''];
  if (cmd.plannedAt) lines.push(`- begin: the revert pull request had its plan ${against(cmd.plannedAt.getTime() - cmd.requestedAt.getTime(), ROLLBACK_BEGIN_GOAL_MS)} after it was asked for`);
  if (mergedAt) lines.push(`- finish: applied ${against(appliedAt.getTime() - mergedAt.getTime(), ROLLBACK_FINISH_GOAL_MS)} after the approved merge`);
  lines.push(`- in all ${seconds(appliedAt.getTime() - cmd.requestedAt.getTime())} from the request to the apply, the review included`);
  return lines;
}
