// Issue 20, item 6: the narratives of one tick run side by side, at most FLEETSPEC_LLM_CONCURRENCY
// at once, within one wall-clock budget, with a breaker after the first timeout; an abandoned tick
// aborts the calls in flight and sends none of those still queued.
// Against the OpenAI-API stand-in (test/llm/server.ts), whose `holding` keeps chat completions
// unanswered until the test releases them and counts how many wait at once: concurrency is seen,
// not timed. The budget's clock is injected where its arithmetic is what is tested. The loop-level
// tests tick the real loop (test/security/harness.ts: git http-backend, the GitHub stand-in, the
// store) with an LLM configured.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ConfigError, llmConcurrency, loopConfig } from '../../reconciler/loop/config.js';
import { NARRATIVE_HEADING, PLAN_CONTEXT, PLAN_MARKER } from '../../reconciler/loop/pr-text.js';
import { TickAbandoned, type TickContext, type TickReport } from '../../reconciler/loop/tick.js';
import { TickWatch } from '../../reconciler/loop/watchdog.js';
import { DEFAULT_LLM_CONCURRENCY, MAX_LLM_CONCURRENCY, NarrativeBudget } from '../../reconciler/narrative/budget.js';
import type { NarrativeConfig, NarrativeResult } from '../../reconciler/narrative/narrate.js';
import { buildPlan, type Plan } from '../../reconciler/plan/plan.js';
import { getRun } from '../../reconciler/state/ledger.js';
import type { Queryable } from '../../reconciler/state/db.js';
import { until, within } from '../faults/wait.js';
import { planDataOf, startLlmServer, type LlmTestServer } from '../llm/server.js';
import { addTicket, useSecurityHarness } from '../security/harness.js';

const MODEL = 'fleetspec-test';
/** Generous: a wait on a condition that holds within milliseconds unless something is wrong. */
const WAIT_MS = 15_000;

/** A plan creating dns/www<i>.example.org: each plan names its own resource, so a narrative or a request says whose it is. */
const plan = (i: number): Plan =>
  buildPlan([{ kind: 'dns', name: `www${i}.example.org`, action: 'create', before: null, after: { type: 'CNAME', target: 'tunnel.example.org' }, reason: 'no such record' }], { mode: 'live' });

/** The names of the resources of the plans the LLM was asked about, in the order the requests came. */
function asked(llm: LlmTestServer): string[] {
  return llm.requests
    .filter((r) => r.method === 'POST' && r.path === '/v1/chat/completions')
    .map((r) => {
      const messages = (r.body as { messages: { role: string; content: string }[] }).messages;
      const data = planDataOf(messages.find((m) => m.role === 'user')!.content) as { changes: { name: string }[] };
      return data.changes.map((c) => c.name).join(',');
    });
}

const servers: LlmTestServer[] = [];
/** A fresh stand-in per test: its in-flight counts are the test's own. */
async function llmServer(mode: LlmTestServer['mode'] = 'good'): Promise<LlmTestServer> {
  const llm = await startLlmServer({ mode, models: [MODEL] });
  servers.push(llm);
  return llm;
}
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

const config = (llm: LlmTestServer, more: Partial<NarrativeConfig> = {}): NarrativeConfig => ({ baseUrl: llm.baseUrl, model: MODEL, timeoutMs: 30_000, ...more });

/** Whether a narrative came back and names the resource of plan `i` (and so is that plan's). */
const narrativeOf = (result: NarrativeResult, i: number) => result.status === 'ok' && result.text.includes(`dns/www${i}.example.org`);

/** Settles as `promise` does; the flag says whether it has. */
function tracked<T>(promise: Promise<T>): { promise: Promise<T>; settled: () => boolean } {
  let done = false;
  void promise.finally(() => (done = true)).catch(() => undefined);
  return { promise, settled: () => done };
}

