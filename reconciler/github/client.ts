// A small typed facade over the GitHub REST routes the plan/apply loop needs: pull requests, reviews,
// PR comments, commit statuses and commit comments, and the facts behind who authored and approved a
// change (account ids, a branch's push activity, commit identities, label events, collaborators).
// Retries of 5xx (@octokit/plugin-retry) and waits for rate limits (@octokit/plugin-throttling) live
// here, so a caller sees either an answer or a GitHubError that names the route and says what to do next.
// plugin-retry retries every method on a 5xx or a lost answer, POST included; a POST that creates
// something (a comment, an issue, a status, a PR) may have been carried out before the answer was lost,
// so those are sent once each (createOnce): before sending again, the client looks for what the lost
// attempt would have made, by the marker every comment and issue fleetspec writes carries
// (<!-- fleetspec:... -->), by context, state and description for a status, by branch for a PR.
// Limits: docs.github.com "Rate limits for the REST API" (primary: x-ratelimit-remaining 0 and
// x-ratelimit-reset; secondary: retry-after), 65536 characters per issue/PR/commit comment and PR body,
// 140 characters per commit status description.
import { createHash } from 'node:crypto';
import { Octokit } from '@octokit/rest';
import { retry } from '@octokit/plugin-retry';
import { throttling } from '@octokit/plugin-throttling';
// A transitive dependency through both plugins; the plugins' own option types name this package.
import Bottleneck from 'bottleneck';
import { Agent, fetch as poolFetch } from 'undici';
import { logLine } from '../escape.js';
import { emitMetric, listening, rateLimitOf } from '../metrics/events.js';

/** An answer's x-ratelimit-remaining, for the daemon's gauge (metrics/events.ts). */
function seenRateLimit(headers: Record<string, unknown> | undefined): void {
  const limit = rateLimitOf(headers);
  if (limit) emitMetric({ type: 'github-rate-limit', ...limit });
}

export interface GitHubOptions {
  owner: string;
  repo: string;
  token: string;
  /** Default https://api.github.com; GitHub Enterprise Server is https://HOST/api/v3. */
  baseUrl?: string;
  /** 5xx and network retries (plugin-retry), default 3. */
  retries?: number;
  /** Wait for a primary/secondary rate-limit reset up to this long, then fail; default 900. */
  maxRateLimitWaitS?: number;
  /** How many rate-limit waits one request may take, default 2. */
  rateLimitRetries?: number;
  /** Least gap between two content-creating requests of this client (plugin-throttling's write group), default 1000. */
  writeIntervalMs?: number;
  /** One second of retry-after or backoff lasts this long (both plugins' retryAfterBaseValue), default 1000. */
  retryAfterBaseMs?: number;
  /** Longest wait for one HTTP attempt before it counts as failed and is retried, default 30000. */
  requestTimeoutMs?: number;
  /** One line per rate-limit wait or retry; never includes the token. */
  log?: (message: string) => void;
}

/** A GitHub account: the id outlives a rename of the login (and a login, once freed, may become another account's). */
export interface Account {
  login: string;
  id: number;
}

export interface PullRequest {
  number: number;
  state: 'open' | 'closed';
  merged: boolean;
  mergeCommitSha: string | null;
  headRef: string;
  headSha: string;
  baseRef: string;
  author: string;
  /** The author's account id (user.id); null when GitHub names no user. */
  authorId: number | null;
  /** When it was merged (merged_at); null while not merged. */
  mergedAt: string | null;
  /** How many commits it has (`commits`), which only GET of the single PR carries; null from the list routes. */
  commits: number | null;
  /** The head branch's repository, "owner/name" (head.repo.full_name): another one for a PR from a fork; null when GitHub names none (a deleted fork). */
  headRepo: string | null;
  title: string;
  body: string;
  url: string;
  labels: string[];
}

export type ReviewState = 'APPROVED' | 'CHANGES_REQUESTED' | 'COMMENTED' | 'DISMISSED' | 'PENDING';

export interface Review {
  id: number;
  user: string;
  /** The reviewer's account id (user.id); null when GitHub names no user. */
  userId: number | null;
  state: ReviewState;
  commitId: string | null;
  submittedAt: string | null;
  /** The review's text ("" when none): where an approver writes "/fleetspec <override>". */
  body: string;
}

/** A GitHub issue (never a PR: the issues list's PRs are left out). */
export interface Issue {
  number: number;
  title: string;
  body: string;
  state: 'open' | 'closed';
  stateReason: string | null;
  labels: string[];
  author: string;
  url: string;
}

/** A comment on an issue or a pull request (`issue` is its number either way). */
export interface RepoComment {
  id: number;
  issue: number;
  user: string;
  userId: number | null;
  /** GitHub's account type: User, Bot, Organization. */
  userType: string | null;
  body: string;
  createdAt: string;
  url: string;
}

export interface IssueChange {
  title?: string;
  body?: string;
  labels?: string[];
  state?: 'open' | 'closed';
  stateReason?: 'completed' | 'not_planned' | 'reopened';
}

/** A label fleetspec needs: created with this colour (six hex digits) when the repository lacks it. */
export interface LabelSpec {
  name: string;
  color: string;
  description?: string;
}

export type StatusState = 'success' | 'failure' | 'pending' | 'error';

export type ActivityType = 'push' | 'force_push' | 'branch_creation' | 'branch_deletion' | 'pr_merge' | 'merge_queue_merge';

/** One change of a ref from GitHub's repository activity: who moved it from `before` to `after`, and how. */
export interface RefActivity {
  ref: string;
  before: string;
  after: string;
  type: ActivityType;
  /** null when GitHub names no account. */
  actor: Account | null;
  timestamp: string;
}

/** A commit of a PR and the accounts GitHub maps its author and committer emails to (null: none). */
export interface CommitIdentity {
  sha: string;
  author: Account | null;
  committer: Account | null;
}

/** A label put on or taken off an issue or PR, by whom and when. */
export interface LabelEvent {
  label: string;
  action: 'labeled' | 'unlabeled';
  actor: Account | null;
  at: string;
}

export type CollaboratorPermission = 'admin' | 'maintain' | 'write' | 'triage' | 'read';

