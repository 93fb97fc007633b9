// The narratives' token usage in the ledger: one row per narrative call that reported usage,
// under the run that asked for it (migration 9), so spend can be summed per run, model or day.
import type { Queryable } from '../state/db.js';
import { onMetric, type LlmUsage } from './events.js';

/** Collects the usage the narratives report until `take` is called; the daemon brackets each tick with it. */
export function collectUsage(): { take(): LlmUsage[] } {
  const seen: LlmUsage[] = [];
  const stop = onMetric((e) => void (e.type === 'llm-usage' && seen.push(e)));
  return {
    take() {
      stop();
      return seen.splice(0);
    },
  };
}

export async function recordUsage(db: Queryable, run: number, usage: readonly LlmUsage[]): Promise<void> {
  for (const u of usage) {
    await db.query('insert into narrative_usage (run_id, model, prompt_tokens, completion_tokens) values ($1, $2, $3, $4)', [run, u.model, u.promptTokens, u.completionTokens]);
  }
}

export interface UsageRow {
  run: number;
  model: string;
  promptTokens: number;
  completionTokens: number;
}

/** The usage recorded for a run, oldest first. */
export async function usageOf(db: Queryable, run: number): Promise<UsageRow[]> {
  return db.query<UsageRow>(
    'select run_id::integer as run, model, prompt_tokens as "promptTokens", completion_tokens as "completionTokens" from narrative_usage where run_id = $1 order by id',
    [run],
  );
}
