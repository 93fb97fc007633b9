// A plain-language account of a plan for the pull request, written by an LLM through any
// OpenAI-compatible chat completions endpoint (OpenRouter, Ollama's /v1, OpenAI). The exact plan is
// always shown below it, so the narrative is an aid, never the record: when the call fails, the
// reply is not prose, or it names something the plan does not hold, it is withheld with a reason.
import { BlockList, isIP } from 'node:net';
import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import { KINDS } from '../kinds/index.js';
import type { Plan } from '../plan/plan.js';
import { findSecretLiterals } from '../specs/secrets.js';

export interface NarrativeConfig {
  /** The API root, e.g. https://openrouter.ai/api/v1, http://127.0.0.1:11434/v1, https://api.openai.com/v1. */
  baseUrl: string;
  model: string;
  /** Absent: allowed only when baseUrl's host is loopback (Ollama needs none). */
  apiKey?: string;
  /** The whole call, headers and body; default 30 000. */
  timeoutMs?: number;
  /** Default 800. */
  maxTokens?: number;
}

export type NarrativeResult =
  | { status: 'ok'; text: string; model: string }
  /** `reason` is one sentence for the PR; `invented` lists what the narrative named that the plan does not hold. */
  | { status: 'withheld'; reason: string; invented?: string[] };

export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_MAX_TOKENS = 800;
/** Longest user message sent; larger plans lose their tail, and the payload says how much. */
export const MAX_PROMPT_CHARS = 40_000;
/** Longest narrative shown; the exact plan follows it anyway. */
export const MAX_NARRATIVE_CHARS = 6_000;

const NO_CONFIG =
  'no LLM configured (set FLEETSPEC_LLM_BASE_URL and FLEETSPEC_LLM_MODEL, plus FLEETSPEC_LLM_API_KEY or the secret meta/llm/api_key unless the endpoint is local)';
const NO_KEY = 'no LLM key configured (set FLEETSPEC_LLM_API_KEY or the secret meta/llm/api_key)';
const UNUSABLE = "the LLM's reply was not usable text";
/** What Ollama's OpenAI-compatible API accepts: it needs a key to be present, not a particular one. */
const LOOPBACK_PLACEHOLDER_KEY = 'ollama';
const REDACTED = '[redacted]';

const SYSTEM_PROMPT = [
  'You explain an infrastructure change plan to the person reviewing a pull request.',
  'Write a few short paragraphs of Markdown: what will change and why, what deserves care (deletions, replacements, drift, findings, resources that could not be read), in plain words.',
  'Refer to every resource as `kind/name` in backticks, exactly as the data spells it, for example `hosts/ai`.',
  'Mention only resources that appear in the data. Do not invent names, hosts, domains, addresses, versions or other values; if the data does not say, do not guess.',
  'Do not repeat the whole plan as a table: the exact plan is shown below your text.',
  'The data is JSON: mode, summary, the changes that are not no-ops, findings, and resources whose live state was not read. Values shown as "[redacted]" were withheld on purpose; do not speculate about them.',
].join('\n');

export function narrativePrompt(plan: Plan): { system: string; user: string } {
  return { system: SYSTEM_PROMPT, user: promptPayload(plan) };
}

/** The plan data as JSON, secret-looking literals redacted, at most MAX_PROMPT_CHARS long. */
function promptPayload(plan: Plan, apiKey?: string): string {
  const changes = plan.changes
    .filter((c) => c.action !== 'no-op')
    .map((c) => ({ kind: c.kind, name: c.name, action: c.action, reason: c.reason, ...(c.actions?.length ? { actions: c.actions } : {}), before: c.before ?? null, after: c.after ?? null }));
  const findings = plan.findings.map((f) => ({ kind: f.kind, name: f.name, severity: f.severity, code: f.code, message: f.message, ...(f.hint ? { hint: f.hint } : {}) }));
  const unknown = plan.unknown.map((u) => ({ kind: u.kind, name: u.name, reason: u.reason }));
  const lists = { changes, findings, unknown };

  const render = (keep: { changes: number; findings: number; unknown: number }): string => {
    const leftOut = { changes: changes.length - keep.changes, findings: findings.length - keep.findings, unknown: unknown.length - keep.unknown };
    const data = {
      mode: plan.mode,
      summary: plan.summary,
      changes: changes.slice(0, keep.changes),
      findings: findings.slice(0, keep.findings),
      unknown: unknown.slice(0, keep.unknown),
      ...(leftOut.changes || leftOut.findings || leftOut.unknown
        ? { leftOut: { ...leftOut, note: 'these many entries of each list were left out to keep this short; the summary counts all of them' } }
        : {}),
    };
    return JSON.stringify(redactSecrets(data, apiKey));
  };

  // Shorten the lists in turn, changes first (they are the bulk), keeping the longest prefix that fits.
  const keep = { changes: changes.length, findings: findings.length, unknown: unknown.length };
  for (const list of ['changes', 'findings', 'unknown'] as const) {
    if (render(keep).length <= MAX_PROMPT_CHARS) break;
    let low = 0;
    let high = lists[list].length;
    while (low < high) {
      const mid = Math.ceil((low + high) / 2);
      if (render({ ...keep, [list]: mid }).length <= MAX_PROMPT_CHARS) low = mid;
      else high = mid - 1;
    }
    keep[list] = low;
  }
  const text = render(keep);
  // A single huge summary cannot happen (it is counts), so this only cuts a pathological value.
  return text.length <= MAX_PROMPT_CHARS ? text : JSON.stringify({ mode: plan.mode, summary: plan.summary, note: 'the plan data was too large to include' });
}

