// What the loop writes on GitHub: the plan comment (verdict, exact plan, then narrative), commit
// statuses, apply results and refusals. Text only, from data; nothing here talks to GitHub.
// Whatever came from the specs or from git and GitHub is escaped for where it lands
// (reconciler/escape.ts): mdInline in prose, mdCode in code spans, mdFence around blocks,
// mention for logins, logLine in commit statuses.
import { formatDiagnostic, type Diagnostic } from '../diagnostics.js';
import { logLine, mdCode, mdFence, mdInline, mention } from '../escape.js';
import { blockingFindings, type ApplyReport } from '../plan/engine.js';
import { hasChanges, summaryLine, verdictLine, type Plan } from '../plan/plan.js';
import { planVerdict, renderMarkdown } from '../plan/render.js';
import { narrativeMarkdown, plainMarkdown, type NarrativeResult } from '../narrative/narrate.js';
import { relative } from 'node:path';

/** Marks the one comment per PR that holds the plan, updated in place every tick. */
export const PLAN_MARKER = '<!-- fleetspec:plan -->';
export const PLAN_CONTEXT = 'fleetspec/plan';
/** Marks the one result comment of a default-branch commit (applied, failed, not applied, interrupted) on its PR. */
export const resultMarker = (sha: string) => `<!-- fleetspec:result ${sha} -->`;
/** Marks the comment that refuses a default-branch commit (on its PR, or on the commit for a direct push). */
export const refusedMarker = (sha: string) => `<!-- fleetspec:refused ${sha} -->`;
export const APPLY_CONTEXT = 'fleetspec/apply';

export const short = (sha: string) => sha.slice(0, 7);

export interface StatusText {
  state: 'success' | 'failure' | 'error' | 'pending';
  description: string;
}

/** The commit status for a planned head: a failure names what blocks apply. */
export function planStatus(plan: Plan): StatusText {
  const blocking = blockingFindings(plan);
  if (blocking.length) {
    const first = blocking[0]!;
    return { state: 'failure', description: logLine(`${blocking.length} blocking finding${blocking.length === 1 ? '' : 's'}: ${first.policy ? `policy ${first.policy}: ` : ''}${first.kind}/${first.name}: ${first.message}`) };
  }
  const verdict = planVerdict(plan);
  return { state: 'success', description: `${summaryLine(plan)} Policies: ${verdict.status}. Plan ${plan.hash.slice(0, 12)}` };
}

export function invalidStatus(diagnostics: readonly Diagnostic[], root: string): StatusText {
  const errors = diagnostics.filter((d) => d.severity === 'error');
  const first = errors[0];
  const where = first ? `${relative(root, first.file)}:${first.line}:${first.col}: ${first.message}` : 'the specs are invalid';
  return { state: 'failure', description: logLine(`${errors.length} spec error${errors.length === 1 ? '' : 's'}; ${where}`) };
}

/** Heads the narrative, which comes last: the model's words, below everything fleetspec itself says. */
export const NARRATIVE_HEADING = "### What this changes, in the LLM's words (unverified)";

/**
 * The LLM's account of the plan, after the exact plan: shown as plain text (every character
 * Markdown or HTML could read is escaped, so it cannot hide or restyle anything), or why there is none.
 */
export function narrativeSection(n: NarrativeResult, plan: Plan, where: 'above' | 'below' = 'above'): string[] {
  if (n.status === 'ok') {
    return [
      NARRATIVE_HEADING,
      '',
      narrativeMarkdown(n.text, plan),
      '',
      `<sub>The model ${plainMarkdown(n.model)}'s own account, shown as plain text. fleetspec checked only that it names resources, actions, counts and values the plan holds, not that it is right: the exact plan ${where} is what applies.</sub>`,
    ];
  }
  return [NARRATIVE_HEADING, '', `_No narrative: ${plainMarkdown(n.reason)}. The exact plan ${where} is complete without it._`];
}

export interface PlanCommentInput {
  plan: Plan;
  sha: string;
  narrative: NarrativeResult;
  /** Who may approve: GitHub logins of roles with the approve capability. */
  approvers: string[];
  /** For drift PRs: the one kind this plan covers. */
  scope?: string;
  /** Refused default-branch commits this branch contains: approving it approves them too. */
  carries?: readonly { sha: string; detail: string | null }[];
  /** The solo operator the trusted policies name: they may approve their own change. */
  solo?: string;
  /** Markdown lines after the verdict (a revert PR's rollback section, loop/rollback.ts). */
  preface?: readonly string[];
}

