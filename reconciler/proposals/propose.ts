// An agent's change, from request to pull request: the MCP server's propose tools and `fleetspec
// propose` hand their spec edits here. The edits are checked against the trusted commit (check.ts);
// a change that passes is written by the bot on a new branch from the trusted commit, with who
// asked and why in the commit and the pull request, and opened as a PR (index.ts) that the loop
// plans live in its next tick. Nothing is applied here: only an approved merge is.
import { createHash, randomBytes } from 'node:crypto';
import type { GitHub } from '../github/client.js';
import type { SpecRepo } from '../git/repo.js';
import type { Diagnostic } from '../diagnostics.js';
import { logLine, mdCode } from '../escape.js';
import { renderMarkdown } from '../plan/render.js';
import type { Plan } from '../plan/plan.js';
import type { Queryable } from '../state/db.js';
import { recordBotCommit, trustedTip } from '../state/loop.js';
import { checkEdits, type SpecEdit } from './check.js';
import { openProposal, proposalBody, proposalBranch } from './index.js';
import type { FolderUse } from '../state/lock.js';

export const PROPOSAL_LABEL = { name: 'fleetspec:proposal', color: '5319e7', description: 'Proposed by an agent; planned, reviewed and applied like any change' } as const;

export interface ProposerContext {
  db: Queryable;
  repoKey: string;
  /** A clone of its own (never the loop's checkout, which a running tick moves). */
  git: SpecRepo;
  github: GitHub;
  specsPath: string;
  /** The default branch; absent: asked of GitHub. */
  branch?: string;
  progress(message: string): void;
}

export interface ProposalRequest {
  edits: SpecEdit[];
  /** One line: the PR's title. */
  title: string;
  /** Why, in the agent's words: in the commit and the PR, quoted as data. */
  reason: string;
  /** The MCP role that asks; absent: the command line. */
  role?: string;
  via: 'mcp' | 'cli';
  /** GitHub logins behind the role: authors of the change, so none of them can approve it. */
  authors?: readonly string[];
  /** Check and plan only: no branch, no PR. */
  dryRun?: boolean;
  /** Markdown added to the PR body (propose's goal and narrative). */
  after?: readonly string[];
}

export interface ProposalResult {
  ok: boolean;
  diagnostics: Diagnostic[];
  plan?: Plan;
  /** The trusted commit the change was checked against and starts from. */
  base?: string;
  branch?: string;
  pr?: { number: number; url: string };
  /** The files as written, repository-relative. */
  files: string[];
}

/** Thrown when there is no trusted commit to propose against (the loop never ran). */
/** How long a call waits for another process (another agent's MCP server, `fleetspec propose`) to be done with the clone. */
export const CLONE_WAIT_MS = 120_000;

export const PROPOSAL_CLONE: FolderUse = {
  what: 'the proposal clone',
  hint: 'another fleetspec mcp or fleetspec propose is using it: try again when it is done (a holder that died frees it at once)',
};

export class NoTrustedCommit extends Error {}

/** One proposal at a time per process: they share the clone. */
let queue: Promise<unknown> = Promise.resolve();

export function propose(ctx: ProposerContext, req: ProposalRequest): Promise<ProposalResult> {
  const run = queue.then(() => proposeNow(ctx, req));
  queue = run.catch(() => undefined);
  return run;
}

