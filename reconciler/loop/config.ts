// Where the loop's settings come from: command-line options, then the environment (the systemd
// unit's EnvironmentFile), then the secret store for tokens. Every missing setting is one clear
// error that says which variable or flag to set.
import { join } from 'node:path';
import type { NarrativeConfig } from '../narrative/narrate.js';
import { DEFAULT_LLM_CONCURRENCY, MAX_LLM_CONCURRENCY } from '../narrative/budget.js';
import { FINDING_SOURCES, type FindingSource } from './findings.js';
import type { Queryable } from '../state/db.js';
import { StateError } from '../state/errors.js';
import { getScopedSecret, getSecret, parseKey } from '../state/secrets.js';
import { CHANNEL_NAMES, type ChannelName } from '../notify/types.js';
import type { ChannelTarget } from '../notify/index.js';
import { parseDuration } from './watchdog.js';

export interface LoopOptions {
  githubRepo?: string;
  gitUrl?: string;
  githubApi?: string;
  branch?: string;
  repoDir?: string;
  specsPath?: string;
  findingTickets?: string;
  /** Durations ("240", "4m", "90s"): the tick's and the apply's budgets. */
  tickBudget?: string;
  applyBudget?: string;
}

/** Deadlines of the loop (ms); absent: the defaults (loop/watchdog.ts; for git, git/repo.ts). */
export interface Deadlines {
  /** A tick (--tick-budget, FLEETSPEC_TICK_BUDGET); the daemon's default comes from its schedule. */
  tickMs?: number;
  /** An apply and its report (--apply-budget, FLEETSPEC_APPLY_BUDGET). */
  applyMs?: number;
  /** All narratives of one tick (FLEETSPEC_LLM_BUDGET). */
  llmMs?: number;
  /** One git clone, fetch or push (FLEETSPEC_GIT_TIMEOUT). */
  gitMs?: number;
  /** How often a running tick says what it waits for (FLEETSPEC_STILL_RUNNING_EVERY; default a minute). */
  stillRunningMs?: number;
}

export interface LoopConfig {
  owner: string;
  repo: string;
  /** owner/repo: the ledger's and the leader lock's key. */
  fullName: string;
  gitUrl: string;
  githubApi: string;
  token: string;
  /** The default branch; absent: asked of GitHub. */
  branch?: string;
  repoDir: string;
  /** The specs folder inside the repository. */
  specsPath: string;
  author: { name: string; email: string };
  /** Absent: PRs go out without a narrative, and say why. */
  llm?: NarrativeConfig;
  llmProblem?: string;
  /** Which findings open tickets. */
  findings: Set<FindingSource>;
  deadlines: Deadlines;
  /** Keep the dashboard issue (FLEETSPEC_DASHBOARD; default on). */
  dashboard: boolean;
  /** Where notifications go (FLEETSPEC_NOTIFY); their URLs are secrets, never printed. */
  notify: ChannelTarget[];
  /** The repository's web page, for links: https://github.com/owner/name. */
  webUrl: string;
}

/** A setting the loop cannot run without: exit code 1, with what to set. */
export class ConfigError extends StateError {
  constructor(message: string, hint: string) {
    super(message, hint, 1);
  }
}

const REPO = /^([A-Za-z0-9_.-]+)\/([A-Za-z0-9_.-]+)$/;

async function fromStore(db: Queryable, path: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  if (!env.FLEETSPEC_SECRET_KEY) return undefined;
  const value = await getSecret(db, parseKey(env.FLEETSPEC_SECRET_KEY), path, 'fleetspec-loop');
  return value?.toString('utf8').trim() || undefined;
}

export interface GitHubConfig {
  owner: string;
  repo: string;
  fullName: string;
  githubApi: string;
  token: string;
}

/** The GitHub repository, API and token, from options, the environment and the secret store. */
export async function githubConfig(db: Queryable, opts: Pick<LoopOptions, 'githubRepo' | 'githubApi'>, env: NodeJS.ProcessEnv = process.env): Promise<GitHubConfig> {
  const fullName = opts.githubRepo || env.FLEETSPEC_GITHUB_REPO;
  if (!fullName) throw new ConfigError('no GitHub repository to reconcile', 'pass --github-repo OWNER/NAME or set FLEETSPEC_GITHUB_REPO');
  const m = REPO.exec(fullName);
  if (!m) throw new ConfigError(`"${fullName}" is not a GitHub repository name`, 'write it as OWNER/NAME, e.g. alice/fleet');
  // An empty variable (a blank line in the EnvironmentFile) counts as unset.
  const token = env.FLEETSPEC_GITHUB_TOKEN || env.GITHUB_TOKEN || (await fromStore(db, 'meta/github/token', env));
  if (!token) {
    throw new ConfigError(
      'no GitHub token',
      'set FLEETSPEC_GITHUB_TOKEN (a fine-grained token with contents, pull requests, issues, commit statuses: read and write), or store it with: fleetspec secrets set meta/github/token',
    );
  }
  const githubApi = (opts.githubApi ?? env.FLEETSPEC_GITHUB_API ?? 'https://api.github.com').replace(/\/+$/, '');
  return { owner: m[1]!, repo: m[2]!, fullName, githubApi, token };
}

