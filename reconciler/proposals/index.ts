// One way fleetspec proposes a change: a branch it writes on the trusted commit, holding only the
// files the change needs, and a pull request for it. The loop's pulled tickets, finding tickets
// and rollbacks, the MCP server's propose tools and `fleetspec propose` all go through here, so a
// proposal's branch, ticket id and PR text are made one way. A proposal never applies anything:
// it is planned, reviewed and applied like any change (loop/phases/branches.ts).
import type { LabelSpec, PullRequest } from '../github/client.js';
import type { GitHub } from '../github/client.js';
import type { SpecRepo } from '../git/repo.js';
import { logLine, mdCode, mdInline } from '../escape.js';

/** The folders of fleetspec's own branches: a head there that fleetspec did not write is closed, never planned. */
export const BRANCH_KINDS = ['ticket', 'finding', 'rollback', 'proposal'] as const;
export type BranchKind = (typeof BRANCH_KINDS)[number];
export const branchPrefix = (kind: BranchKind) => `fleetspec/${kind}/`;

/** A name part of a branch: lower case letters, digits and dashes, at most `max` long, never empty. */
export function slug(text: string, max = 40): string {
  const s = text
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, max)
    .replace(/-+$/g, '');
  return s || 'change';
}

/** fleetspec/<kind>/<part>-<part>…, each part a slug except ticket ids (T-0009), kept as they are. */
export function proposalBranch(kind: BranchKind, ...parts: string[]): string {
  return `${branchPrefix(kind)}${parts.map((p) => (/^T-[0-9]{4,}$/.test(p) ? p : slug(p))).join('-')}`;
}

export interface ProposalContext {
  git: SpecRepo;
  github: GitHub;
  progress(message: string): void;
}

export interface Proposal {
  branch: string;
  /** The commit the branch starts from: the trusted one. */
  base: string;
  /** Repository-relative paths and their new content; null deletes the file. */
  files: Record<string, string | null>;
  /** The commit message (its first line is cut to 200 characters). */
  message: string;
  title: string;
  body: string;
  labels?: readonly LabelSpec[];
  /** The PR already open for the branch, when the caller looked (else it is asked for). */
  open?: PullRequest | null;
  /** Delete the branch when the PR cannot be opened: a branch of this kind without a PR reads as one a person declined. */
  dropBranchOnFailure?: boolean;
}

export interface Opened {
  sha: string;
  pr: PullRequest;
  /** The PR was open already (its branch rewritten, its body updated). */
  existed: boolean;
}

/**
 * Writes the proposal's branch (one commit on `base`) and opens its PR against `main`, or updates
 * the open one. Undefined when the files change nothing on `base`.
 */
export async function openProposal(ctx: ProposalContext, main: string, p: Proposal): Promise<Opened | undefined> {
  const open = p.open === undefined ? await ctx.github.openPullFor(p.branch) : (p.open ?? undefined);
  const sha = await ctx.git.writeBranch(p.branch, p.base, p.files, p.message.slice(0, 4000));
  if (!sha) return undefined;
  const title = logLine(p.title).slice(0, 256);
  let pr: PullRequest;
  if (open) {
    pr = await ctx.github.updatePull(open.number, { title, body: p.body });
  } else {
    try {
      pr = await ctx.github.createPull({ branch: p.branch, base: main, title, body: p.body });
    } catch (err) {
      if (p.dropBranchOnFailure) await ctx.git.deleteRemoteBranch(p.branch).catch(() => {});
      throw err;
    }
  }
  if (p.labels?.length) {
    await ctx.github.ensureLabels(p.labels);
    const have = (await ctx.github.getIssue(pr.number)).labels;
    const missing = p.labels.map((l) => l.name).filter((name) => !have.some((h) => h.toLowerCase() === name.toLowerCase()));
    if (missing.length) await ctx.github.updateIssue(pr.number, { labels: [...have, ...missing] });
  }
  return { sha, pr, existed: Boolean(open) };
}

/** Who asked for a proposal and why, as its PR body says it: an agent's role and reason are data, quoted, never markup. */
export function proposalBody(p: { summary: string; by?: string; reason?: string; files: readonly string[]; after?: readonly string[] }): string {
  return [
    p.summary,
    '',
    ...(p.by ? [`Proposed by ${p.by}.`] : []),
    ...(p.reason ? ['', `Reason given: ${mdInline(p.reason)}`] : []),
    '',
    `**Files:** ${p.files.map((f) => mdCode(f)).join(', ')}`,
    ...(p.after?.length ? ['', ...p.after] : []),
    '',
    'fleetspec plans this pull request live in its next tick; nothing is applied until an approver who made no part of it approves the planned head and it is merged.',
  ].join('\n');
}