export function planComment(i: PlanCommentInput): string {
  const verdict = verdictText(i.plan);
  const who = i.approvers.length ? i.approvers.map(mention).join(', ') : 'nobody yet (no role with the approve capability lists githubUsers)';
  return [
    PLAN_MARKER,
    `## fleetspec plan for ${short(i.sha)}${i.scope ? ` (kind ${mdCode(i.scope)} only)` : ''}`,
    '',
    verdict,
    '',
    ...(i.preface ?? []),
    ...(i.carries?.length
      ? [
          `**This branch contains ${i.carries.length} commit${i.carries.length === 1 ? '' : 's'} that fleetspec refused on the default branch; GitHub's diff does not show ${i.carries.length === 1 ? 'it' : 'them'}, and approving this pull request approves ${i.carries.length === 1 ? 'it' : 'them'} too:**`,
          '',
          ...i.carries.map((c) => `- ${short(c.sha)}: ${mdInline(c.detail ?? 'not approved')}`),
          '',
        ]
      : []),
    '### Exact plan',
    '',
    renderMarkdown(i.plan),
    '',
    `To apply: a user who may approve (${who}), and who made no part of this change (author, committer or pusher), approves commit ${short(i.sha)}; after the merge the next tick plans again and applies only if the plan is still \`${i.plan.hash.slice(0, 12)}\`.`,
    ...(i.solo
      ? [
          '',
          `**Solo operator:** the trusted policies let ${mention(i.solo)} approve their own change while GitHub lists no other account with write access. That gives up the two-person rule: a mistake, or a stolen account of theirs, reaches live with nobody else's eyes on it.`,
        ]
      : []),
    '',
    ...narrativeSection(i.narrative, i.plan),
  ].join('\n');
}

/** The verdict paragraph: blocked (by what, and how to lift an overridable block), or can be applied. */
export function verdictText(plan: Plan): string {
  const blocking = blockingFindings(plan);
  const policies = verdictLine(planVerdict(plan));
  if (blocking.length) {
    const words = [...new Set(blocking.map((f) => f.override))];
    const lines = [
      `**Verdict: ❌ blocked** (${policies}). Apply refuses this plan until ${blocking.length === 1 ? 'this is' : 'these are'} fixed:`,
      '',
      ...blocking.map((f) => `- ${f.policy ? `policy ${mdCode(f.policy)}: ` : ''}${mdCode(`${f.kind}/${f.name}`)}${f.where ? ` at ${mdCode(f.where)}` : ''}: ${mdInline(f.message)}`),
    ];
    if (words.every((w) => w)) {
      lines.push('', `To override instead: label this PR ${words.map((w) => mdCode(`fleetspec/${w}`)).join(' and ')}, or an approver writes ${words.map((w) => mdCode(`/fleetspec ${w}`)).join(' and ')} on a line of their review.`);
    }
    return lines.join('\n');
  }
  return hasChanges(plan) ? `**Verdict: ✅ can be applied** once approved (policies: ${policies}).` : `**Verdict: ✅ nothing to apply** (policies: ${policies}).`;
}

export function invalidComment(sha: string, diagnostics: readonly Diagnostic[], root: string): string {
  const shown = diagnostics.filter((d) => d.severity === 'error').slice(0, 50);
  return [
    PLAN_MARKER,
    `## fleetspec plan for ${short(sha)}`,
    '',
    '**Verdict: ❌ the specs are invalid**; nothing was planned. `fleetspec validate` on the branch shows the same:',
    '',
    // Each diagnostic is escaped lines (formatDiagnostic), and the fence is longer than any run of
    // backticks in them: a key holding a newline and ``` cannot end the block and write below it.
    mdFence(shown.map((d) => formatDiagnostic({ ...d, file: relative(root, d.file) }, false)).join('\n')),
  ].join('\n');
}

/** The approvers as approval.ts names them ("alice and @carol", maybe "(their own change: …)" after): each login a mention, the rest text. */
function approvedBy(by: string): string {
  const [, logins, note] = /^(.*?)( \(.*\))?$/s.exec(by)!;
  return `${logins!.split(' and @').map(mention).join(' and ')}${note ? mdInline(note) : ''}`;
}

