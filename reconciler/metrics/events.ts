// What the narrative and the GitHub client tell the daemon's metrics, without either of them
// loading prom-client: a listener set that costs one size check when nobody listens (the CLI's
// one-shot commands). The daemon listens (metrics/registry.ts, and the ledger's token usage).

export interface LlmUsage {
  type: 'llm-usage';
  /** The model id asked for (the config's, a plain id): a label, so never the server's free text. */
  model: string;
  promptTokens: number;
  completionTokens: number;
}

export interface GitHubRateLimit {
  type: 'github-rate-limit';
  /** x-ratelimit-remaining of the last answer. */
  remaining: number;
  /** x-ratelimit-resource (core, search, graphql); "core" when absent. */
  resource: string;
}

export type MetricEvent = LlmUsage | GitHubRateLimit;

const listeners = new Set<(event: MetricEvent) => void>();

/** Whether anyone listens: callers skip the work of building an event when nobody does. */
export function listening(): boolean {
  return listeners.size > 0;
}

/** Tells every listener; a listener that throws is ignored (metrics never break the work they count). */
export function emitMetric(event: MetricEvent): void {
  for (const listener of listeners) {
    try {
      listener(event);
    } catch {
      // counted or not, the tick goes on
    }
  }
}

/** Adds a listener; returns its removal. */
export function onMetric(listener: (event: MetricEvent) => void): () => void {
  listeners.add(listener);
  return () => void listeners.delete(listener);
}

/** The usage an OpenAI-compatible completion reports (`usage.prompt_tokens`, `usage.completion_tokens`), or undefined. */
export function usageOf(completion: unknown): { promptTokens: number; completionTokens: number } | undefined {
  const usage = (completion as { usage?: { prompt_tokens?: unknown; completion_tokens?: unknown } } | null)?.usage;
  const count = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.round(v) : undefined);
  const promptTokens = count(usage?.prompt_tokens);
  const completionTokens = count(usage?.completion_tokens);
  if (promptTokens === undefined && completionTokens === undefined) return undefined;
  return { promptTokens: promptTokens ?? 0, completionTokens: completionTokens ?? 0 };
}

/** The rate limit an answer's headers report, or undefined when they report none. */
export function rateLimitOf(headers: Record<string, unknown> | undefined): { remaining: number; resource: string } | undefined {
  const raw = headers?.['x-ratelimit-remaining'];
  if (raw === undefined || raw === null || raw === '') return undefined;
  const remaining = Number(raw);
  if (!Number.isFinite(remaining) || remaining < 0) return undefined;
  const resource = String(headers?.['x-ratelimit-resource'] ?? 'core');
  // A label: only GitHub's plain resource names, never arbitrary header text.
  return { remaining, resource: /^[a-z_]{1,40}$/.test(resource) ? resource : 'core' };
}