/** A failed GitHub call: which route, the HTTP status when GitHub answered, and what to do next. */
export class GitHubError extends Error {
  readonly status?: number;
  readonly hint?: string;
  /** The route template, such as POST /repos/{owner}/{repo}/pulls. */
  readonly route?: string;

  constructor(message: string, options: { status?: number; hint?: string; route?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GitHubError';
    if (options.status !== undefined) this.status = options.status;
    if (options.hint !== undefined) this.hint = options.hint;
    if (options.route !== undefined) this.route = options.route;
  }
}

/** GitHub's limit for issue comments, PR bodies and commit comments ("Body is too long (maximum is 65536 characters)"). */
export const MAX_BODY_CHARS = 65_536;
/** GitHub's limit for a commit status description. */
export const MAX_STATUS_DESCRIPTION_CHARS = 140;
export const DEFAULT_STATUS_CONTEXT = 'fleetspec/plan';

const DEFAULTS = {
  baseUrl: 'https://api.github.com',
  retries: 3,
  maxRateLimitWaitS: 900,
  rateLimitRetries: 2,
  writeIntervalMs: 1000,
  retryAfterBaseMs: 1000,
  requestTimeoutMs: 30_000,
};
/** The most a list page may hold; fewer round trips for the same answer. */
const PER_PAGE = 100;
/** GET /pulls/{n}/commits "Lists a maximum of 250 commits for a pull request". */
const MAX_PULL_COMMITS = 250;
/** Collaborator roles from least to most: the highest one a collaborator has is their permission. */
const ROLES: readonly CollaboratorPermission[] = ['read', 'triage', 'write', 'maintain', 'admin'];
/** plugin-retry's list plus 429, which is a rate limit and belongs to plugin-throttling alone. */
const DO_NOT_RETRY = [400, 401, 403, 404, 410, 422, 429, 451];
const HTML_COMMENT = /<!--[\s\S]*?-->/g;

/** What the attempt plugin needs; it rides in Octokit's options because plugins get nothing else. */
interface AttemptOptions {
  retries: number;
  retryAfterBaseMs: number;
  requestTimeoutMs: number;
  say: (message: string) => void;
  /** The caller's cancellation (GitHub.signal): no attempt starts once it fired, and one in flight is aborted. */
  cancel: () => AbortSignal | undefined;
  /** An attempt got no answer (timed out, cut, refused, or was cancelled): its connections are not to be trusted again. */
  noAnswer: () => void;
}

/**
 * Innermost request hook, so it sees every attempt plugin-retry makes: gives each attempt its own
 * timeout and logs the retry plugin-retry is about to make (it has no callback of its own).
 */
const attempts: Parameters<typeof Octokit.plugin>[0] = (octokit, options) => {
  const config = options['fleetspecAttempts'] as AttemptOptions | undefined;
  if (!config) return;
  octokit.hook.wrap('request', async (request, endpoint) => {
    // The cancellation of the call's first attempt holds for its retries, whenever they come.
    const cancel = (endpoint.request as { fleetspecCancel?: AbortSignal }).fleetspecCancel ?? config.cancel();
    if (cancel?.aborted) throw cancel.reason instanceof Error ? cancel.reason : new Error('cancelled');
    const timeout = AbortSignal.timeout(config.requestTimeoutMs);
    endpoint.request = { ...endpoint.request, signal: cancel ? AbortSignal.any([timeout, cancel]) : timeout, ...(cancel ? { fleetspecCancel: cancel } : {}) };
    try {
      const response = await request(endpoint);
      if (listening()) seenRateLimit(response.headers);
      return response;
    } catch (error) {
      if (listening()) seenRateLimit(responseOf(error)?.headers);
      if (!responseOf(error)) config.noAnswer();
      // Cancelled (the tick stopped or gave up): no retry, and none announced. plugin-retry retries only
      // errors that carry their request, so this one does not; it would otherwise wait its back-off first.
      if (cancel?.aborted) throw new Error(error instanceof Error ? error.message : String(error), { cause: error });
      const status = statusOf(error);
      const done = Number(endpoint.request.retryCount ?? 0);
      // A write sent once (retries 0, see createOnce) is never retried by plugin-retry: nothing to announce.
      const retries = endpoint.request.retries ?? config.retries;
      if ((status === undefined || status >= 500) && done < retries) {
        // plugin-retry waits (retryCount + 1)² × retryAfterBaseValue before the next attempt.
        const waitS = (done + 1) ** 2;
        // octokit reports a request that got no answer (refused, reset, timed out) as a 500 without a response.
        const what = responseOf(error) ? `GitHub ${status}` : `No answer from GitHub (${error instanceof Error ? error.message : String(error)})`;
        config.say(`${what} on ${endpoint.method} ${endpoint.url}: retry ${done + 1} of ${retries} in ${formatWait(waitS, config.retryAfterBaseMs)}`);
      }
      throw error;
    }
  });
};

const FleetOctokit = Octokit.plugin(attempts, retry, throttling);

/** How long a kept connection to GitHub may idle before it is closed (GitHub's own keep-alive is longer). */
const KEEP_ALIVE_MS = 4_000;
/** How long a new connection (TCP and TLS) may take. */
const CONNECT_TIMEOUT_MS = 10_000;
const newPool = () => new Agent({ keepAliveTimeout: KEEP_ALIVE_MS, keepAliveMaxTimeout: KEEP_ALIVE_MS, connect: { timeout: CONNECT_TIMEOUT_MS } });
type FleetOctokit = InstanceType<typeof FleetOctokit>;

// The parts of GitHub's answers this facade reads; octokit's generated types are wider than needed.
interface PullData {
  number: number;
  state: string;
  merged?: boolean;
  merged_at: string | null;
  merge_commit_sha: string | null;
  head: { ref: string; sha: string; repo?: { full_name: string } | null };
  base: { ref: string };
  user: { login: string; id: number } | null;
  /** Only on GET of a single PR. */
  commits?: number;
  title: string;
  body: string | null;
  html_url: string;
  labels: { name?: string }[];
}

export class GitHub {
  readonly fullName: string;
  private readonly owner: string;
  private readonly repo: string;
  private readonly octokit: FleetOctokit;
  private readonly say: (message: string) => void;
  private readonly redact: (text: string) => string;
  private readonly maxRateLimitWaitS: number;
  private readonly rateLimitRetries: number;
  private readonly retries: number;
  private readonly retryAfterBaseMs: number;
  /**
   * Cancels what this client does (the loop's tick sets it for its duration): a call given up on by
   * the tick makes no further attempt, waits no rate limit out, and so writes nothing after the tick.
   */
  signal: AbortSignal | undefined;
  /**
   * The connections this client's requests go over (kept alive between requests). Replaced after an
   * attempt that got no answer: a connection that went silent (a peer that lost power, a firewall
   * that lost its state) may stay open and silent after the network is back, and a request sent on
   * it again would wait its whole timeout. Kept connections also idle out after KEEP_ALIVE_MS.
   */
  private pool = newPool();