export function appliedComment(sha: string, runId: number, report: ApplyReport, by: string): string {
  const lines = [`### fleetspec applied ${short(sha)} (run ${runId})`, '', `Approved by ${approvedBy(by)}; the plan was still \`${report.current?.hash.slice(0, 12)}\` at apply time.`, ''];
  if (report.status === 'applied') {
    lines.push(report.done.length ? `✅ ${report.done.length} change${report.done.length === 1 ? '' : 's'} applied:` : '✅ Nothing needed applying.');
  } else {
    lines.push(`❌ Apply failed at ${mdCode(`${report.failed!.change.kind}/${report.failed!.change.name}`)}: ${mdInline(report.failed!.error)}`);
  }
  lines.push('');
  for (const c of report.done) lines.push(`- ✓ ${mdCode(`${c.kind}/${c.name}`)} ${c.action}`);
  for (const c of report.notDone) lines.push(`- not done: ${mdCode(`${c.kind}/${c.name}`)} ${c.action}`);
  for (const r of report.rolledBack) lines.push(`- ↺ rolled back: ${mdInline(r)}`);
  for (const r of report.rollbackFailed) lines.push(`- ❌ rollback failed: ${mdInline(r.description)}: ${mdInline(r.error)}`);
  return lines.join('\n');
}

export function refusedComment(sha: string, main: string, reasons: string[]): string {
  return [
    `### fleetspec did not apply ${short(sha)}`,
    '',
    `The merge is on ${mdCode(main)}, but it was not approved the way fleetspec requires (an APPROVED review of the planned head commit by a user with the approve capability who made no part of the change, and no standing request for changes from an approver):`,
    '',
    ...reasons.map((r) => `- ${mdInline(r)}`),
    '',
    untrustedUntil(main),
  ].join('\n');
}

/** What a refused commit means for the default branch, and the ways back. */
function untrustedUntil(main: string): string {
  return `Live is unchanged, and ${mdCode(main)} is not trusted: nothing merged on top of this commit is applied, and approvers and policies stay those of the last commit fleetspec accepted, until a revert brings ${mdCode(main)} back to that commit or a pull request that contains this change is approved and merged.`;
}

export function untrustedComment(sha: string, main: string, problems: string[]): string {
  return [
    `### fleetspec did not apply ${short(sha)}: it is not what was approved`,
    '',
    `The merge commit on ${mdCode(main)} must hold exactly the approved head merged onto the last commit fleetspec accepted. It does not:`,
    '',
    ...problems.map((p) => `- ${mdInline(p)}`),
    '',
    untrustedUntil(main),
  ].join('\n');
}

export function staleRulesComment(sha: string, detail: string): string {
  return [`### fleetspec did not apply ${short(sha)}`, '', `${mdInline(detail)}.`, '', 'Live is unchanged.'].join('\n');
}

export function linksComment(sha: string, problems: string[]): string {
  return [
    PLAN_MARKER,
    `### fleetspec cannot plan ${short(sha)}`,
    '',
    ...problems.map((p) => `- ${mdInline(p)}`),
    '',
    'Replace each link with the files themselves and push again.',
  ].join('\n');
}

export function tamperedComment(branch: string, sha: string): string {
  return [
    `### fleetspec closed this pull request`,
    '',
    `The head of ${mdInline(branch)} is ${short(sha)}, a commit fleetspec did not write. fleetspec plans only its own commits on its own branches, so it closed the pull request and deleted the branch; it proposes again from the trusted commit when the reason holds.`,
  ].join('\n');
}

/** A commit pushed straight to the default branch and refused: its sha and its message's first line (read for the listed ones only). */
export interface RefusedPush {
  sha: string;
  subject?: string;
}

/** How many refused direct pushes one comment lists by name; the rest are counted, and the range covers them all. */
export const DIRECT_PUSHES_LISTED = 20;
/** A listed commit's message line is cut to this many characters before escaping: the message is the pusher's, of any length. */
const SUBJECT_CHARS = 100;

/** The first line of a commit message, cut to SUBJECT_CHARS characters (whole code points, so no surrogate is split). */
export function subjectOf(message: string): string {
  const first = String(message).split(/\r\n|[\n\r]/, 1)[0] ?? '';
  const chars = Array.from(first.trim());
  return chars.length > SUBJECT_CHARS ? `${chars.slice(0, SUBJECT_CHARS).join('')}…` : chars.join('');
}