async function proposeNow(ctx: ProposerContext, req: ProposalRequest): Promise<ProposalResult> {
  const tip = await trustedTip(ctx.db, ctx.repoKey);
  if (!tip) throw new NoTrustedCommit(`fleetspec has accepted no commit of ${ctx.repoKey} yet: run the loop once (fleetspec reconcile) so there is a trusted commit to propose against`);
  await ctx.git.fetch();
  await ctx.git.checkout(tip.sha);
  const checked = await checkEdits({ checkout: ctx.git.dir, specsPath: ctx.specsPath, edits: req.edits, db: ctx.db });
  const files = Object.keys(checked.files).sort();
  const base = { diagnostics: checked.diagnostics, files, base: tip.sha, ...(checked.plan ? { plan: checked.plan } : {}) };
  if (!checked.ok || req.dryRun) return { ok: checked.ok, ...base };

  const main = ctx.branch ?? (await ctx.github.defaultBranch());
  // Unique per request: two agents asking the same thing get two PRs, each reviewed.
  const suffix = createHash('sha256').update(JSON.stringify(req.edits)).update(randomBytes(8)).digest('hex').slice(0, 6);
  // A ticket file it adds reserves its id while the branch exists (loop/tickets.ts reservedTicketIds): its name carries -t-NNNN.
  const tickets = Object.entries(checked.files)
    .filter(([path, content]) => content !== null && path.startsWith(`${ctx.specsPath}/tickets/`))
    .map(([path]) => /\/(T-[0-9]{4,})\.ya?ml$/.exec(path)?.[1])
    .filter((id): id is string => id !== undefined);
  const branch = `${proposalBranch('proposal', req.role ?? 'cli', req.title)}${tickets.map((id) => `-${id.toLowerCase()}`).join('')}-${suffix}`;
  const by = req.role ? `the agent of role ${mdCode(req.role)}, through fleetspec's MCP server` : 'the command line on the server (`fleetspec propose`)';
  const title = logLine(req.title).slice(0, 200) || 'fleetspec proposal';
  const message = `${title}\n\nProposed by ${req.role ? `role ${logLine(req.role)} (MCP)` : 'fleetspec propose'}: ${logLine(req.reason).slice(0, 1000)}`;
  const body = proposalBody({
    summary: `A change proposed by an agent, checked against the trusted commit ${tip.sha.slice(0, 7)}: valid, passing its policies, planned offline.`,
    by,
    reason: req.reason,
    files,
    after: [...(req.after ?? []), '', '<details><summary>Offline plan at proposal time</summary>', '', renderMarkdown(checked.plan!), '', '</details>'],
  });
  await ctx.db.query(`insert into proposals (repo, branch, role, via, reason, authors) values ($1, $2, $3, $4, $5, $6)`, [
    ctx.repoKey,
    branch,
    req.role ?? null,
    req.via,
    req.reason.slice(0, 4000),
    [...new Set((req.authors ?? []).map((a) => a.toLowerCase()))],
  ]);
  // The loop plans only heads fleetspec wrote (bot_commits): the branch's commit is recorded as it is pushed.
  const onPushed = ctx.git.onPushed;
  ctx.git.onPushed = (pushed, sha) => recordBotCommit(ctx.db, ctx.repoKey, pushed, sha);
  let opened: Awaited<ReturnType<typeof openProposal>>;
  try {
    opened = await openProposal(ctx, main, { branch, base: tip.sha, files: checked.files, message, title, body, labels: [PROPOSAL_LABEL], open: null, dropBranchOnFailure: true });
  } finally {
    ctx.git.onPushed = onPushed;
  }
  if (!opened) return { ok: false, ...base, diagnostics: [...checked.diagnostics, { severity: 'error', code: 'proposal.no-change', file: 'specs/', line: 1, col: 1, message: 'the edits change nothing on the trusted commit', hint: 'read the current spec and change it' }] };
  await ctx.db.query(`update proposals set pr = $3 where repo = $1 and branch = $2`, [ctx.repoKey, branch, opened.pr.number]);
  ctx.progress(`proposed ${files.join(', ')} as #${opened.pr.number} on ${branch}`);
  return { ok: true, ...base, branch, pr: { number: opened.pr.number, url: opened.pr.url } };
}

/** Who stands behind a proposal branch, for the two-person rule: its role's people, or unknown (the command line). */
export async function proposalAuthors(db: Queryable, repoKey: string, branch: string): Promise<{ known: string[]; unknown?: string }> {
  const [row] = await db.query<{ authors: string[]; via: string; role: string | null }>(`select authors, via, role from proposals where repo = $1 and branch = $2 order by id desc limit 1`, [repoKey, branch]);
  if (!row) return { known: [], unknown: `fleetspec has no record of who proposed ${branch}` };
  if (row.via === 'cli') return { known: [], unknown: 'proposed with fleetspec propose on the server, by someone fleetspec cannot name' };
  return { known: row.authors };
}