describe('the narratives of one tick, side by side', () => {
  it(`at most the concurrency limit wait on the LLM at once (${DEFAULT_LLM_CONCURRENCY} by default), the rest queue in the order asked; released, every plan gets its own narrative`, async () => {
    const llm = await llmServer();
    llm.holding = true;
    const budget = new NarrativeBudget(config(llm, { concurrency: 3 }), 120_000);
    expect(budget.concurrency).toBe(3);
    expect(new NarrativeBudget(config(llm), 120_000).concurrency).toBe(DEFAULT_LLM_CONCURRENCY);
    const calls = Array.from({ length: 7 }, (_, i) => tracked(budget.narrate(plan(i))));

    await until('three requests held by the LLM', () => llm.inFlight === 3, WAIT_MS);
    expect(asked(llm)).toEqual(['www0.example.org', 'www1.example.org', 'www2.example.org']);
    expect(calls.some((c) => c.settled())).toBe(false);

    // One answered: its place goes to the first one queued, and no more than that.
    expect(llm.release(1)).toBe(1);
    const first = await within('the first narrative', calls[0]!.promise, WAIT_MS);
    expect(narrativeOf(first, 0)).toBe(true);
    await until('the fourth request, in the freed place', () => asked(llm).length === 4 && llm.inFlight === 3, WAIT_MS);
    expect(asked(llm)[3]).toBe('www3.example.org');
    expect(llm.maxInFlight).toBe(3);

    // The rest answered as they come: still never more than three at once.
    llm.holding = false;
    llm.release();
    const results = await within('all seven narratives', Promise.all(calls.map((c) => c.promise)), WAIT_MS);
    results.forEach((r, i) => expect(narrativeOf(r, i), JSON.stringify(r)).toBe(true));
    expect(asked(llm)).toEqual(Array.from({ length: 7 }, (_, i) => `www${i}.example.org`));
    expect(llm.maxInFlight).toBe(3);
    expect(budget.skipped).toBe(0);
  });

  it('with a concurrency of 1 they go one after another', async () => {
    const llm = await llmServer();
    llm.holding = true;
    const budget = new NarrativeBudget(config(llm, { concurrency: 1 }), 120_000);
    const calls = Array.from({ length: 3 }, (_, i) => tracked(budget.narrate(plan(i))));
    await until('the first request', () => llm.inFlight === 1, WAIT_MS);
    expect(asked(llm)).toEqual(['www0.example.org']);
    llm.release(1);
    await until('the second request, after the first answer', () => asked(llm).length === 2 && llm.inFlight === 1, WAIT_MS);
    expect(calls[0]!.settled()).toBe(true);
    expect(calls[2]!.settled()).toBe(false);
    llm.holding = false;
    llm.release();
    const results = await within('three narratives', Promise.all(calls.map((c) => c.promise)), WAIT_MS);
    results.forEach((r, i) => expect(narrativeOf(r, i), JSON.stringify(r)).toBe(true));
    expect(llm.maxInFlight).toBe(1);
  });

  it('share one wall-clock budget: calls side by side count once, gaps with nothing in flight not at all, and none is sent once it is spent', async () => {
    const llm = await llmServer();
    llm.holding = true;
    let clock = 100_000;
    const budget = new NarrativeBudget(config(llm, { concurrency: 3 }), 10_000, undefined, () => clock);
    expect(budget.spentMs()).toBe(0);

    // Three calls from 100 s to 104 s, side by side: 4 s of the budget, not 12.
    const three = [0, 1, 2].map((i) => budget.narrate(plan(i)));
    await until('three requests held', () => llm.inFlight === 3, WAIT_MS);
    expect(budget.spentMs()).toBe(0);
    clock = 104_000;
    expect(budget.spentMs()).toBe(4_000);
    llm.release();
    const results = await within('three narratives', Promise.all(three), WAIT_MS);
    results.forEach((r, i) => expect(narrativeOf(r, i), JSON.stringify(r)).toBe(true));
    expect(budget.spentMs()).toBe(4_000);

    // Nothing in flight from 104 s to 109 s: the clock of the budget stands still.
    clock = 109_000;
    expect(budget.spentMs()).toBe(4_000);

    // Overlapping, ending apart: one from 109 s to 110 s, one from 109.5 s to 111 s; together 2 s (summed they would be 2.5 s).
    const a = tracked(budget.narrate(plan(3)));
    await until('the first of two', () => llm.inFlight === 1, WAIT_MS);
    clock = 109_500;
    const b = tracked(budget.narrate(plan(4)));
    await until('the second of two', () => llm.inFlight === 2, WAIT_MS);
    clock = 110_000;
    llm.release(1);
    expect(narrativeOf(await within('the first of two', a.promise, WAIT_MS), 3)).toBe(true);
    expect(b.settled()).toBe(false);
    expect(budget.spentMs()).toBe(5_000);
    clock = 111_000;
    expect(budget.spentMs()).toBe(6_000);
    llm.release();
    expect(narrativeOf(await within('the second of two', b.promise, WAIT_MS), 4)).toBe(true);
    expect(budget.spentMs()).toBe(6_000);

    // One more from 111 s to 114.5 s leaves 0.5 s: less than a call is worth, so the next is not sent.
    const c = budget.narrate(plan(5));
    await until('one more request', () => llm.inFlight === 1, WAIT_MS);
    clock = 114_500;
    llm.release();
    expect(narrativeOf(await within('one more', c, WAIT_MS), 5)).toBe(true);
    expect(budget.spentMs()).toBe(9_500);
    const sent = asked(llm).length;
    expect(await budget.narrate(plan(6))).toEqual({ status: 'withheld', reason: 'not asked: the narratives of this run used up their time budget of 10 s' });
    expect(asked(llm).length).toBe(sent);
    expect(sent).toBe(6);
    expect(budget.skipped).toBe(1);
  });

  it('calls side by side against a hanging LLM all end when the budget runs out, together, and it counts once', async () => {
    const llm = await llmServer('timeout');
    const budget = new NarrativeBudget(config(llm, { concurrency: 2 }), 1_500);
    const started = Date.now();
    const results = await within('the narratives', Promise.all([0, 1, 2].map((i) => budget.narrate(plan(i)))), WAIT_MS);
    const elapsed = Date.now() - started;
    const cut = { status: 'withheld', reason: "the LLM did not answer within what was left of the narratives' time budget of 1.5 s for this run", timedOut: true };
    expect(results.slice(0, 2)).toEqual([cut, cut]);
    // The third queued behind the two; when its turn came the budget was spent (its account wins over the breaker's).
    expect(results[2]).toEqual({ status: 'withheld', reason: 'not asked: the narratives of this run used up their time budget of 1.5 s' });
    expect(asked(llm)).toEqual(['www0.example.org', 'www1.example.org']);
    // Wall-clock: the two waits overlapped and were counted once, within the time the whole took (summed, they would be about 3 s).
    expect(budget.spentMs()).toBeGreaterThanOrEqual(1_400);
    expect(budget.spentMs()).toBeLessThanOrEqual(elapsed);
    // Both ended when the budget ran out, not at their own 30 s timeout.
    expect(elapsed).toBeLessThan(10_000);
  });

  it('the first timeout trips the breaker: the calls queued behind it are never sent, and each says why', async () => {
    const llm = await llmServer('timeout');
    const budget = new NarrativeBudget(config(llm, { timeoutMs: 1_500, concurrency: 3 }), 120_000);
    const started = Date.now();
    const results = await within('seven narratives', Promise.all(Array.from({ length: 7 }, (_, i) => budget.narrate(plan(i)))), WAIT_MS);
    // One timeout's worth, with the three waiting on it side by side: not three, nor seven, one after another.
    expect(Date.now() - started).toBeLessThan(3 * 1_500);
    expect(asked(llm)).toEqual(['www0.example.org', 'www1.example.org', 'www2.example.org']);
    const timedOut = { status: 'withheld', reason: 'the LLM did not answer within 1.5 s', timedOut: true };
    expect(results.slice(0, 3)).toEqual([timedOut, timedOut, timedOut]);
    const notAsked = { status: 'withheld', reason: 'not asked: the LLM did not answer within 1.5 s earlier in this run, so fleetspec asks it nothing more until the next one' };
    expect(results.slice(3)).toEqual([notAsked, notAsked, notAsked, notAsked]);
    expect(budget.skipped).toBe(4);
    // Later in the tick, with a healthy LLM again: still not asked.
    llm.mode = 'good';
    expect(await budget.narrate(plan(7))).toEqual(notAsked);
    expect(asked(llm)).toHaveLength(3);
    // The timed-out requests were given up, not left open on the LLM.
    await until('the timed-out requests to be closed', () => llm.inFlight === 0, WAIT_MS);
  });

  it('an abandoned tick aborts the calls in flight and sends none of those queued', async () => {
    const llm = await llmServer();
    llm.holding = true;
    const stop = new AbortController();
    const budget = new NarrativeBudget(config(llm, { concurrency: 2 }), 120_000, stop.signal);
    const calls = Array.from({ length: 5 }, (_, i) => budget.narrate(plan(i)));
    await until('two requests held', () => llm.inFlight === 2, WAIT_MS);
    stop.abort();
    // The requests in flight are given up: the LLM sees their connections go.
    await until('the held requests to be aborted', () => llm.inFlight === 0, WAIT_MS);
    const results = await within('the narratives to settle', Promise.all(calls), WAIT_MS);
    const cancelled = { status: 'withheld', reason: 'the narrative was cancelled' };
    expect(results).toEqual([cancelled, cancelled, cancelled, cancelled, cancelled]);
    expect(budget.skipped).toBe(3);
    // Nothing is left to answer, and nothing asked after the abandonment is sent.
    llm.holding = false;
    expect(llm.release()).toBe(0);
    expect(await budget.narrate(plan(5))).toEqual(cancelled);
    expect(asked(llm)).toEqual(['www0.example.org', 'www1.example.org']);
  });
});