  constructor(opts: GitHubOptions) {
    this.owner = opts.owner;
    this.repo = opts.repo;
    this.fullName = `${opts.owner}/${opts.repo}`;
    const token = opts.token;
    const log = opts.log ?? (() => {});
    // Belt and braces: no line or error leaves this client with the token in it, whatever a message quotes.
    this.redact = (text) => (token === '' ? text : text.split(token).join('***'));
    this.say = (message) => log(this.redact(message));
    this.maxRateLimitWaitS = opts.maxRateLimitWaitS ?? DEFAULTS.maxRateLimitWaitS;
    this.rateLimitRetries = opts.rateLimitRetries ?? DEFAULTS.rateLimitRetries;
    const retries = opts.retries ?? DEFAULTS.retries;
    const retryAfterBaseMs = opts.retryAfterBaseMs ?? DEFAULTS.retryAfterBaseMs;
    this.retries = retries;
    this.retryAfterBaseMs = retryAfterBaseMs;
    const writeIntervalMs = opts.writeIntervalMs ?? DEFAULTS.writeIntervalMs;

    // plugin-throttling keeps its limiter groups in module state, shared by every client in the process;
    // groups of our own give each client its own write spacing (the plugin's defaults otherwise).
    const throttle = {
      global: new Bottleneck.Group({ maxConcurrent: 10 }),
      auth: new Bottleneck.Group({ maxConcurrent: 1 }),
      search: new Bottleneck.Group({ maxConcurrent: 1, minTime: 2000 }),
      write: new Bottleneck.Group({ maxConcurrent: 1, minTime: writeIntervalMs }),
      // The plugin spaces notification-triggering writes (PRs, comments) three times wider than other writes.
      notifications: new Bottleneck.Group({ maxConcurrent: 1, minTime: 3 * writeIntervalMs }),
      retryAfterBaseValue: retryAfterBaseMs,
      onRateLimit: (retryAfter: number, options: { method: string; url: string }, _octokit: unknown, retryCount: number) =>
        this.shouldWait('primary', retryAfter, options, retryCount, retryAfterBaseMs),
      onSecondaryRateLimit: (retryAfter: number, options: { method: string; url: string }, _octokit: unknown, retryCount: number) =>
        this.shouldWait('secondary', retryAfter, options, retryCount, retryAfterBaseMs),
    };
    const fleetspecAttempts: AttemptOptions = {
      retries,
      retryAfterBaseMs,
      requestTimeoutMs: opts.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs,
      say: this.say,
      cancel: () => this.signal,
      noAnswer: () => this.dropConnections(),
    };
    this.octokit = new FleetOctokit({
      auth: token,
      baseUrl: (opts.baseUrl ?? DEFAULTS.baseUrl).replace(/\/+$/, ''),
      userAgent: 'fleetspec',
      // debug gets the full request options, headers and token included, so it must stay silent;
      // error repeats each failed attempt, which the GitHubError and the retry lines already say.
      log: { debug: () => {}, info: () => {}, warn: (message: string) => this.say(String(message)), error: () => {} },
      retry: { retries, retryAfterBaseValue: retryAfterBaseMs, doNotRetry: DO_NOT_RETRY },
      throttle,
      fleetspecAttempts,
      request: { fetch: ((url: string, init: RequestInit) => poolFetch(url, { ...(init as object), dispatcher: this.pool })) as unknown as typeof fetch },
    });
  }

  /** A new pool for the next requests; the old one closes its idle connections now and the busy ones as their requests end. */
  private dropConnections(): void {
    const old = this.pool;
    this.pool = newPool();
    old.close().catch(() => {});
  }

  async defaultBranch(): Promise<string> {
    const route = 'GET /repos/{owner}/{repo}';
    const { data } = await this.call(route, () => this.octokit.request(route, this.where()));
    return data.default_branch;
  }

  /** The open PR whose head is `branch` in this repository, if any. */
  async openPullFor(branch: string): Promise<PullRequest | undefined> {
    const route = 'GET /repos/{owner}/{repo}/pulls';
    // GitHub ignores a head filter without the owner prefix and lists every PR instead.
    const { data } = await this.call(route, () => this.octokit.request(route, { ...this.where(), state: 'open', head: `${this.owner}:${branch}`, per_page: PER_PAGE }));
    const found = (data as PullData[]).find((pull) => pull.head.ref === branch);
    return found && toPullRequest(found);
  }

  async listOpenPulls(): Promise<PullRequest[]> {
    const route = 'GET /repos/{owner}/{repo}/pulls';
    const data = await this.call(route, () => this.octokit.paginate(route, { ...this.where(), state: 'open', per_page: PER_PAGE }));
    return (data as PullData[]).map(toPullRequest);
  }

  async getPull(number: number): Promise<PullRequest> {
    const route = 'GET /repos/{owner}/{repo}/pulls/{pull_number}';
    const { data } = await this.call(route, () => this.octokit.request(route, { ...this.where(), pull_number: number }));
    return toPullRequest(data as PullData);
  }

  async createPull(p: { branch: string; base: string; title: string; body: string }): Promise<PullRequest> {
    const route = 'POST /repos/{owner}/{repo}/pulls';
    // What a lost attempt made: the open PR of this branch into `base` under this title.
    const find = async () => {
      const existing = await this.openPullFor(p.branch);
      return existing && existing.baseRef === p.base && existing.title === p.title ? existing : undefined;
    };
    return this.createOnce(route, `the PR of ${p.branch}`, find, async (attempt) => {
      try {
        const { data } = await this.call(route, () =>
          this.octokit.request(route, { ...this.where(), head: p.branch, base: p.base, title: p.title, body: fitBody(p.body), request: ONCE }),
        );
        return toPullRequest(data as PullData);
      } catch (error) {
        // Sent again after a lost answer, it meets "already exists" when the first one was made after all (and listed late).
        if (attempt > 0 && error instanceof GitHubError && error.status === 422 && /already exists/i.test(error.message)) {
          const existing = await find();
          if (existing) return existing;
        }
        throw error;
      }
    });
  }