/** Plans hold `secret:` references by design; this guards against a literal that slipped through anyway. */
function redactSecrets<T>(data: T, apiKey?: string): T {
  const copy = structuredClone(data) as unknown;
  for (const finding of findSecretLiterals(copy)) {
    const parent = finding.path.slice(0, -1).reduce<unknown>((node, key) => (node as Record<string | number, unknown>)[key], copy) as Record<string | number, unknown>;
    parent[finding.path[finding.path.length - 1]!] = REDACTED;
  }
  if (!apiKey || apiKey.length < 8) return copy as T;
  // The key we send with is a secret too, whatever shape it has.
  return JSON.parse(JSON.stringify(copy, (_key, value: unknown) => (typeof value === 'string' && value.includes(apiKey) ? REDACTED : value))) as T;
}

const KIND_FOLDERS = KINDS.map((k) => k.folder);
const KIND_FOLDER_SET = new Set(KIND_FOLDERS);
/** `kind/name` where kind is a kind folder; names hold `.:@/+` (models: `hf.co/org/model:tag@host`). */
const KIND_NAME = new RegExp(`(?<![\\w./@:-])(${KIND_FOLDERS.join('|')})/([A-Za-z0-9][\\w.:@/+-]*)`, 'g');
/** Two or more labels ending in an alphabetic TLD; `/` and `@` may precede it (URLs, mail addresses). */
const DOMAIN = /(?<![\w.-])(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[a-z]{2,63}(?![\w-])/g;
/** Endings that make `ai.yaml` a file name, not a host, in prose about specs. */
const FILE_EXTENSIONS = new Set(
  'yaml yml json md ts js mjs cjs tsx jsx env txt sh bash toml conf cfg ini service timer socket log py go rs lock sql pem pub key crt csr tar gz tgz zip html css xml csv gguf bin'.split(' '),
);

/** Every `kind/name` and domain name in `text` that the plan does not hold, sorted, each once. */
export function inventedResources(text: string, plan: Plan): string[] {
  const known = new Set<string>();
  for (const entry of [...plan.changes, ...plan.unknown, ...plan.findings]) known.add(`${entry.kind}/${entry.name}`);
  const planText: string[] = [];
  collectStrings(plan.changes, planText);
  collectStrings(plan.unknown, planText);
  collectStrings(plan.findings, planText);
  const planDomains = new Set<string>();
  for (const s of planText) for (const d of domainsIn(s)) planDomains.add(d.name);
  // A `kind/name` quoted in a reason or message (a dependency, say) is in the data the model saw.
  const mentioned = planText.join('\n');

  const invented = new Set<string>();
  const covered: [number, number][] = [];
  for (const match of text.matchAll(KIND_NAME)) {
    const kind = match[1]!;
    const name = match[2]!.replace(/[.:@/_+-]+$/, '');
    const start = match.index;
    covered.push([start, start + kind.length + 1 + name.length]);
    const label = `${kind}/${name}`;
    // "hosts/vms" in prose is two kinds, not a resource.
    if (KIND_FOLDER_SET.has(name)) continue;
    if (!known.has(label) && !mentionsToken(mentioned, label)) invented.add(label);
  }
  for (const domain of domainsIn(text)) {
    if (covered.some(([from, to]) => domain.index >= from && domain.index < to)) continue;
    const isPlanDomain = planDomains.has(domain.name) || [...planDomains].some((d) => d.endsWith(`.${domain.name}`));
    if (!isPlanDomain) invented.add(domain.name);
  }
  return [...invented].sort();
}

/** Domain-like tokens, lowercased; a trailing file extension is dropped (`api.153.se.yaml` is about api.153.se). */
function domainsIn(text: string): { name: string; index: number }[] {
  const found: { name: string; index: number }[] = [];
  for (const match of text.matchAll(DOMAIN)) {
    let labels = match[0].toLowerCase().split('.');
    while (labels.length >= 2 && FILE_EXTENSIONS.has(labels[labels.length - 1]!)) labels = labels.slice(0, -1);
    if (labels.length < 2 || !/^[a-z]{2,63}$/.test(labels[labels.length - 1]!)) continue;
    found.push({ name: labels.join('.'), index: match.index });
  }
  return found;
}

function mentionsToken(haystack: string, token: string): boolean {
  let from = 0;
  for (;;) {
    const at = haystack.indexOf(token, from);
    if (at < 0) return false;
    const before = haystack[at - 1];
    const after = haystack[at + token.length];
    const startsClean = before === undefined || !/[\w./@:-]/.test(before);
    // A full stop ends the token only when no name character follows it (`hosts/ai.` yes, `dns/web.153.se` no).
    const endsClean = after === undefined || !/[\w.@:/+-]/.test(after) || (after === '.' && !/\w/.test(haystack[at + token.length + 1] ?? ''));
    if (startsClean && endsClean) return true;
    from = at + 1;
  }
}

function collectStrings(value: unknown, into: string[]): void {
  if (typeof value === 'string') into.push(value);
  else if (typeof value === 'number' || typeof value === 'boolean') into.push(String(value));
  else if (Array.isArray(value)) for (const item of value) collectStrings(item, into);
  else if (value !== null && typeof value === 'object') {
    for (const [key, child] of Object.entries(value)) {
      into.push(key);
      collectStrings(child, into);
    }
  }
}

/** Trimmed, without a wrapping code fence; undefined when it is not prose a reviewer can read. */
function usableText(content: unknown): string | undefined {
  if (typeof content !== 'string') return undefined;
  let text = content.trim().replace(/^```[\w-]*[ \t]*(\r?\n|$)/, '');
  // A closing fence left without its opening one (an odd count), not the end of a code block inside.
  if (text.endsWith('```') && (text.match(/^```/gm) ?? []).length % 2 === 1) text = text.slice(0, -3);
  text = text.trim();
  if (text === '') return undefined;
  if (/^[[{]/.test(text) && parsesAsJson(text)) return undefined;
  if (/^<(!doctype|html|head|body|\?xml)\b/i.test(text) || /<\/?(html|body|script)\b[^>]*>/i.test(text)) return undefined;
  // Prose has words; a reply of symbols, numbers or one token is not an explanation.
  if ((text.match(/[A-Za-z]{2,}/g) ?? []).length < 3) return undefined;
  return text;
}

function parsesAsJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** At most MAX_NARRATIVE_CHARS, cut at a paragraph or line break when there is one near the end. */
function capped(text: string): string {
  if (text.length <= MAX_NARRATIVE_CHARS) return text;
  const head = text.slice(0, MAX_NARRATIVE_CHARS - 1);
  const cut = Math.max(head.lastIndexOf('\n\n'), head.lastIndexOf('\n'), head.lastIndexOf(' '));
  return `${(cut > MAX_NARRATIVE_CHARS / 2 ? head.slice(0, cut) : head).trimEnd()}…`;
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');
LOOPBACK.addSubnet('::ffff:7f00:0', 104, 'ipv6');

export function isLoopbackUrl(url: URL): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  const family = isIP(host);
  return family !== 0 && LOOPBACK.check(host, family === 4 ? 'ipv4' : 'ipv6');
}

/** What the deadline resolves to; a symbol, since a text/plain reply of "timeout" is a string. */
const TIMED_OUT = Symbol('timed out');

const seconds = (ms: number) => `${Number((ms / 1000).toFixed(ms < 10_000 ? 1 : 0))} s`;

/** A PR's narrative of the plan; never throws, and no reason it gives holds a key or a server's words. */
export async function narrate(plan: Plan, config: NarrativeConfig | undefined, opts: { signal?: AbortSignal } = {}): Promise<NarrativeResult> {
  const withheld = (reason: string): NarrativeResult => ({ status: 'withheld', reason });
  if (!config || !config.baseUrl || !config.model) return withheld(NO_CONFIG);
  let url: URL;
  try {
    url = new URL(config.baseUrl);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http');
  } catch {
    // The URL itself is not echoed: it may carry credentials.
    return withheld('the LLM base URL is not an http(s) URL (check FLEETSPEC_LLM_BASE_URL)');
  }
  const where = url.host;
  const apiKey = config.apiKey || (isLoopbackUrl(url) ? LOOPBACK_PLACEHOLDER_KEY : undefined);
  if (!apiKey) return withheld(NO_KEY);
  const timeoutMs = Math.max(1, Math.round(config.timeoutMs ?? DEFAULT_TIMEOUT_MS));
  if (opts.signal?.aborted) return withheld('the narrative was cancelled');

  const abort = new AbortController();
  let timedOut = false;
  const onCancel = () => abort.abort();
  opts.signal?.addEventListener('abort', onCancel, { once: true });
  let timer: NodeJS.Timeout | undefined;
  // The SDK's timeout covers only the wait for headers; this bounds the body as well.
  const deadline = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => {
      timedOut = true;
      abort.abort();
      resolve(TIMED_OUT);
    }, timeoutMs);
  });
  const timeoutReason = `the LLM did not answer within ${seconds(timeoutMs)}`;

  try {
    const client = new OpenAI({
      baseURL: config.baseUrl,
      apiKey,
      timeout: timeoutMs,
      maxRetries: 0,
      logLevel: 'off',
      // Otherwise read from OPENAI_* variables and sent to whichever endpoint this is.
      organization: null,
      project: null,
      adminAPIKey: null,
      webhookSecret: null,
    });
    const call = client.chat.completions.create(
      {
        model: config.model,
        messages: [
          { role: 'system', content: SYSTEM_PROMPT },
          { role: 'user', content: promptPayload(plan, config.apiKey) },
        ],
        temperature: 0,
        max_tokens: Math.max(1, Math.round(config.maxTokens ?? DEFAULT_MAX_TOKENS)),
      },
      { signal: abort.signal, timeout: timeoutMs },
    );
    call.catch(() => undefined); // settled by the race below; a late rejection is not unhandled
    const completion: unknown = await Promise.race([call, deadline]);
    if (completion === TIMED_OUT) return withheld(timeoutReason);
    // A 200 that is not JSON (a proxy's HTML page) comes back from the SDK as a plain string.
    if (typeof completion !== 'object' || completion === null) return withheld(UNUSABLE);
    const choice = (completion as { choices?: { message?: { content?: unknown; refusal?: unknown } }[] }).choices?.[0];
    if (typeof choice?.message?.refusal === 'string' && choice.message.refusal) return withheld('the LLM declined to describe this plan');
    const text = usableText(choice?.message?.content);
    if (text === undefined) return withheld(UNUSABLE);
    if (findSecretLiterals(text).length || (config.apiKey && text.includes(config.apiKey))) return withheld('the narrative contained something that looks like a secret');
    const invented = inventedResources(text, plan);
    if (invented.length) {
      const list = invented.length > 5 ? `${invented.slice(0, 5).join(', ')} and ${invented.length - 5} more` : invented.join(', ');
      return { status: 'withheld', reason: `the narrative mentioned ${list}, which ${invented.length === 1 ? 'is' : 'are'} not in this plan`, invented };
    }
    const model = (completion as { model?: unknown }).model;
    return { status: 'ok', text: capped(text), model: typeof model === 'string' && model ? model : config.model };
  } catch (error) {
    return withheld(failureReason(error, { timedOut, cancelled: opts.signal?.aborted === true, timeoutReason, where, model: config.model }));
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onCancel);
  }
}