export async function loopConfig(db: Queryable, opts: LoopOptions, env: NodeJS.ProcessEnv = process.env): Promise<LoopConfig> {
  const github = await githubConfig(db, opts, env);
  const llm = await llmConfig(db, env);
  return {
    ...github,
    gitUrl: opts.gitUrl ?? env.FLEETSPEC_GIT_URL ?? `https://github.com/${github.fullName}.git`,
    ...((opts.branch ?? env.FLEETSPEC_BRANCH) ? { branch: opts.branch ?? env.FLEETSPEC_BRANCH } : {}),
    repoDir: opts.repoDir ?? env.FLEETSPEC_REPO_DIR ?? join('.fleetspec', 'repo'),
    specsPath: opts.specsPath ?? env.FLEETSPEC_SPECS_PATH ?? 'specs',
    author: {
      name: env.FLEETSPEC_GIT_AUTHOR_NAME ?? 'fleetspec[bot]',
      email: env.FLEETSPEC_GIT_AUTHOR_EMAIL ?? 'fleetspec@users.noreply.github.com',
    },
    findings: findingSources(opts.findingTickets ?? env.FLEETSPEC_FINDING_TICKETS),
    deadlines: deadlines(opts, env),
    dashboard: dashboardSetting(env),
    notify: await notifyTargets(db, env),
    webUrl: webUrl(github.githubApi, github.fullName),
    ...llm,
  };
}

/** The loop's deadlines from options and the environment; a value that is no duration is a ConfigError naming its setting. */
export function deadlines(opts: Pick<LoopOptions, 'tickBudget' | 'applyBudget'>, env: NodeJS.ProcessEnv = process.env): Deadlines {
  const read = (value: string | undefined, setting: string): number | undefined => {
    if (value === undefined || value.trim() === '') return undefined;
    const ms = parseDuration(value);
    if (ms === undefined) throw new ConfigError(`${setting}="${value}" is not a duration`, 'write seconds (240) or a number with a unit: 90s, 4m, 1h');
    return ms;
  };
  const tickMs = read(opts.tickBudget, '--tick-budget') ?? read(env.FLEETSPEC_TICK_BUDGET, 'FLEETSPEC_TICK_BUDGET');
  const applyMs = read(opts.applyBudget, '--apply-budget') ?? read(env.FLEETSPEC_APPLY_BUDGET, 'FLEETSPEC_APPLY_BUDGET');
  const llmMs = read(env.FLEETSPEC_LLM_BUDGET, 'FLEETSPEC_LLM_BUDGET');
  const gitMs = read(env.FLEETSPEC_GIT_TIMEOUT, 'FLEETSPEC_GIT_TIMEOUT');
  const stillRunningMs = read(env.FLEETSPEC_STILL_RUNNING_EVERY, 'FLEETSPEC_STILL_RUNNING_EVERY');
  return { ...(tickMs ? { tickMs } : {}), ...(applyMs ? { applyMs } : {}), ...(llmMs ? { llmMs } : {}), ...(gitMs ? { gitMs } : {}), ...(stillRunningMs ? { stillRunningMs } : {}) };
}

/** FLEETSPEC_DASHBOARD: on (or unset) keeps the dashboard issue, off never touches it. */
export function dashboardSetting(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = (env.FLEETSPEC_DASHBOARD ?? '').trim().toLowerCase();
  if (['', 'on', 'true', 'yes', '1'].includes(value)) return true;
  if (['off', 'false', 'no', '0'].includes(value)) return false;
  throw new ConfigError(`FLEETSPEC_DASHBOARD=${JSON.stringify(env.FLEETSPEC_DASHBOARD)} is neither on nor off`, 'set it to off to stop keeping the dashboard issue, or on (the default)');
}

/** The repository's page on GitHub (or GitHub Enterprise Server, whose API is https://HOST/api/v3). */
export function webUrl(githubApi: string, fullName: string): string {
  const api = githubApi.replace(/\/+$/, '');
  const host = api === 'https://api.github.com' ? 'https://github.com' : api.replace(/\/api\/v3$/, '');
  return `${host}/${fullName}`;
}

/**
 * FLEETSPEC_NOTIFY: a comma list of CHANNEL=secret:PATH (slack, ntfy, webhook), e.g.
 * `slack=secret:meta/notify/slack,ntfy=secret:meta/notify/ntfy`. Each URL is read from the store, where
 * it must be fleetspec's own (`fleetspec secrets set PATH --own`); a problem names the setting and the
 * path, never the URL.
 */