describe('FLEETSPEC_LLM_CONCURRENCY', () => {
  const rejected = (value: string) => {
    try {
      llmConcurrency({ FLEETSPEC_LLM_CONCURRENCY: value });
    } catch (err) {
      return err;
    }
    return undefined;
  };

  it(`is a whole number from 1 to ${MAX_LLM_CONCURRENCY}; unset or blank means the default`, () => {
    expect(llmConcurrency({})).toBeUndefined();
    expect(llmConcurrency({ FLEETSPEC_LLM_CONCURRENCY: '' })).toBeUndefined();
    expect(llmConcurrency({ FLEETSPEC_LLM_CONCURRENCY: '   ' })).toBeUndefined();
    expect(llmConcurrency({ FLEETSPEC_LLM_CONCURRENCY: '1' })).toBe(1);
    expect(llmConcurrency({ FLEETSPEC_LLM_CONCURRENCY: ' 5 ' })).toBe(5);
    expect(llmConcurrency({ FLEETSPEC_LLM_CONCURRENCY: String(MAX_LLM_CONCURRENCY) })).toBe(16);
    for (const value of ['0', '17', '2.5', 'three', '-1', '1e1', '0x3', '+3', '3 4']) {
      const err = rejected(value);
      expect(err, value).toBeInstanceOf(ConfigError);
      expect((err as Error).message, value).toContain('FLEETSPEC_LLM_CONCURRENCY');
      expect((err as Error).message, value).toContain('1 to 16');
    }
  });

  it('reaches the narrative config, and a bad value is an error even before a model is configured', async () => {
    const noStore = {} as Queryable;
    const base = { FLEETSPEC_GITHUB_REPO: 'acme/fleet', FLEETSPEC_GITHUB_TOKEN: 'ghp_test', FLEETSPEC_LLM_MODEL: MODEL, FLEETSPEC_LLM_BASE_URL: 'http://127.0.0.1:9/v1' };
    expect((await loopConfig(noStore, {}, { ...base, FLEETSPEC_LLM_CONCURRENCY: '5' })).llm).toMatchObject({ model: MODEL, concurrency: 5 });
    expect((await loopConfig(noStore, {}, base)).llm?.concurrency).toBeUndefined();
    const { FLEETSPEC_LLM_MODEL: _, ...noModel } = base;
    await expect(loopConfig(noStore, {}, { ...noModel, FLEETSPEC_LLM_CONCURRENCY: '0' })).rejects.toBeInstanceOf(ConfigError);
    // A value that would forge a log line is shown escaped.
    const err = rejected('3\nfleetspec: all good');
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).not.toContain('\n');
  });
});