  async updatePull(number: number, p: { title?: string; body?: string; state?: 'open' | 'closed' }): Promise<PullRequest> {
    const route = 'PATCH /repos/{owner}/{repo}/pulls/{pull_number}';
    const change: { title?: string; body?: string; state?: 'open' | 'closed' } = {};
    if (p.title !== undefined) change.title = p.title;
    if (p.body !== undefined) change.body = fitBody(p.body);
    if (p.state !== undefined) change.state = p.state;
    const { data } = await this.call(route, () => this.octokit.request(route, { ...this.where(), pull_number: number, ...change }));
    return toPullRequest(data as PullData);
  }

  /** PRs that contain the commit or were merged as it. */
  async pullsForCommit(sha: string): Promise<PullRequest[]> {
    const route = 'GET /repos/{owner}/{repo}/commits/{commit_sha}/pulls';
    const data = await this.call(route, () => this.octokit.paginate(route, { ...this.where(), commit_sha: sha, per_page: PER_PAGE }));
    return (data as PullData[]).map(toPullRequest);
  }

  /** Every review of PR `number`, in GitHub's (chronological) order. */
  async reviews(number: number): Promise<Review[]> {
    const route = 'GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews';
    const data = await this.call(route, () => this.octokit.paginate(route, { ...this.where(), pull_number: number, per_page: PER_PAGE }));
    return data.map((review) => ({
      id: review.id,
      user: review.user?.login ?? '',
      userId: review.user?.id ?? null,
      state: review.state as ReviewState,
      commitId: review.commit_id ?? null,
      submittedAt: review.submitted_at ?? null,
      body: review.body ?? '',
    }));
  }

  /** GitHub logins of the PR's commit authors, where GitHub maps the author email to an account; paginated. */
  async pullCommitAuthors(number: number): Promise<string[]> {
    const route = 'GET /repos/{owner}/{repo}/pulls/{pull_number}/commits';
    const data = await this.call(route, () => this.octokit.paginate(route, { ...this.where(), pull_number: number, per_page: PER_PAGE }));
    return [...new Set(data.map((c) => c.author?.login).filter((l): l is string => Boolean(l)))];
  }

  /**
   * The PR's commits with the accounts GitHub maps their author and committer emails to (null: none),
   * all pages. GitHub lists at most 250: complete is false when it listed fewer than the PR's `commits`
   * count, which GET of the PR gives (asked first, so commits pushed meanwhile only add to the list).
   */
  async pullCommits(number: number): Promise<{ commits: CommitIdentity[]; total: number; complete: boolean }> {
    const count = (await this.getPull(number)).commits;
    const route = 'GET /repos/{owner}/{repo}/pulls/{pull_number}/commits';
    const data = await this.call(route, () => this.octokit.paginate(route, { ...this.where(), pull_number: number, per_page: PER_PAGE }));
    const commits = data.map((c) => ({ sha: c.sha, author: toAccount(c.author), committer: toAccount(c.committer) }));
    // Without a count, a list at GitHub's cap may be cut short; one under it is whole.
    const complete = count === null ? commits.length < MAX_PULL_COMMITS : commits.length >= count;
    return { commits, total: Math.max(count ?? commits.length, commits.length), complete };
  }

  /**
   * Every change of branch `branch` in GitHub's repository activity (pushes, force pushes, creation,
   * deletion, merges), oldest first, all pages: the list pages by cursor, and paginate follows Link's next.
   */
  async branchActivity(branch: string): Promise<RefActivity[]> {
    const route = 'GET /repos/{owner}/{repo}/activity';
    const data = await this.call(route, () => this.octokit.paginate(route, { ...this.where(), ref: `refs/heads/${branch}`, direction: 'asc', per_page: PER_PAGE }));
    return data.map((a) => ({
      ref: a.ref,
      before: a.before,
      after: a.after,
      type: a.activity_type as ActivityType,
      actor: toAccount(a.actor),
      timestamp: a.timestamp,
    }));
  }

  /** Who put on or took off each label of issue or PR `number`, and when, oldest first; all pages, other events left out. */
  async labelEvents(number: number): Promise<LabelEvent[]> {
    const route = 'GET /repos/{owner}/{repo}/issues/{issue_number}/events';
    const data = await this.call(route, () => this.octokit.paginate(route, { ...this.where(), issue_number: number, per_page: PER_PAGE }));
    const events = (data as IssueEventData[])
      .filter((e): e is IssueEventData & { event: 'labeled' | 'unlabeled'; label: { name: string } } => (e.event === 'labeled' || e.event === 'unlabeled') && typeof e.label?.name === 'string')
      .map((e) => ({ label: e.label.name, action: e.event, actor: toAccount(e.actor), at: e.created_at }));
    // GitHub lists them oldest first already; a stable sort keeps its order within a second.
    return events.sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  }

  /** The account `login` names now; undefined when none does (404). */
  /** The account the token belongs to: the bot, which authors fleetspec's commits and PRs. */
  /** The token's account: asked once per client (a token's owner does not change), then remembered. */
  me(): Promise<Account> {
    this.account ??= (async () => {
      const route = 'GET /user';
      const { data } = await this.call(route, () => this.octokit.request(route));
      return { login: data.login, id: Number(data.id) };
    })();
    // A failed ask is not remembered: the next call asks again.
    this.account.catch(() => (this.account = undefined));
    return this.account;
  }
  private account: Promise<Account> | undefined;

  async user(login: string): Promise<Account | undefined> {
    const route = 'GET /users/{username}';
    try {
      const { data } = await this.call(route, () => this.octokit.request(route, { username: login }));
      // int64 in the description, so octokit's types allow a bigint; account ids fit a double.
      return { login: data.login, id: Number(data.id) };
    } catch (error) {
      if (error instanceof GitHubError && error.status === 404) return undefined;
      throw error;
    }
  }