export async function notifyTargets(db: Queryable, env: NodeJS.ProcessEnv = process.env): Promise<ChannelTarget[]> {
  const text = (env.FLEETSPEC_NOTIFY ?? '').trim();
  if (text === '' || text.toLowerCase() === 'none') return [];
  const hint = `write FLEETSPEC_NOTIFY as a comma list of CHANNEL=secret:PATH, CHANNEL one of ${CHANNEL_NAMES.join(', ')}, and store each URL with: fleetspec secrets set PATH --own`;
  const targets: ChannelTarget[] = [];
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^([a-z]+)=secret:(\S+)$/.exec(part);
    // The part is not shown: a URL written here by mistake is a secret too.
    if (!m) throw new ConfigError(`FLEETSPEC_NOTIFY has an entry that is not CHANNEL=secret:PATH (entry ${targets.length + 1})`, hint);
    const [, name, path] = m as unknown as [string, string, string];
    if (!(CHANNEL_NAMES as readonly string[]).includes(name)) throw new ConfigError(`FLEETSPEC_NOTIFY names the channel "${name}", which fleetspec does not know`, hint);
    if (!env.FLEETSPEC_SECRET_KEY) throw new ConfigError(`FLEETSPEC_NOTIFY needs the secret store for ${name}'s URL, and FLEETSPEC_SECRET_KEY is not set`, 'set FLEETSPEC_SECRET_KEY as for `fleetspec secrets`');
    const found = await getScopedSecret(db, parseKey(env.FLEETSPEC_SECRET_KEY), path, 'fleetspec-loop');
    if (!found) throw new ConfigError(`FLEETSPEC_NOTIFY: no secret at ${path} for ${name}`, `store the URL with: fleetspec secrets set ${path} --own`);
    if (found.scope.length) throw new ConfigError(`FLEETSPEC_NOTIFY: ${path} may be handed to specs (${found.scope.join(', ')}); a notification URL must be fleetspec's own`, `store it again with: fleetspec secrets set ${path} --own`);
    const url = found.value.toString('utf8').trim();
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    if (!parsed || !['http:', 'https:'].includes(parsed.protocol)) throw new ConfigError(`FLEETSPEC_NOTIFY: the secret ${path} for ${name} is not an http(s) URL`, `store the channel's URL there with: fleetspec secrets set ${path} --own`);
    targets.push({ name: name as ChannelName, url, label: `${name} (secret:${path})` });
  }
  return targets;
}

/** "all" (or unset), "none", or a comma list of finding sources. */
export function findingSources(text: string | undefined): Set<FindingSource> {
  const value = (text ?? '').trim().toLowerCase();
  if (value === '' || value === 'all') return new Set(FINDING_SOURCES);
  if (value === 'none') return new Set();
  const out = new Set<FindingSource>();
  for (const part of value.split(',').map((p) => p.trim()).filter(Boolean)) {
    if (!(FINDING_SOURCES as readonly string[]).includes(part)) {
      throw new ConfigError(`"${part}" is not a finding that opens tickets`, `use all, none, or a comma list of ${FINDING_SOURCES.join(', ')} (--finding-tickets or FLEETSPEC_FINDING_TICKETS)`);
    }
    out.add(part as FindingSource);
  }
  return out;
}

async function llmConfig(db: Queryable, env: NodeJS.ProcessEnv): Promise<{ llm?: NarrativeConfig; llmProblem?: string }> {
  // Checked even without a model: a typo in the env file is reported when it is made, not when a model is configured later.
  const concurrency = llmConcurrency(env);
  const model = env.FLEETSPEC_LLM_MODEL || undefined;
  if (!model) return { llmProblem: 'no LLM configured (set FLEETSPEC_LLM_MODEL and FLEETSPEC_LLM_BASE_URL)' };
  const baseUrl = env.FLEETSPEC_LLM_BASE_URL || 'https://openrouter.ai/api/v1';
  const apiKey = env.FLEETSPEC_LLM_API_KEY || (await fromStore(db, 'meta/llm/api_key', env));
  const timeout = Number(env.FLEETSPEC_LLM_TIMEOUT ?? 30);
  if (!Number.isFinite(timeout) || timeout <= 0) throw new ConfigError(`FLEETSPEC_LLM_TIMEOUT="${env.FLEETSPEC_LLM_TIMEOUT}" is not a number of seconds`, 'set it to e.g. 30');
  return { llm: { baseUrl, model, timeoutMs: timeout * 1000, ...(apiKey ? { apiKey } : {}), ...(concurrency ? { concurrency } : {}) } };
}

/**
 * FLEETSPEC_LLM_CONCURRENCY: how many narratives of one tick may wait on the LLM at once, a whole
 * number from 1 to MAX_LLM_CONCURRENCY; undefined when unset or blank (the default, narrative/budget.ts).
 */
export function llmConcurrency(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const value = env.FLEETSPEC_LLM_CONCURRENCY;
  if (value === undefined || value.trim() === '') return undefined;
  const n = /^\s*\d+\s*$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > MAX_LLM_CONCURRENCY) {
    throw new ConfigError(
      // JSON-quoted: the value is shown as data, a line break in it cannot start a line of the log of its own.
      `FLEETSPEC_LLM_CONCURRENCY=${JSON.stringify(value)} is not a whole number from 1 to ${MAX_LLM_CONCURRENCY}`,
      `set it to how many narratives of one tick may wait on the LLM at once, e.g. ${DEFAULT_LLM_CONCURRENCY} (the default), or 1 for one after another`,
    );
  }
  return n;
}
