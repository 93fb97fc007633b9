// `fleetspec propose "GOAL" [--dry-run]`: the LLM drafts spec edits for a goal, fleetspec checks
// them and retries twice with the problems, then opens the bot's PR or stops with "design
// blocked" (propose/index.ts). It works in a clone of its own (FLEETSPEC_REPO_DIR + -propose; the MCP server has -proposals),
// never the loop's checkout, against the trusted commit.
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { logLine, terminal } from '../escape.js';
import { formatDiagnostic } from '../diagnostics.js';
import { GitError, SpecRepo } from '../git/repo.js';
import { GitHub, GitHubError } from '../github/client.js';
import { loopConfig, type LoopOptions } from '../loop/config.js';
import { llmEndpoint } from '../narrative/narrate.js';
import { renderText } from '../plan/render.js';
import { CLONE_WAIT_MS, NoTrustedCommit, PROPOSAL_CLONE } from '../proposals/propose.js';
import { lockFolder } from '../state/lock.js';
import { DEFAULT_DRAFT_TIMEOUT_MS } from '../propose/draft.js';
import { design, type DesignResult } from '../propose/index.js';
import type { Output } from './output.js';
import { withStore } from './store.js';

export interface ProposeOptions extends LoopOptions {
  format: 'text' | 'json';
  dryRun?: boolean;
  quiet?: boolean;
  /** Seconds one draft may take (default: FLEETSPEC_LLM_TIMEOUT when longer than 120, else 120). */
  timeout?: number;
}

const MAX_GOAL = 2000;

export function proposeCommand(goal: string, opts: ProposeOptions, out: Output): Promise<ExitCode> {
  const say = (m: string) => out.stderr(`fleetspec propose: ${logLine(m)}`, 'err');
  if (!goal.trim()) {
    say('give the goal: fleetspec propose "Deploy API service for Consilio at api.consilio.153.se"');
    return Promise.resolve(EXIT.INVALID);
  }
  if (goal.length > MAX_GOAL) {
    say(`the goal is ${goal.length} characters long; at most ${MAX_GOAL}`);
    return Promise.resolve(EXIT.INVALID);
  }
  return withStore(out, 'propose', async (db) => {
    const config = await loopConfig(db, opts);
    const endpoint = llmEndpoint(config.llm);
    if (!config.llm || 'problem' in endpoint) {
      say(`cannot draft a change without an LLM: ${config.llm ? (endpoint as { problem: string }).problem : 'none is configured'}`);
      out.stderr(
        '  hint: set FLEETSPEC_LLM_MODEL and FLEETSPEC_LLM_BASE_URL (an OpenAI-compatible API with structured outputs), plus FLEETSPEC_LLM_API_KEY or the secret meta/llm/api_key unless the endpoint is on this machine',
        'err',
      );
      return EXIT.INVALID;
    }
    const progress = (m: string) => !opts.quiet && out.stderr(`fleetspec propose: ${logLine(m)}`);
    const github = new GitHub({ owner: config.owner, repo: config.repo, token: config.token, baseUrl: config.githubApi, log: (m) => out.stderr(logLine(m), 'warning') });
    const started = Date.now();
    let result: DesignResult;
    // A clone of its own: the loop's checkout moves under a running tick. Two proposes at once take turns with it.
    const dir = `${config.repoDir}-propose`;
    await mkdir(dirname(dir), { recursive: true });
    const clone = await lockFolder(dir, { waitMs: CLONE_WAIT_MS }, PROPOSAL_CLONE);
    try {
      const git = await SpecRepo.open({
        dir,
        url: config.gitUrl,
        token: config.token,
        author: config.author,
        progress,
        ...(config.deadlines.gitMs ? { timeoutMs: config.deadlines.gitMs } : {}),
      });
      const timeoutMs = opts.timeout ? opts.timeout * 1000 : Math.max(DEFAULT_DRAFT_TIMEOUT_MS, config.llm.timeoutMs ?? 0);
      result = await design(
        { db, repoKey: config.fullName, git, github, specsPath: config.specsPath, ...(config.branch ? { branch: config.branch } : {}), progress, llm: config.llm, draftTimeoutMs: timeoutMs },
        goal,
        { dryRun: Boolean(opts.dryRun) },
      );
    } catch (err) {
      if (err instanceof NoTrustedCommit) {
        say(err.message);
        return EXIT.INVALID;
      }
      if (err instanceof GitError || err instanceof GitHubError) {
        say(err.message);
        if (err.hint) out.stderr(`  hint: ${logLine(err.hint)}`, 'err');
        return EXIT.ERROR;
      }
      throw err;
    } finally {
      await clone.release();
    }
    const ms = Date.now() - started;
    if (opts.format === 'json') {
      out.stdout(JSON.stringify({ ...result, ms }, null, 2), result.status === 'proposed' || result.status === 'checked' ? 'info' : 'err');
    } else printResult(result, out, ms);
    if (result.status === 'llm-failed') return EXIT.ERROR;
    return result.status === 'blocked' ? EXIT.INVALID : EXIT.OK;
  });
}

function printResult(r: DesignResult, out: Output, ms: number): void {
  const took = `${(ms / 1000).toFixed(1)} s`;
  switch (r.status) {
    case 'llm-failed':
      out.stderr(`fleetspec propose: stopped: ${logLine(r.reasons[0] ?? 'the LLM failed')}; nothing was proposed`, 'err');
      out.stderr('  hint: check FLEETSPEC_LLM_BASE_URL and FLEETSPEC_LLM_MODEL (fleetspec doctor), or give a draft longer with --timeout SECONDS', 'err');
      return;
    case 'blocked': {
      out.stderr(`fleetspec propose: design blocked after ${r.attempts.length} attempt${r.attempts.length === 1 ? '' : 's'}: no draft passed the checks; nothing was proposed, no branch was written`, 'err');
      for (const a of r.attempts) {
        out.stderr(`attempt ${a.attempt}${a.title ? ` (${logLine(a.title)})` : ''}:`, 'err');
        for (const d of a.diagnostics) out.stderr(`  ${formatDiagnostic(d, out.color).replace(/\n/g, '\n  ')}`, 'err');
      }
      out.stderr('  hint: the goal needs a person now: restate it more precisely, or make the change by hand', 'err');
      return;
    }
    case 'checked':
      out.stdout(terminal(r.diff ?? ''));
      out.stdout(renderText(r.plan!, { color: out.color }));
      out.stdout(`dry run: the draft "${logLine(r.draft!.title)}" passed the checks in ${r.attempts.length} attempt${r.attempts.length === 1 ? '' : 's'} (${took}); nothing was proposed`);
      return;
    case 'proposed':
      out.stdout(`proposed #${r.pr!.number} ${logLine(r.pr!.url)} on ${logLine(r.branch!)}: "${logLine(r.draft!.title)}" (${r.attempts.length} attempt${r.attempts.length === 1 ? '' : 's'}, ${took})`);
      return;
  }
}