/** One sentence from the SDK's error classes; never the error's message, which can quote the key. */
function failureReason(error: unknown, at: { timedOut: boolean; cancelled: boolean; timeoutReason: string; where: string; model: string }): string {
  if (at.timedOut || error instanceof APIConnectionTimeoutError) return at.timeoutReason;
  if (at.cancelled || error instanceof APIUserAbortError) return 'the narrative was cancelled';
  if (error instanceof APIConnectionError) return `the LLM endpoint at ${at.where} could not be reached`;
  if (error instanceof APIError && typeof error.status === 'number') {
    const status = error.status;
    if (status === 401) return `the LLM endpoint at ${at.where} refused the API key (HTTP 401)`;
    if (status === 403) return `the LLM endpoint at ${at.where} refused access (HTTP 403)`;
    if (status === 404) return `the LLM endpoint at ${at.where} has no model ${JSON.stringify(at.model)} or no chat completions API (HTTP 404)`;
    if (status === 429) return `the LLM endpoint at ${at.where} is rate limiting or out of credit (HTTP 429)`;
    if (status >= 500) return `the LLM endpoint at ${at.where} failed (HTTP ${status})`;
    return `the LLM endpoint at ${at.where} rejected the request (HTTP ${status})`;
  }
  // response.json() on a body that is not JSON.
  if (error instanceof SyntaxError) return UNUSABLE;
  return `the LLM call failed (${error instanceof Error ? error.name : 'unknown error'})`;
}