  /** Everyone with access to the repository (affiliation all), all pages, each with the highest role they hold. */
  async collaborators(): Promise<{ login: string; id: number; permission: CollaboratorPermission }[]> {
    const route = 'GET /repos/{owner}/{repo}/collaborators';
    const data = await this.call(route, () => this.octokit.paginate(route, { ...this.where(), affiliation: 'all', per_page: PER_PAGE }));
    return data.map((c) => ({ login: c.login, id: c.id, permission: highestRole(c.role_name, c.permissions) }));
  }

  /**
   * The repository's comments on issues and PRs updated at or after `since`, oldest first (all
   * pages): how the loop finds `/fleetspec` commands without a webhook.
   */
  async repoComments(since: Date): Promise<RepoComment[]> {
    const route = 'GET /repos/{owner}/{repo}/issues/comments';
    const data = await this.call(route, () => this.octokit.paginate(route, { ...this.where(), since: since.toISOString(), sort: 'created', direction: 'asc', per_page: PER_PAGE }));
    return data.map((c) => ({
      id: Number(c.id),
      issue: Number(/\/issues\/([0-9]+)$/.exec(c.issue_url)?.[1] ?? NaN),
      user: c.user?.login ?? '',
      userId: c.user?.id ?? null,
      userType: c.user?.type ?? null,
      body: c.body ?? '',
      createdAt: c.created_at,
      url: c.html_url,
    }));
  }

  /** Finds the issue comment on PR `number` whose body contains `marker` (an HTML comment like <!-- fleetspec:plan -->), paginating; creates it if missing, PATCHes it only if the body differs. */
  async upsertComment(number: number, marker: string, body: string): Promise<{ id: number; url: string; action: 'created' | 'updated' | 'unchanged' }> {
    // Without the marker in it the comment could never be found again, and each run would add one.
    const wanted = fitBody(body.includes(marker) ? body : `${marker}\n${body}`, marker);
    const list = 'GET /repos/{owner}/{repo}/issues/{issue_number}/comments';
    const existing = await this.call(list, async () => {
      for await (const page of this.octokit.paginate.iterator(list, { ...this.where(), issue_number: number, per_page: PER_PAGE })) {
        const found = page.data.find((comment) => comment.body?.includes(marker));
        if (found) return found;
      }
      return undefined;
    });
    if (!existing) {
      const created = await this.comment(number, wanted, marker);
      return { ...created, action: 'created' };
    }
    // int64 in the description, so octokit's types allow a bigint; GitHub's ids fit a double for decades yet.
    if (sameBody(existing.body ?? '', wanted)) return { id: Number(existing.id), url: existing.html_url, action: 'unchanged' };
    const update = 'PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}';
    const { data } = await this.call(update, () => this.octokit.request(update, { ...this.where(), comment_id: Number(existing.id), body: wanted }));
    return { id: Number(data.id), url: data.html_url, action: 'updated' };
  }

  /**
   * Adds a comment to issue or PR `number`. It carries `marker` (appended when the body lacks it; without
   * one, the body's own fleetspec marker, or one made from the body's digest): a lost answer is followed
   * by a look for the marker before the comment is sent again.
   */
  async comment(number: number, body: string, marker?: string): Promise<{ id: number; url: string }> {
    const route = 'POST /repos/{owner}/{repo}/issues/{issue_number}/comments';
    const { text, mark } = marked(body, marker, 'comment');
    return this.createOnce(route, `the comment ${mark} on #${number}`, () => this.findComment(number, mark), async () => {
      const { data } = await this.call(route, () => this.octokit.request(route, { ...this.where(), issue_number: number, body: text, request: ONCE }));
      return { id: Number(data.id), url: data.html_url };
    });
  }

  /** The comment on issue or PR `number` that carries `marker`, if any (the first, all pages read until found). */
  async findComment(number: number, marker: string): Promise<{ id: number; url: string } | undefined> {
    const list = 'GET /repos/{owner}/{repo}/issues/{issue_number}/comments';
    return this.call(list, async () => {
      for await (const page of this.octokit.paginate.iterator(list, { ...this.where(), issue_number: number, per_page: PER_PAGE })) {
        const found = page.data.find((comment) => comment.body?.includes(marker));
        if (found) return { id: Number(found.id), url: found.html_url };
      }
      return undefined;
    });
  }

  /** Sets a commit status; after a lost answer it is sent again only if the newest status of its context is not already this one. */
  async setStatus(sha: string, s: { state: StatusState; description: string; context?: string; targetUrl?: string }): Promise<void> {
    const route = 'POST /repos/{owner}/{repo}/statuses/{sha}';
    const description = truncate(logLine(s.description), MAX_STATUS_DESCRIPTION_CHARS);
    const context = s.context ?? DEFAULT_STATUS_CONTEXT;
    const find = async () => ((await this.findStatus(sha, { context, state: s.state, description })) ? true : undefined);
    await this.createOnce(route, `the ${context} status of ${sha.slice(0, 7)}`, find, async () => {
      await this.call(route, () =>
        this.octokit.request(route, {
          ...this.where(),
          sha,
          state: s.state,
          description,
          context,
          ...(s.targetUrl === undefined ? {} : { target_url: s.targetUrl }),
          request: ONCE,
        }),
      );
      return true;
    });
  }

  /**
   * Whether the newest status of `s.context` on commit `sha` has this state and description (GitHub lists
   * a commit's statuses newest first; the description compared as setStatus sends it).
   */
  async findStatus(sha: string, s: { context?: string; state: StatusState; description: string }): Promise<boolean> {
    const route = 'GET /repos/{owner}/{repo}/commits/{ref}/statuses';
    const context = s.context ?? DEFAULT_STATUS_CONTEXT;
    const description = truncate(logLine(s.description), MAX_STATUS_DESCRIPTION_CHARS);
    const newest = await this.call(route, async () => {
      for await (const page of this.octokit.paginate.iterator(route, { ...this.where(), ref: sha, per_page: PER_PAGE })) {
        const found = page.data.find((status) => status.context === context);
        if (found) return found;
      }
      return undefined;
    });
    return newest !== undefined && newest.state === s.state && (newest.description ?? '') === description;
  }