/**
 * The one comment, on the newest, about the commits pushed straight to the default branch that a tick
 * refused. `refused`: the commits, oldest first (the first DIRECT_PUSHES_LISTED listed with their
 * messages' first lines, escaped: the pusher wrote them), or only how many. However many there are,
 * the comment stays a few kilobytes, far below GitHub's 65,536 characters.
 */
export function directPushComment(main: string, refused: number | readonly RefusedPush[] = 1): string {
  const count = typeof refused === 'number' ? refused : refused.length;
  const lines = [
    count === 1 ? '### fleetspec did not apply this commit' : `### fleetspec did not apply this commit, nor the ${count - 1} before it`,
    '',
    `${count === 1 ? 'It' : 'They'} reached ${mdCode(main)} without a merged pull request, so nobody approved ${count === 1 ? 'it' : 'them'}${count === 1 ? '' : ' (the ledger and `fleetspec reconcile` list each)'}.`,
    '',
  ];
  if (typeof refused !== 'number' && refused.length) {
    const oldest = refused[0]!.sha;
    const newest = refused.at(-1)!.sha;
    lines.push(
      count === 1
        ? 'The commit:'
        : `The ${count} commits, ${mdCode(short(oldest))} (oldest) to ${mdCode(short(newest))} (this one), oldest first; ${mdCode(`git log --first-parent ${oldest}^..${newest}`)} lists them all:`,
      '',
    );
    for (const c of refused.slice(0, DIRECT_PUSHES_LISTED)) lines.push(`- ${mdCode(short(c.sha))} ${c.subject ? mdInline(c.subject) : '_(no message)_'}`);
    if (count > DIRECT_PUSHES_LISTED) lines.push(`- and ${count - DIRECT_PUSHES_LISTED} more`);
    lines.push('');
  }
  lines.push(untrustedUntil(main));
  return lines.join('\n');
}

export function staleComment(sha: string, differences: string[]): string {
  return [
    `### fleetspec did not apply ${short(sha)}: live changed since the approval`,
    '',
    'The plan made at apply time differs from the approved one:',
    '',
    mdFence(differences.map(logLine).join('\n')),
    '',
    'Nothing was applied. A fresh plan follows in a drift pull request, for a new review.',
  ].join('\n');
}

/**
 * What follows the result comment of an apply that finished but whose process died before recording it
 * (run `runId` applied it): run `checkedBy` planned the commit again and found nothing left to do.
 */
export function recoveredNote(sha: string, runId: number | null, checkedBy: number): string {
  return `The reconciler stopped after this apply${runId ? ` (run ${runId})` : ''} and before recording its outcome. Run ${checkedBy} planned ${short(sha)} again and found live holding all of it, so it is recorded as applied, not interrupted. Nothing was applied twice.`;
}

export function interruptedComment(sha: string, runId: number | null): string {
  return [
    `### fleetspec's apply of ${short(sha)} was interrupted`,
    '',
    `The reconciler stopped in the middle of applying it${runId ? ` (run ${runId})` : ''}. It is not retried, so nothing is applied twice: some changes may have been made and others not.`,
    'The next plan of the default branch shows what remains; fleetspec opens a drift pull request with it.',
  ].join('\n');
}

export function driftRecord(kind: string, plan: Plan, mainSha: string, main: string): string {
  return [
    `# Drift: ${mdInline(kind)}`,
    '',
    `Live differs from ${mdCode(main)} at ${mdInline(mainSha)} for the kind ${mdCode(kind)}, with no change to the specs`,
    `(drift, or commits on ${mdCode(main)} that were never approved). Written by fleetspec; merging the pull`,
    'that adds this file, once approved, applies the plan below, bringing live back to the specs.',
    '',
    renderMarkdown(plan),
    '',
  ].join('\n');
}

export function driftBody(kind: string, main: string): string {
  return [
    `Live differs from ${mdCode(main)} for ${mdCode(kind)}, and no spec change explains it. fleetspec never overwrites live silently: this pull request records the drift (in ${mdCode(`drift/${kind}.md`)}) and the plan to correct it.`,
    '',
    '- **To correct live**: an allowed reviewer approves, then merge; the next tick applies the plan for this kind only.',
    `- **To keep live as it is**: change the specs on a branch to match it, and close this pull request.`,
    '',
    'fleetspec updates this pull request in place while the drift lasts, and closes it when live matches again.',
  ].join('\n');
}
