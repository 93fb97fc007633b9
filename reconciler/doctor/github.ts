// GitHub: the token resolves as the loop resolves it, GitHub accepts it (GET /user: the bot's login),
// its scopes (classic tokens; fine-grained ones send none and are judged by what they can do), the
// repository with push access, the default branch's protection as docs/security.md requires it, and
// the clock against GitHub's. Each request has its own deadline; the first that gets no answer ends
// the group, as the rest would wait the same way.
import { githubConfig, type GitHubConfig } from '../loop/config.js';
import type { Queryable } from '../state/db.js';
import { DEFAULT_STATUS_CONTEXT } from '../github/client.js';
import { explain, fail, ok, warn, type CheckGroup, type CheckResult, type DoctorContext } from './check.js';

/** Skew of the local clock against GitHub's Date header: warn above, fail above. */
export const SKEW_WARN_MS = 5_000;
export const SKEW_FAIL_MS = 60_000;

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
  /** When the request was sent and answered, local clock. */
  sent: number;
  received: number;
}

class NoAnswer extends Error {}

async function ask(gh: GitHubConfig, path: string, timeoutMs: number): Promise<Answer> {
  const sent = Date.now();
  let response: Response;
  try {
    response = await fetch(`${gh.githubApi}${path}`, {
      headers: { authorization: `Bearer ${gh.token}`, accept: 'application/vnd.github+json', 'x-github-api-version': '2022-11-28', 'user-agent': 'fleetspec-doctor' },
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    const why = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError') ? `no answer within ${Math.round(timeoutMs / 1000)} s` : `${explain(err).message}${err instanceof Error && err.cause instanceof Error ? ` (${err.cause.message})` : ''}`;
    throw new NoAnswer(`GET ${path}: ${why}`);
  }
  let body: Record<string, unknown> = {};
  try {
    const text = await response.text();
    body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch (err) {
    // A body cut off by the deadline is no answer either.
    if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) throw new NoAnswer(`GET ${path}: the answer did not finish within ${Math.round(timeoutMs / 1000)} s`);
  }
  return { status: response.status, headers: response.headers, body, sent, received: Date.now() };
}

const said = (a: Answer) => (typeof a.body['message'] === 'string' ? `: ${a.body['message']}` : '');

/** The token's source, as githubConfig takes it: never the token. */
function tokenSource(env: NodeJS.ProcessEnv): string {
  if (env.FLEETSPEC_GITHUB_TOKEN) return 'FLEETSPEC_GITHUB_TOKEN';
  if (env.GITHUB_TOKEN) return 'GITHUB_TOKEN';
  return 'the store (meta/github/token)';
}

/** A store that is not there: the token can only come from the environment. */
const noStore: Queryable = {
  query: () => Promise.reject(new Error('the state store could not be opened (see the store check above), so a token stored there cannot be read')),
  exec: () => Promise.reject(new Error('no store')),
};

export function checkClock(a: Answer): CheckResult | undefined {
  const date = a.headers.get('date');
  const at = date ? Date.parse(date) : NaN;
  if (!Number.isFinite(at)) return undefined;
  // GitHub's Date has whole seconds: it was stamped somewhere between sending and answering.
  const skew = at - (a.sent + a.received) / 2;
  const slack = (a.received - a.sent) / 2 + 1000;
  const off = Math.max(0, Math.abs(skew) - slack);
  const how = `${Math.round(Math.abs(skew) / 1000)} s ${skew > 0 ? 'behind' : 'ahead of'} GitHub's`;
  const fix = 'synchronise the clock: timedatectl set-ntp true (systemd-timesyncd), or chrony';
  if (off > SKEW_FAIL_MS) return fail('github.clock', `this machine's clock is ${how} (GitHub said ${date})`, fix);
  if (off > SKEW_WARN_MS) return warn('github.clock', `this machine's clock is ${how}`, fix);
  return ok('github.clock', `within ${Math.max(1, Math.round((Math.abs(skew) + slack) / 1000))} s of GitHub's`);
}

/** What docs/security.md and running-the-loop.md ask of the default branch's protection, as problems. */
export function protectionProblems(p: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const reviews = p['required_pull_request_reviews'] as { required_approving_review_count?: number; dismiss_stale_reviews?: boolean } | undefined;
  if (!reviews) problems.push('no pull request required before merging');
  else {
    if (!(Number(reviews.required_approving_review_count ?? 0) >= 1)) problems.push('no approving review required');
    if (!reviews.dismiss_stale_reviews) problems.push('stale approvals are not dismissed when new commits are pushed');
  }
  const checks = p['required_status_checks'] as { strict?: boolean; contexts?: string[]; checks?: { context: string }[] } | undefined;
  const contexts = new Set([...(checks?.contexts ?? []), ...(checks?.checks ?? []).map((c) => c.context)]);
  if (!contexts.has(DEFAULT_STATUS_CONTEXT)) problems.push(`the status check ${DEFAULT_STATUS_CONTEXT} is not required`);
  if (checks && !checks.strict) problems.push('branches need not be up to date before merging');
  if (!(p['enforce_admins'] as { enabled?: boolean } | undefined)?.enabled) problems.push('administrators may bypass the rules');
  if ((p['allow_force_pushes'] as { enabled?: boolean } | undefined)?.enabled) problems.push('force pushes are allowed');
  return problems;
}

async function checks(ctx: DoctorContext): Promise<CheckResult[]> {
  const { env, settings } = ctx;
  const fullName = settings.githubRepo || env.FLEETSPEC_GITHUB_REPO;
  let gh: GitHubConfig;
  try {
    gh = await githubConfig(ctx.db ?? noStore, { ...(fullName ? { githubRepo: fullName } : {}), ...(settings.githubApi ? { githubApi: settings.githubApi } : {}) }, env);
  } catch (err) {
    const { message, hint } = explain(err);
    return [fail(fullName ? 'github.token' : 'github.repository', message, hint ?? 'set FLEETSPEC_GITHUB_TOKEN')];
  }
  const results: CheckResult[] = [ok('github.token', `a token from ${tokenSource(env)}`)];
  const t = settings.timeoutMs;
  const unreachable = (err: unknown, name: string) => {
    if (!(err instanceof NoAnswer)) throw err;
    return fail(name, `no answer from GitHub at ${gh.githubApi} (${err.message})`, 'check the network to GitHub and FLEETSPEC_GITHUB_API (https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise Server)');
  };

  let user: Answer;
  try {
    user = await ask(gh, '/user', t);
  } catch (err) {
    return [...results, unreachable(err, 'github.user')];
  }
  if (user.status === 401) {
    return [...results, fail('github.user', `GitHub rejected the token (401${said(user)})`, `the token is mistyped, expired or revoked: make a new one signed in as the bot and set it in ${tokenSource(env)} (docs/running-the-loop.md, "The bot and its token")`)];
  }
  if (user.status !== 200) return [...results, fail('github.user', `GET /user answered ${user.status}${said(user)}`, 'check the token and FLEETSPEC_GITHUB_API')];
  const login = String(user.body['login'] ?? '?');
  results.push(ok('github.user', `the token is @${login}'s: fleetspec's pull requests, comments and commits will be theirs (never an approver's account)`));
  const clock = checkClock(user);
  if (clock) results.push(clock);

  const scopes = user.headers.get('x-oauth-scopes');
  if (scopes === null) {
    results.push(ok('github.scopes', 'a fine-grained token (GitHub sends no X-OAuth-Scopes for it): its access is judged by the repository check below'));
  } else {
    const list = scopes.split(',').map((s) => s.trim()).filter(Boolean);
    if (list.includes('repo')) results.push(ok('github.scopes', `a classic token with scopes: ${list.join(', ')}`));
    else results.push(fail('github.scopes', `a classic token without the repo scope (scopes: ${list.join(', ') || 'none'})`, 'make a classic token with the repo scope, or a fine-grained one for the repository (Contents, Pull requests, Issues, Commit statuses: read and write; Metadata: read)'));
  }

  let repo: Answer;
  try {
    repo = await ask(gh, `/repos/${encodeURIComponent(gh.owner)}/${encodeURIComponent(gh.repo)}`, t);
  } catch (err) {
    return [...results, unreachable(err, 'github.repository')];
  }
  if (repo.status !== 200) {
    return [
      ...results,
      fail('github.repository', `GET /repos/${gh.fullName} answered ${repo.status}${said(repo)}`, `check FLEETSPEC_GITHUB_REPO (${gh.fullName}) and that @${login} is a collaborator with Write access (GitHub answers 404 when the token cannot see it); a fine-grained token must be issued for this repository`),
    ];
  }
  const permissions = repo.body['permissions'] as { push?: boolean; admin?: boolean } | undefined;
  const branch = env.FLEETSPEC_BRANCH || String(repo.body['default_branch'] ?? 'main');
  if (!permissions) results.push(warn('github.repository', `${gh.fullName} is readable, but GitHub did not say what @${login} may do there`, `make sure @${login} has Write access`));
  else if (!permissions.push) results.push(fail('github.repository', `@${login} cannot push to ${gh.fullName} (read access only)`, `invite @${login} as a collaborator with Write access; a fine-grained token needs Contents: read and write`));
  else results.push(ok('github.repository', `${gh.fullName}: @${login} can push; default branch ${branch}`));

  let protection: Answer;
  try {
    protection = await ask(gh, `/repos/${encodeURIComponent(gh.owner)}/${encodeURIComponent(gh.repo)}/branches/${encodeURIComponent(branch)}/protection`, t);
  } catch (err) {
    return [...results, unreachable(err, 'github.protection')];
  }
  const settingsFix = `on GitHub, Settings → Branches → ${branch}: require a pull request with 1 approving review, dismiss stale approvals, require the status check ${DEFAULT_STATUS_CONTEXT} and up-to-date branches, do not allow bypassing (docs/security.md)`;
  if (protection.status === 404 && /not protected/i.test(String(protection.body['message'] ?? ''))) {
    results.push(fail('github.protection', `${branch} is not protected`, settingsFix));
  } else if (protection.status === 403 || protection.status === 404) {
    results.push(
      warn('github.protection', `the token cannot read ${branch}'s protection (${protection.status}${said(protection)}): GitHub shows it only to administrators, which the bot need not be`, `check it by hand against docs/security.md, or run doctor once with an administrator's token in FLEETSPEC_GITHUB_TOKEN; ${settingsFix}`),
    );
  } else if (protection.status !== 200) {
    results.push(fail('github.protection', `GET ${branch}'s protection answered ${protection.status}${said(protection)}`, 'run doctor again; see https://www.githubstatus.com'));
  } else {
    const problems = protectionProblems(protection.body);
    if (problems.length) results.push(fail('github.protection', `${branch}'s protection falls short: ${problems.join('; ')}`, settingsFix));
    else results.push(ok('github.protection', `${branch} requires an approved, up-to-date pull request with ${DEFAULT_STATUS_CONTEXT} passing, stale approvals dismissed, no bypass (who may push fleetspec/** is a ruleset: check it by hand)`));
  }
  return results;
}

export const github: CheckGroup = { name: 'github', run: checks };