  /** A comment on commit `sha`, carrying `marker` as comment() does. */
  async commitComment(sha: string, body: string, marker?: string): Promise<{ id: number; url: string }> {
    const route = 'POST /repos/{owner}/{repo}/commits/{commit_sha}/comments';
    const { text, mark } = marked(body, marker, 'comment');
    return this.createOnce(route, `the comment ${mark} on ${sha.slice(0, 7)}`, () => this.findCommitComment(sha, mark), async () => {
      const { data } = await this.call(route, () => this.octokit.request(route, { ...this.where(), commit_sha: sha, body: text, request: ONCE }));
      return { id: data.id, url: data.html_url };
    });
  }

  /** The comment on commit `sha` that carries `marker`, if any. */
  async findCommitComment(sha: string, marker: string): Promise<{ id: number; url: string } | undefined> {
    const route = 'GET /repos/{owner}/{repo}/commits/{commit_sha}/comments';
    return this.call(route, async () => {
      for await (const page of this.octokit.paginate.iterator(route, { ...this.where(), commit_sha: sha, per_page: PER_PAGE })) {
        const found = page.data.find((comment) => comment.body?.includes(marker));
        if (found) return { id: found.id, url: found.html_url };
      }
      return undefined;
    });
  }

  /** Every issue of the repository (open and closed unless asked otherwise), oldest first, paginated; PRs left out. */
  async listIssues(opts: { state?: 'open' | 'closed' | 'all'; labels?: string[] } = {}): Promise<Issue[]> {
    const route = 'GET /repos/{owner}/{repo}/issues';
    const data = await this.call(route, () =>
      this.octokit.paginate(route, {
        ...this.where(),
        state: opts.state ?? 'all',
        sort: 'created',
        direction: 'asc',
        per_page: PER_PAGE,
        ...(opts.labels?.length ? { labels: opts.labels.join(',') } : {}),
      }),
    );
    return (data as IssueData[]).filter((i) => !i.pull_request).map(toIssue);
  }

  async getIssue(number: number): Promise<Issue> {
    const route = 'GET /repos/{owner}/{repo}/issues/{issue_number}';
    const { data } = await this.call(route, () => this.octokit.request(route, { ...this.where(), issue_number: number }));
    return toIssue(data as IssueData);
  }

  /**
   * Opens an issue. Its body carries a fleetspec marker (a ticket's <!-- fleetspec:ticket … -->, or one made
   * from the body's digest): a lost answer is followed by a look for an issue with it before sending again.
   */
  async createIssue(i: { title: string; body: string; labels: string[] }): Promise<Issue> {
    const route = 'POST /repos/{owner}/{repo}/issues';
    const { text, mark } = marked(i.body, undefined, 'issue');
    const find = async () => (await this.listIssues({ state: 'all' })).find((issue) => issue.body.includes(mark));
    return this.createOnce(route, `the issue ${mark}`, find, async () => {
      const { data } = await this.call(route, () => this.octokit.request(route, { ...this.where(), title: i.title, body: text, labels: i.labels, request: ONCE }));
      return toIssue(data as IssueData);
    });
  }

  async updateIssue(number: number, change: IssueChange): Promise<Issue> {
    const route = 'PATCH /repos/{owner}/{repo}/issues/{issue_number}';
    const { data } = await this.call(route, () =>
      this.octokit.request(route, {
        ...this.where(),
        issue_number: number,
        ...(change.title === undefined ? {} : { title: change.title }),
        ...(change.body === undefined ? {} : { body: fitBody(change.body) }),
        ...(change.labels === undefined ? {} : { labels: change.labels }),
        ...(change.state === undefined ? {} : { state: change.state }),
        ...(change.stateReason === undefined ? {} : { state_reason: change.stateReason }),
      }),
    );
    return toIssue(data as IssueData);
  }

  /**
   * Creates the labels the repository lacks (GitHub would otherwise make them grey on first use),
   * matching names case-insensitively as GitHub does. Returns the names it created.
   */
  async ensureLabels(labels: readonly LabelSpec[]): Promise<string[]> {
    if (labels.length === 0) return [];
    const list = 'GET /repos/{owner}/{repo}/labels';
    const existing = new Set((await this.call(list, () => this.octokit.paginate(list, { ...this.where(), per_page: PER_PAGE }))).map((l) => l.name.toLowerCase()));
    const created: string[] = [];
    const create = 'POST /repos/{owner}/{repo}/labels';
    for (const label of labels) {
      if (existing.has(label.name.toLowerCase())) continue;
      try {
        await this.call(create, () => this.octokit.request(create, { ...this.where(), name: label.name, color: label.color, ...(label.description ? { description: truncate(label.description, 100) } : {}) }));
        created.push(label.name);
      } catch (error) {
        // Made by someone else since the list: what was wanted exists.
        if (!(error instanceof GitHubError && error.status === 422 && /already_exists|already exists/i.test(error.message))) throw error;
      }
      existing.add(label.name.toLowerCase());
    }
    return created;
  }

