// The narratives of one tick share the LLM: at most `concurrency` calls are in flight at once
// (FLEETSPEC_LLM_CONCURRENCY, default 3; the others queue in the order they were asked for), one
// time budget bounds them all, and a breaker stops asking after the first timeout.
//
// What "one budget per tick" means when calls overlap: the budget is wall-clock time during which
// at least one narrative call is in flight, counted from the first call. Three calls that wait
// 20 s side by side use 20 s of it, not 60 s: the budget bounds how much the LLM can lengthen a
// tick, and overlapping waits lengthen it only once, so summing them would punish the concurrency
// that exists to save that time. The clock pauses while no call is in flight (between the first
// branches, the tick is planning the next one while nothing waits on the LLM): counting those
// gaps would spend the narratives' budget on terraform and SSH, and a tick whose plans are slow
// would lose its narratives although the LLM answers at once. When calls follow each other
// without a gap (a slow or hanging LLM, the case the budget is for) this is plain wall-clock time
// from the first call. Each call is sent with a deadline of what is left of the budget (and at
// most its own timeout): every call in flight then ends at the same moment, when the budget runs
// out, whenever it started; a call whose turn comes once less than a second is left is not sent.
//
// The breaker: after the first call that timed out, the LLM is asked nothing more in this tick.
// Calls asked for later and calls already queued behind the limit alike return at once without
// being sent, saying why; calls already in flight end on their own deadline. A hanging endpoint so
// costs one timeout per tick (with up to `concurrency` calls waiting on it side by side), not one
// per PR. A tick that is abandoned (its signal) aborts the calls in flight, and queued ones are
// not sent.
import pLimit, { type LimitFunction } from 'p-limit';
import type { Plan } from '../plan/plan.js';
import { DEFAULT_TIMEOUT_MS, narrate, type NarrativeConfig, type NarrativeResult } from './narrate.js';

/** Narrative calls of one tick in flight at once, unless FLEETSPEC_LLM_CONCURRENCY says otherwise. */
export const DEFAULT_LLM_CONCURRENCY = 3;
/** The most FLEETSPEC_LLM_CONCURRENCY may allow: more would mostly earn rate limits (HTTP 429) from a hosted API. */
export const MAX_LLM_CONCURRENCY = 16;

/** Less than this left of the budget: not worth a call. */
const LEAST_CALL_MS = 1000;

const seconds = (ms: number) => `${Number((ms / 1000).toFixed(ms < 10_000 ? 1 : 0))} s`;

export class NarrativeBudget {
  private readonly limit: LimitFunction;
  /** Budget used by the spells with a call in flight that have ended (ms). */
  private usedMs = 0;
  /** When the current spell with a call in flight began; undefined while none is in flight. */
  private busySince: number | undefined;
  private inFlight = 0;
  private tripped: string | undefined;
  /** How many calls were not made (breaker open, budget spent, or the tick abandoned while they queued). */
  skipped = 0;

  /** `now`: the clock the budget is measured with (tests pass their own); the calls' own deadlines are real timers. */
  constructor(
    private readonly config: NarrativeConfig,
    readonly budgetMs: number,
    private readonly signal?: AbortSignal,
    private readonly now: () => number = Date.now,
  ) {
    this.limit = pLimit(config.concurrency ?? DEFAULT_LLM_CONCURRENCY);
  }

  /** How many calls may be in flight at once. */
  get concurrency(): number {
    return this.limit.concurrency;
  }

  /** The budget used so far (ms): the time during which at least one call was in flight. */
  spentMs(): number {
    return this.usedMs + (this.busySince === undefined ? 0 : this.now() - this.busySince);
  }

  /** A narrative of `plan`, after the calls asked for before it have a free place; never throws. */
  narrate(plan: Plan): Promise<NarrativeResult> {
    // Refused at once rather than queued: once the breaker is open or the budget spent, a call must not wait for a place only to be refused then.
    const refused = this.refusal();
    if (refused) return Promise.resolve(refused);
    return this.limit(() => this.call(plan));
  }

  private async call(plan: Plan): Promise<NarrativeResult> {
    // Its turn has come: while it queued, another call may have timed out, or the budget run out, or the tick been abandoned.
    const refused = this.refusal();
    if (refused) return refused;
    if (this.signal?.aborted) {
      this.skipped++;
      return { status: 'withheld', reason: 'the narrative was cancelled' };
    }
    const own = this.config.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const started = this.now();
    const timeoutMs = Math.min(own, this.budgetMs - this.spentMs());
    if (this.inFlight++ === 0) this.busySince = started;
    let result: NarrativeResult;
    try {
      result = await narrate(plan, { ...this.config, timeoutMs }, this.signal ? { signal: this.signal } : {});
    } finally {
      if (--this.inFlight === 0) {
        this.usedMs += this.now() - this.busySince!;
        this.busySince = undefined;
      }
    }
    if (result.status === 'withheld' && result.timedOut) {
      // The first timeout's reason is the one the skipped PRs quote.
      this.tripped ??= result.reason;
      // Cut short by the budget, not by the LLM's own timeout: say so.
      if (timeoutMs < own) return { ...result, reason: `the LLM did not answer within what was left of the narratives' time budget of ${seconds(this.budgetMs)} for this run` };
    }
    return result;
  }

  /** Why a call is not to be made now, or undefined when it may go out. */
  private refusal(): NarrativeResult | undefined {
    // The budget first: when both hold (a call cut short by the budget also trips the breaker), it is the truer account.
    if (this.budgetMs - this.spentMs() < LEAST_CALL_MS) return this.skip(`not asked: the narratives of this run used up their time budget of ${seconds(this.budgetMs)}`);
    if (this.tripped) return this.skip(`not asked: ${this.tripped} earlier in this run, so fleetspec asks it nothing more until the next one`);
    return undefined;
  }

  private skip(reason: string): NarrativeResult {
    this.skipped++;
    return { status: 'withheld', reason };
  }
}
