// `fleetspec propose "GOAL"`: a goal in, a pull request out, or "design blocked" to a person (seed
// 002's Atlas: GoalStatement in, PlanSpec out, retried twice, then DesignBlocked). The LLM drafts
// spec edits (draft.ts); each draft is checked as any agent's change is (proposals/check.ts through
// proposals/propose.ts: spec files only, no secret values, schemas and references, the trusted
// policies, an offline plan). A draft that fails goes back to the model with its located problems,
// twice at most; after the third failure nothing is written. A draft that passes is narrated (the
// narrative's guards, marked unverified) and proposed: a branch from the trusted commit holding
// exactly the edited spec files, and a PR with the goal, the narrative and the exact plan.
// Nothing here applies anything: the PR is planned, reviewed and applied like any change.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createTwoFilesPatch } from 'diff';
import type { Diagnostic } from '../diagnostics.js';
import { mdInline } from '../escape.js';
import { narrativeSection as prNarrativeSection } from '../loop/pr-text.js';
import { narrate, plainMarkdown, type NarrativeConfig, type NarrativeResult } from '../narrative/narrate.js';
import type { Plan } from '../plan/plan.js';
import { NoTrustedCommit, propose, type ProposerContext } from '../proposals/propose.js';
import { trustedTip } from '../state/loop.js';
import { draftProblems, draftPrompt, requestDraft, screenSpecFile, type Draft, type PreviousAttempt, type Screened } from './draft.js';

/** One try and two retries, then a person. */
export const MAX_ATTEMPTS = 3;

export interface DesignContext extends ProposerContext {
  llm: NarrativeConfig;
  /** One draft call, headers and body. */
  draftTimeoutMs: number;
  draftMaxTokens?: number;
  signal?: AbortSignal;
}

export interface AttemptReport {
  attempt: number;
  /** The draft's title and files (repository-relative), when the reply was a draft. */
  title?: string;
  files?: string[];
  ok: boolean;
  /** Every problem found: the reply's, or the checks', located. */
  diagnostics: Diagnostic[];
  ms: number;
}

export interface DesignResult {
  status: 'proposed' | 'checked' | 'blocked' | 'llm-failed';
  goal: string;
  /** The trusted commit the drafts were made and checked against. */
  base: string;
  attempts: AttemptReport[];
  /** Why it stopped, when it did not succeed: the last attempt's problems, or the LLM's failure. */
  reasons: string[];
  draft?: Draft;
  plan?: Plan;
  /** A unified diff of the edits against the trusted commit's files. */
  diff?: string;
  narrative?: NarrativeResult;
  branch?: string;
  pr?: { number: number; url: string };
  /** The spec files of the trusted commit the model did not see, and why. */
  leftOut: { path: string; why: string }[];
}