  /**
   * A write that creates something, sent once per attempt (plugin-retry off for it). When the answer is
   * lost (a 5xx, no answer, a timeout: GitHub may have done it), it waits as plugin-retry would, then
   * looks for what the attempt would have made; found, that is the answer, else the write goes again,
   * up to `retries` times. Any other failure (4xx, rate limit waits exhausted) is thrown as it is.
   */
  private async createOnce<T>(route: string, what: string, find: () => Promise<T | undefined>, send: (attempt: number) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await send(attempt);
      } catch (error) {
        if (!(error instanceof GitHubError) || !answerLost(error) || attempt >= this.retries) throw error;
        const waitS = (attempt + 1) ** 2;
        this.say(`${error.status !== undefined && responseOf(error.cause) ? `GitHub ${error.status}` : 'No answer from GitHub'} on ${route}: looking for ${what} in ${formatWait(waitS, this.retryAfterBaseMs)} before sending it again (${attempt + 1} of ${this.retries})`);
        await new Promise((resolve) => setTimeout(resolve, waitS * this.retryAfterBaseMs));
        const found = await find();
        if (found !== undefined) {
          this.say(`GitHub had made ${what} before the answer was lost; not sent again`);
          return found;
        }
      }
    }
  }

  private where(): { owner: string; repo: string } {
    return { owner: this.owner, repo: this.repo };
  }

  /** plugin-throttling asks before each rate-limit wait; true means wait `retryAfter` seconds and try again. */
  private shouldWait(kind: 'primary' | 'secondary', retryAfter: number, options: { method: string; url: string }, retryCount: number, baseMs: number): boolean {
    const what = `${kind}, ${options.method} ${options.url}`;
    if (this.signal?.aborted) return false;
    if (retryAfter > this.maxRateLimitWaitS) {
      this.say(`GitHub rate limit: not waiting ${retryAfter}s (${what}): longer than maxRateLimitWaitS ${this.maxRateLimitWaitS}s`);
      return false;
    }
    if (retryCount >= this.rateLimitRetries) {
      this.say(`GitHub rate limit: giving up (${what}): still limited after ${retryCount} waits`);
      return false;
    }
    this.say(`GitHub rate limit: waiting ${retryAfter}s (${what}, wait ${retryCount + 1} of ${this.rateLimitRetries}${baseMs === 1000 ? '' : `, ${formatWait(retryAfter, baseMs)} at this pace`})`);
    return true;
  }

  /** Runs one GitHub call, turning whatever octokit throws into a GitHubError that says what to do. */
  private async call<T>(route: string, run: () => Promise<T>): Promise<T> {
    const cancel = this.signal;
    try {
      // A cancel ends the call at once, also while plugin-retry waits its back-off before the next
      // attempt (which then is not made: the attempts hook sees the cancel first).
      return await (cancel ? untilCancelled(run(), cancel) : run());
    } catch (error) {
      throw this.explain(route, error);
    }
  }

  private explain(route: string, error: unknown): GitHubError {
    if (error instanceof GitHubError) return error;
    const status = statusOf(error);
    const message = error instanceof Error ? error.message : String(error);
    const on = `GitHub ${route} for ${this.fullName}`;
    const response = responseOf(error);
    const rateLimit = response && rateLimitWait(status, message, response.headers);
    if (rateLimit) {
      const tooLong = rateLimit.waitS > this.maxRateLimitWaitS;
      return new GitHubError(
        tooLong
          ? `${on}: ${rateLimit.kind} rate limit, reset in ${rateLimit.waitS}s, longer than maxRateLimitWaitS ${this.maxRateLimitWaitS}s`
          : `${on}: ${rateLimit.kind} rate limit still hit after ${this.rateLimitRetries} waits`,
        {
          status,
          route,
          cause: error,
          hint: `wait until ${new Date(Date.now() + rateLimit.waitS * 1000).toISOString()} and run again, raise maxRateLimitWaitS, or use a token with a higher limit (a GitHub App installation token)`,
        },
      );
    }
    const said = `${on} failed${status === undefined ? '' : ` with ${status}`}: ${this.redact(message)}`;
    switch (true) {
      case status === 401:
        return new GitHubError(said, { status, route, cause: error, hint: 'check the token: it is missing, mistyped, expired or revoked' });
      case status === 403:
        return new GitHubError(said, {
          status,
          route,
          cause: error,
          hint: route === 'GET /repos/{owner}/{repo}/collaborators'
            ? // GitHub: "The authenticated user must have write, maintain, or admin privileges on the repository".
              `listing ${this.fullName}'s collaborators needs a token whose account has write access or more there (and belongs to the organization owning it); classic tokens need the repo and read:org scopes`
            : `check the token's permissions on ${this.fullName}: fine-grained tokens need Pull requests, Issues and Commit statuses read/write and Contents read; classic tokens need the repo scope`,
        });
      case status === 404:
        return new GitHubError(said, {
          status,
          route,
          cause: error,
          hint: `check owner/repo (${this.fullName}), the PR or commit asked for, and that the token can see the repository (GitHub answers 404, not 403, when it cannot)`,
        });
      case status === 422:
        return new GitHubError(said, {
          status,
          route,
          cause: error,
          hint: route.startsWith('POST /repos/{owner}/{repo}/pulls')
            ? 'a PR for this branch may already be open, the branch may not be pushed, or it has no commits ahead of the base'
            : 'GitHub refused the request as invalid; the message above says which field',
        });
      case status !== undefined && status >= 500 && response !== undefined:
        return new GitHubError(said, { status, route, cause: error, hint: 'GitHub kept failing after the retries; see https://www.githubstatus.com and run again later' });
      case response === undefined:
        return new GitHubError(`${on}: no answer (${this.redact(message)})`, {
          status,
          route,
          cause: error,
          hint: 'check the network and baseUrl (https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise Server)',
        });
      default:
        return new GitHubError(said, { status, route, cause: error, hint: 'see the message above; GitHub did not accept this request' });
    }
  }

}

/** `work`, or the cancel's reason as soon as `cancel` fires (`work` is left to end on its own, unheard). */
function untilCancelled<T>(work: Promise<T>, cancel: AbortSignal): Promise<T> {
  const reason = () => (cancel.reason instanceof Error ? cancel.reason : new Error('cancelled'));
  if (cancel.aborted) {
    work.catch(() => {});
    return Promise.reject(reason());
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      work.catch(() => {});
      reject(reason());
    };
    cancel.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => cancel.removeEventListener('abort', onAbort));
  });
}

/** Cuts a body to GitHub's limit, saying so, and keeps every HTML comment marker the cut would drop. */
export function fitBody(body: string, marker?: string): string {
  if (body.length <= MAX_BODY_CHARS) return body;
  const markers = new Set<string>(marker ? [marker] : []);
  const note = (dropped: number) => `\n\n… truncated: ${dropped} of ${body.length} characters did not fit GitHub's ${MAX_BODY_CHARS}-character limit.\n`;
  const tail = (kept: string) => {
    const lost = [...markers, ...(body.slice(kept.length).match(HTML_COMMENT) ?? [])].filter((m, i, all) => !kept.includes(m) && all.indexOf(m) === i);
    return lost.length === 0 ? '' : `${lost.join('\n')}\n`;
  };
  // The note and markers take room too; shrink until everything fits (twice at most in practice).
  let room = MAX_BODY_CHARS - note(body.length).length;
  for (;;) {
    const kept = cutAt(body, room);
    const fitted = `${kept}${note(body.length - kept.length)}${tail(kept)}`;
    if (fitted.length <= MAX_BODY_CHARS) return fitted;
    room -= fitted.length - MAX_BODY_CHARS;
  }
}