describe('the loop: a tick narrates its branches side by side', () => {
  const h = useSecurityHarness();
  afterEach(async () => {
    await h.reset();
    expect(h.gh.takeViolations()).toEqual([]);
  });

  /** One real tick of the loop, as the harness ticks, with an LLM and `extra` (a watch, a progress callback). */
  const runTick = (llm: LlmTestServer, extra: Partial<TickContext> = {}): Promise<TickReport> => h.tick({ llm: { baseUrl: llm.baseUrl, model: MODEL, timeoutMs: 30_000, concurrency: 3 }, ...extra });

  /** bob pushes one new ticket on each of `ids.length` branches; returns the branches, in name order. */
  function pushTickets(prefix: string, ids: string[]): string[] {
    return ids.map((id) => {
      const branch = `${prefix}-${id.toLowerCase()}`;
      h.push(branch, addTicket(id), { as: 'bob' });
      return branch;
    });
  }

  const planComments = (pr: number) => h.commentsOn(pr).filter((b) => b.includes(PLAN_MARKER));
  /** The narrative section of a plan comment: from its heading to the end. */
  const narrativeIn = (body: string) => body.slice(body.indexOf(NARRATIVE_HEADING));
  const ticketLabel = (id: string) => `\`tickets/${id}\``;

  /** Each PR has exactly one plan comment, with a narrative that is its own (it names its ticket, and no other). */
  function expectOneNarratedComment(branches: string[], ids: string[]): void {
    branches.forEach((branch, i) => {
      const pr = h.mustPr(branch);
      const comments = planComments(pr.number);
      expect(comments, branch).toHaveLength(1);
      const narrative = narrativeIn(comments[0]!);
      expect(narrative.startsWith(NARRATIVE_HEADING), branch).toBe(true);
      expect(narrative, branch).not.toContain('_No narrative');
      expect(narrative, branch).toContain(ticketLabel(ids[i]!));
      for (const other of ids.filter((_, j) => j !== i)) expect(narrative, branch).not.toContain(ticketLabel(other));
      expect(h.gh.repo().statuses.filter((s) => s.sha === pr.head.sha && s.context === PLAN_CONTEXT), branch).not.toHaveLength(0);
    });
  }

  it('four branches: their narratives wait on the LLM side by side, never more than the limit; each PR gets one plan comment with its own narrative', async () => {
    const llm = await llmServer();
    const ids = ['T-0101', 'T-0102', 'T-0103', 'T-0104'];
    const branches = pushTickets('side', ids);
    llm.holding = true;
    const asking: string[] = [];
    const running = tracked(
      runTick(llm, {
        progress: (m) => {
          h.progress.push(m);
          if (m.startsWith(`asking ${MODEL} for the narrative`)) asking.push(m);
        },
      }),
    );
    // All four planned and their narratives asked for while the first ones still wait: three in flight, one queued.
    await until('four narratives asked for and three held', () => (asking.length === 4 && llm.inFlight === 3) || running.settled(), 60_000);
    expect(running.settled()).toBe(false);
    expect(llm.maxInFlight).toBe(3);
    expect(asked(llm)).toHaveLength(3);
    // Nothing is published before its narrative settles.
    for (const branch of branches) expect(planComments(h.mustPr(branch).number), branch).toEqual([]);

    llm.holding = false;
    expect(llm.release()).toBe(3);
    const report = await within('the tick', running.promise, 60_000);
    expect(report.errors).toEqual([]);
    expect(report.state, report.reason).toBe('DONE');
    // Rows by branch name, whatever order the narratives came back in.
    expect(report.branches.map((b) => [b.branch, b.action, b.status])).toEqual(branches.map((b) => [b, 'opened', 'success']));
    expect(asked(llm)).toHaveLength(4);
    expect(llm.maxInFlight).toBe(3);
    expectOneNarratedComment(branches, ids);

    // The next tick: every head planned, nothing asked or published again.
    const next = await runTick(llm);
    expect(next.branches.map((b) => b.action)).toEqual(['unchanged', 'unchanged', 'unchanged', 'unchanged']);
    expect(asked(llm)).toHaveLength(4);
    expectOneNarratedComment(branches, ids);
  }, 180_000);

  // Under a watch (the daemon, `fleetspec reconcile`): the watch gives the narratives' waits up. With a bare signal: the
  // calls end cancelled, and it is the check before publishing that keeps their comments back.
  it.each([
    ['a watch', 3, /^abandoned: stop requested in phase branches/],
    ['a bare signal', 5, /^abandoned: stop requested/],
  ] as const)('a tick abandoned (%s) while narratives are held publishes none of them, sends none of those queued, and the next tick publishes each once', async (how, n, reason) => {
    const llm = await llmServer();
    const ids = [1, 2, 3, 4].map((i) => `T-0${n}0${i}`);
    const branches = pushTickets(`held${n}`, ids);
    llm.holding = true;
    const stop = new AbortController();
    const asking: string[] = [];
    const running = tracked(
      runTick(llm, {
        ...(how === 'a watch' ? { watch: new TickWatch({ stop: stop.signal }) } : { signal: stop.signal }),
        progress: (m) => {
          h.progress.push(m);
          if (m.startsWith(`asking ${MODEL} for the narrative`)) asking.push(m);
        },
      }).then(
        (r) => r,
        (err: unknown) => err,
      ),
    );
    await until('four narratives asked for and three held', () => (asking.length === 4 && llm.inFlight === 3) || running.settled(), 60_000);
    expect(running.settled()).toBe(false);
    const prs = branches.map((b) => h.mustPr(b).number);

    // As SIGTERM would: the tick stops, its narratives are given up.
    stop.abort();
    const failed = await within('the abandoned tick', running.promise, 30_000);
    expect(failed).toBeInstanceOf(TickAbandoned);
    const abandoned = (failed as TickAbandoned & { report: TickReport }).report;
    expect(abandoned.reason).toMatch(reason);
    expect(abandoned.branches).toEqual([]);
    expect(abandoned.errors).toEqual([]);
    expect(await getRun(h.db, abandoned.run)).toMatchObject({ state: 'FAILED' });
    // The requests in flight were aborted, the queued one never sent.
    await until('the held requests to be aborted', () => llm.inFlight === 0, WAIT_MS);
    expect(asked(llm)).toHaveLength(3);
    // Nothing of the abandoned tick reaches the PRs, even once the LLM would answer.
    llm.holding = false;
    expect(llm.release()).toBe(0);
    for (const pr of prs) expect(planComments(pr), `#${pr}`).toEqual([]);

    // The next tick plans the heads it left unrecorded and publishes each once.
    const next = await runTick(llm);
    expect(next.errors).toEqual([]);
    expect(next.state, next.reason).toBe('DONE');
    expect(next.branches.map((b) => [b.branch, b.pr, b.action, b.status])).toEqual(branches.map((b, i) => [b, prs[i], 'updated', 'success']));
    expect(asked(llm)).toHaveLength(3 + 4);
    expectOneNarratedComment(branches, ids);
  }, 180_000);
});