/** The trusted commit's spec files under the proposer's checkout, relative to specs/ (kind folder / file), read. */
async function specFiles(root: string): Promise<{ path: string; text: string }[]> {
  const out: { path: string; text: string }[] = [];
  let folders: string[];
  try {
    folders = (await readdir(root, { withFileTypes: true })).filter((d) => d.isDirectory() && d.name !== 'schemas' && /^[a-z]+$/.test(d.name)).map((d) => d.name);
  } catch {
    return out;
  }
  for (const folder of folders.sort()) {
    for (const entry of (await readdir(join(root, folder), { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      if (!entry.isFile() || !/\.ya?ml$/.test(entry.name)) continue;
      out.push({ path: `${folder}/${entry.name}`, text: await readFile(join(root, folder, entry.name), 'utf8') });
    }
  }
  return out;
}

const located = (d: Diagnostic) => `${d.file ? `${d.file}:${d.line}:${d.col}: ` : ''}${d.message}`;
const replyProblem = (message: string): Diagnostic => ({ severity: 'error', code: 'draft.reply', file: '', line: 1, col: 1, message, hint: 'answer with the JSON object the response format describes' });

/** A unified diff of `draft`'s edits against the screened trusted files (a redacted value stays redacted). */
export function draftDiff(draft: Draft, trusted: Map<string, Screened>, specsPath: string): string {
  return draft.edits
    .map((e) => {
      const before = trusted.get(e.path);
      const old = before && 'text' in before ? before.text : '';
      const name = `${specsPath}/${e.path}`;
      return createTwoFilesPatch(before ? `a/${name}` : '/dev/null', e.content === null ? '/dev/null' : `b/${name}`, old, e.content ?? '', undefined, undefined, { context: 3 });
    })
    .map((patch) => patch.replace(/^=+\n/, ''))
    .join('');
}

/** The PR body's goal section: the words asked for, quoted as data. */
export function goalSection(goal: string, model: string, attempts: number): string[] {
  return ['### Goal', '', `> ${mdInline(goal)}`, '', `Asked for with \`fleetspec propose\` on the server; drafted by the model ${plainMarkdown(model)} in ${attempts} attempt${attempts === 1 ? '' : 's'} and checked by fleetspec: spec files only, no secret values, valid, passing the trusted policies, planned offline.`];
}

/** The narrative as the PR shows it: the model's words, escaped, marked unverified, before the exact plan (pr-text.ts). */
export const narrativeSection = (n: NarrativeResult, plan: Plan): string[] => prNarrativeSection(n, plan, 'below');

/** Drafts, checks and retries; proposes the first draft that passes unless `dryRun`. Throws NoTrustedCommit, and git or GitHub errors. */
export async function design(ctx: DesignContext, goal: string, opts: { dryRun?: boolean } = {}): Promise<DesignResult> {
  const tip = await trustedTip(ctx.db, ctx.repoKey);
  if (!tip) throw new NoTrustedCommit(`fleetspec has accepted no commit of ${ctx.repoKey} yet: run the loop once (fleetspec reconcile) so there is a trusted commit to propose against`);
  await ctx.git.fetch();
  await ctx.git.checkout(tip.sha);
  const trusted = new Map<string, Screened>();
  for (const f of await specFiles(join(ctx.git.dir, ctx.specsPath))) trusted.set(f.path, screenSpecFile(f.path, f.text));
  const files = [...trusted.values()];

  const attempts: AttemptReport[] = [];
  const previous: PreviousAttempt[] = [];
  let leftOut: { path: string; why: string }[] = [];
  const result = (status: DesignResult['status'], rest: Partial<DesignResult> = {}): DesignResult => ({ status, goal, base: tip.sha, attempts, reasons: [], leftOut, ...rest });

  for (let n = 1; n <= MAX_ATTEMPTS; n++) {
    const started = Date.now();
    const prompt = draftPrompt({ goal, files, previous });
    leftOut = prompt.leftOut;
    if (n === 1 && leftOut.length) ctx.progress(`${leftOut.length} spec file${leftOut.length === 1 ? ' was' : 's were'} left out of the prompt: ${leftOut.map((l) => `specs/${l.path} (${l.why})`).join('; ')}`);
    ctx.progress(`attempt ${n} of ${MAX_ATTEMPTS}: asking ${ctx.llm.model} for a draft${n > 1 ? ' with the problems of the last one' : ''}`);
    const reply = await requestDraft(prompt, { llm: ctx.llm, timeoutMs: ctx.draftTimeoutMs, ...(ctx.draftMaxTokens ? { maxTokens: ctx.draftMaxTokens } : {}), ...(ctx.signal ? { signal: ctx.signal } : {}) });
    if (reply.status === 'failed') {
      attempts.push({ attempt: n, ok: false, diagnostics: [], ms: Date.now() - started });
      return result('llm-failed', { reasons: [reply.reason] });
    }
    if (reply.status === 'unusable') {
      const d = replyProblem(reply.problem);
      attempts.push({ attempt: n, ok: false, diagnostics: [d], ms: Date.now() - started });
      previous.push({ attempt: n, replyProblem: reply.problem, problems: [] });
      ctx.progress(`attempt ${n} of ${MAX_ATTEMPTS} failed: ${reply.problem}`);
      continue;
    }
    const draft = reply.draft;
    const paths = draft.edits.map((e) => `${ctx.specsPath}/${e.path}`);
    ctx.progress(`attempt ${n} of ${MAX_ATTEMPTS}: the draft edits ${paths.join(', ')}; checking it`);
    const own = draftProblems(draft);
    const checked = own.length ? { ok: false, diagnostics: own } : await propose(ctx, { edits: draft.edits, title: draft.title, reason: draft.reason, via: 'cli', dryRun: true });
    const errors = checked.diagnostics.filter((d) => d.severity === 'error');
    attempts.push({ attempt: n, title: draft.title, files: paths, ok: checked.ok, diagnostics: checked.diagnostics, ms: Date.now() - started });
    if (checked.ok && 'plan' in checked && checked.plan) {
      const plan = checked.plan;
      const diff = draftDiff(draft, trusted, ctx.specsPath);
      ctx.progress(`attempt ${n} of ${MAX_ATTEMPTS} passed: valid, policies ${plan.verdict?.status ?? 'pass'}, planned offline`);
      if (opts.dryRun) return result('checked', { draft, plan, diff });
      ctx.progress(`asking ${ctx.llm.model} for the narrative of the plan`);
      const narrative = await narrate(plan, ctx.llm, ctx.signal ? { signal: ctx.signal } : {});
      if (narrative.status === 'withheld') ctx.progress(`the narrative was withheld: ${narrative.reason}`);
      const opened = await propose(ctx, {
        edits: draft.edits,
        title: draft.title,
        reason: draft.reason,
        via: 'cli',
        after: [...goalSection(goal, reply.model, n), '', ...narrativeSection(narrative, plan)],
      });
      if (!opened.ok || !opened.pr) {
        // The trusted commit moved between the check and the proposal, or the edits change nothing on it.
        const problems = opened.diagnostics.filter((d) => d.severity === 'error');
        attempts[attempts.length - 1] = { ...attempts[attempts.length - 1]!, ok: false, diagnostics: opened.diagnostics };
        return result('blocked', { draft, diff, narrative, ...(opened.plan ? { plan: opened.plan } : { plan }), reasons: problems.map(located) });
      }
      return result('proposed', { draft, plan: opened.plan ?? plan, diff, narrative, branch: opened.branch!, pr: opened.pr });
    }
    ctx.progress(`attempt ${n} of ${MAX_ATTEMPTS} failed: ${errors.length} problem${errors.length === 1 ? '' : 's'}, first ${located(errors[0] ?? checked.diagnostics[0]!)}`);
    previous.push({
      attempt: n,
      edits: draft.edits.map((e) => {
        if (e.content === null) return { path: e.path, content: null };
        const s = screenSpecFile(e.path, e.content);
        return { path: e.path, content: 'text' in s ? s.text : `(not repeated: ${s.leftOut})` };
      }),
      problems: checked.diagnostics.map((d) => ({ severity: d.severity, code: d.code, file: d.file, line: d.line, col: d.col, message: d.message, ...(d.hint ? { hint: d.hint } : {}) })),
    });
  }
  const last = attempts[attempts.length - 1]!;
  return result('blocked', { reasons: last.diagnostics.filter((d) => d.severity === 'error').map(located) });
}