/** Cuts to `max` characters, ending in … when something was cut. */
export function truncate(text: string, max: number): string {
  const chars = Array.from(text);
  if (chars.length <= max) return text;
  return `${chars.slice(0, max - 1).join('')}…`;
}

function cutAt(text: string, length: number): string {
  const cut = text.slice(0, Math.max(0, length));
  // Never leave half a surrogate pair, which GitHub would store as a replacement character.
  return /[\uD800-\uDBFF]$/.test(cut) ? cut.slice(0, -1) : cut;
}

/** GitHub may hand back CRLF line ends and trimmed trailing space; neither is a change worth a PATCH. */
function sameBody(a: string, b: string): boolean {
  const normal = (text: string) => text.replace(/\r\n/g, '\n').trimEnd();
  return normal(a) === normal(b);
}

interface IssueData {
  number: number;
  title: string;
  body?: string | null;
  state: string;
  state_reason?: string | null;
  labels: (string | { name?: string })[];
  user: { login: string } | null;
  html_url: string;
  pull_request?: unknown;
}

function toIssue(data: IssueData): Issue {
  return {
    number: data.number,
    title: data.title,
    body: data.body ?? '',
    state: data.state === 'closed' ? 'closed' : 'open',
    stateReason: data.state_reason ?? null,
    labels: data.labels.map((l) => (typeof l === 'string' ? l : (l.name ?? ''))).filter((name) => name !== ''),
    author: data.user?.login ?? '',
    url: data.html_url,
  };
}

interface IssueEventData {
  event: string;
  actor: { login: string; id: number } | null;
  created_at: string;
  label?: { name?: string };
}

/** A user object as an Account; null for none, and for the empty object GitHub gives a commit email it maps to no account. */
function toAccount(user: { login?: string; id?: number | bigint } | null | undefined): Account | null {
  return user && typeof user.login === 'string' && user.id !== undefined ? { login: user.login, id: Number(user.id) } : null;
}

/**
 * The highest of the five roles a collaborator holds: role_name when it is one of them (a custom role
 * has its own name), and whatever the permissions flags grant (push is write, pull is read).
 */
function highestRole(roleName: string | undefined, permissions: { pull?: boolean; triage?: boolean; push?: boolean; maintain?: boolean; admin?: boolean } | undefined): CollaboratorPermission {
  const held = new Set<CollaboratorPermission>(['read']);
  if ((ROLES as readonly string[]).includes(roleName ?? '')) held.add(roleName as CollaboratorPermission);
  if (permissions?.triage) held.add('triage');
  if (permissions?.push) held.add('write');
  if (permissions?.maintain) held.add('maintain');
  if (permissions?.admin) held.add('admin');
  return ROLES.filter((role) => held.has(role)).at(-1)!;
}

function toPullRequest(data: PullData): PullRequest {
  return {
    number: data.number,
    state: data.state === 'closed' ? 'closed' : 'open',
    // The list routes (pull-request-simple) carry merged_at but no merged flag.
    merged: data.merged ?? data.merged_at !== null,
    mergeCommitSha: data.merge_commit_sha ?? null,
    headRef: data.head.ref,
    headSha: data.head.sha,
    baseRef: data.base.ref,
    author: data.user?.login ?? '',
    authorId: data.user?.id ?? null,
    mergedAt: data.merged_at ?? null,
    commits: typeof data.commits === 'number' ? data.commits : null,
    headRepo: data.head.repo?.full_name ?? null,
    title: data.title,
    body: data.body ?? '',
    url: data.html_url,
    labels: data.labels.map((label) => label.name ?? '').filter((name) => name !== ''),
  };
}

/** Request options for a write that must not be retried blindly (see createOnce). */
const ONCE = { retries: 0 };

/** A fleetspec marker: an HTML comment starting "fleetspec:", on one line. */
const FLEETSPEC_MARKER = /<!-- fleetspec:[^\n]*? -->/g;

/**
 * The body as sent, with the marker it is found by: `marker` (appended when missing), else the body's
 * last fleetspec marker, else one made from the body's digest (appended). Cut to GitHub's limit keeping it.
 */
export function marked(body: string, marker: string | undefined, kind: string): { text: string; mark: string } {
  const mark = marker ?? body.match(FLEETSPEC_MARKER)?.at(-1) ?? `<!-- fleetspec:${kind} ${createHash('sha256').update(body).digest('hex').slice(0, 12)} -->`;
  const text = body.includes(mark) ? body : `${body.trimEnd()}\n\n${mark}`;
  return { text: fitBody(text, mark), mark };
}

/** A failure after which GitHub may have done the write: a 5xx, or no answer at all (refused, reset, timed out). */
export function answerLost(error: GitHubError): boolean {
  if (responseOf(error.cause) === undefined) return true;
  return error.status !== undefined && error.status >= 500;
}

function statusOf(error: unknown): number | undefined {
  const status = (error as { status?: unknown } | null)?.status;
  return typeof status === 'number' ? status : undefined;
}

function responseOf(error: unknown): { headers: Record<string, string | number | undefined> } | undefined {
  const response = (error as { response?: { headers?: Record<string, string | number | undefined> } } | null)?.response;
  return response?.headers ? { headers: response.headers } : undefined;
}

/** The same reading of a rate-limit answer plugin-throttling makes, for the error message. */
function rateLimitWait(status: number | undefined, message: string, headers: Record<string, string | number | undefined>): { kind: 'primary' | 'secondary'; waitS: number } | undefined {
  if (status !== 403 && status !== 429) return undefined;
  if (/\bsecondary rate\b/i.test(message)) return { kind: 'secondary', waitS: Number(headers['retry-after']) || 60 };
  if (String(headers['x-ratelimit-remaining']) === '0') {
    const resetMs = Number(headers['x-ratelimit-reset']) * 1000;
    return { kind: 'primary', waitS: Math.max(Math.ceil((resetMs - Date.now()) / 1000) + 1, 0) };
  }
  return undefined;
}

function formatWait(seconds: number, baseMs: number): string {
  const ms = seconds * baseMs;
  return baseMs === 1000 ? `${seconds}s` : `${ms}ms`;
}
