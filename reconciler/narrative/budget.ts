// The narratives of one tick share one budget: the time spent waiting on the LLM adds up, each call
// gets at most what is left (and at most its own timeout), and once the budget is spent the rest go
// out without a narrative, saying why. A breaker: after the first call that timed out, the LLM is
// not asked again in this tick, so a hanging endpoint costs one timeout per tick, not one per PR.
import type { Plan } from '../plan/plan.js';
import { DEFAULT_TIMEOUT_MS, narrate, type NarrativeConfig, type NarrativeResult } from './narrate.js';

/** Less than this left of the budget: not worth a call. */
const LEAST_CALL_MS = 1000;

const seconds = (ms: number) => `${Number((ms / 1000).toFixed(ms < 10_000 ? 1 : 0))} s`;

export class NarrativeBudget {
  private spentMs = 0;
  private tripped: string | undefined;
  /** How many calls were not made (breaker open or budget spent). */
  skipped = 0;

  constructor(
    private readonly config: NarrativeConfig,
    readonly budgetMs: number,
    private readonly signal?: AbortSignal,
  ) {}

  async narrate(plan: Plan): Promise<NarrativeResult> {
    if (this.tripped) return this.skip(`not asked: ${this.tripped} earlier in this run, so fleetspec asks it nothing more until the next one`);
    const left = this.budgetMs - this.spentMs;
    if (left < LEAST_CALL_MS) return this.skip(`not asked: the narratives of this run used up their time budget of ${seconds(this.budgetMs)}`);
    const own = this.config.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const timeoutMs = Math.min(own, left);
    const started = Date.now();
    const result = await narrate(plan, { ...this.config, timeoutMs }, this.signal ? { signal: this.signal } : {});
    this.spentMs += Date.now() - started;
    if (result.status === 'withheld' && result.timedOut) {
      this.tripped = result.reason;
      // Cut short by the budget, not by the LLM's own timeout: say so.
      if (timeoutMs < own) return { ...result, reason: `the LLM did not answer within what was left of the narratives' time budget of ${seconds(this.budgetMs)} for this run` };
    }
    return result;
  }

  private skip(reason: string): NarrativeResult {
    this.skipped++;
    return { status: 'withheld', reason };
  }
}
