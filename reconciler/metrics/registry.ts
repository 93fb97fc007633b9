// The daemon's Prometheus metrics (prom-client), fed from what the daemon already has: each
// tick's TickReport (or its failure), the narratives' token usage and GitHub's rate-limit headers
// (metrics/events.ts), and, for drift and findings, the plans the ledger recorded for the run and
// for the open drift PRs. Loaded only when `fleetspec daemon --listen` is given.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { KINDS } from '../kinds/index.js';
import type { TickReport } from '../loop/phases/types.js';
import type { Plan } from '../plan/plan.js';
import type { Queryable } from '../state/db.js';
import { onMetric } from './events.js';

/** How a tick ended, as the tick-duration histogram's `outcome` label. */
export type TickOutcome = 'done' | 'blocked' | 'failed' | 'error' | 'standby' | 'other';

export const APPLY_OUTCOMES = ['applied', 'stale', 'invalid', 'blocked', 'failed', 'interrupted'] as const;
export const SEVERITIES = ['error', 'warning'] as const;

/** Seconds; a quiet tick takes well under one, a tick that plans and applies minutes. */
const TICK_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

export class FleetMetrics {
  readonly registry = new Registry();
  readonly tickDuration = new Histogram({ name: 'fleetspec_tick_duration_seconds', help: 'How long each tick took, by how it ended (done, blocked, failed, error, standby).', labelNames: ['outcome'] as const, buckets: TICK_BUCKETS, registers: [this.registry] });
  readonly lastSuccess = new Gauge({ name: 'fleetspec_last_successful_tick_timestamp_seconds', help: 'When the last tick that ended DONE or BLOCKED (or found another reconciler leading) finished, in unix seconds: the heartbeat.', registers: [this.registry] });
  readonly started = new Gauge({ name: 'fleetspec_daemon_start_timestamp_seconds', help: 'When this daemon process started, in unix seconds.', registers: [this.registry] });
  readonly awaiting = new Gauge({ name: 'fleetspec_pull_requests_awaiting_approval', help: 'Open pull requests fleetspec planned (spec branches and drift) as of the last tick: the review queue.', registers: [this.registry] });
  readonly tokens = new Counter({ name: 'fleetspec_llm_tokens_total', help: 'LLM tokens the narratives used, as the API reported them, by model and kind (prompt, completion).', labelNames: ['model', 'kind'] as const, registers: [this.registry] });
  readonly applies = new Counter({ name: 'fleetspec_applies_total', help: 'Applies of approved merges, by outcome (applied, stale, invalid, blocked, failed; interrupted: found unfinished at start).', labelNames: ['outcome'] as const, registers: [this.registry] });
  readonly drifted = new Gauge({ name: 'fleetspec_drifted_resources', help: 'Resources whose live state differs from the trusted commit, by kind, as the open drift PRs plan them.', labelNames: ['kind'] as const, registers: [this.registry] });
  readonly findings = new Gauge({ name: 'fleetspec_findings', help: 'Findings in the plans of the last tick, by severity (error, warning).', labelNames: ['severity'] as const, registers: [this.registry] });
  readonly rateLimit = new Gauge({ name: 'fleetspec_github_rate_limit_remaining', help: "Requests left in GitHub's rate-limit window, from the last answer's x-ratelimit-remaining, by resource.", labelNames: ['resource'] as const, registers: [this.registry] });
  private readonly unlisten: () => void;

  constructor(now = Date.now()) {
    this.started.set(now / 1000);
    // Every label value that is known in advance has a series from the start: a panel or alert finds 0, not nothing.
    for (const outcome of APPLY_OUTCOMES) this.applies.inc({ outcome }, 0);
    for (const kind of KINDS) this.drifted.set({ kind: kind.folder }, 0);
    for (const severity of SEVERITIES) this.findings.set({ severity }, 0);
    this.unlisten = onMetric((event) => {
      if (event.type === 'llm-usage') {
        this.tokens.inc({ model: event.model, kind: 'prompt' }, event.promptTokens);
        this.tokens.inc({ model: event.model, kind: 'completion' }, event.completionTokens);
      } else this.rateLimit.set({ resource: event.resource }, event.remaining);
    });
  }

  /** A tick that returned its report: its duration, heartbeat, queue, applies, and (from the ledger) drift and findings. */
  async tickEnded(report: TickReport, durationMs: number, db: Queryable | undefined, repo: string, now = Date.now()): Promise<void> {
    const outcome = outcomeOf(report.state);
    this.tickDuration.observe({ outcome }, durationMs / 1000);
    if (outcome === 'done' || outcome === 'blocked') this.lastSuccess.set(now / 1000);
    this.awaiting.set(report.branches.length + report.drift.filter((d) => d.action !== 'closed').length);
    if (report.applied) this.applies.inc({ outcome: report.applied.status });
    if (report.recovered.applies.length) this.applies.inc({ outcome: 'interrupted' }, report.recovered.applies.length);
    if (db) await this.fromLedger(report, db, repo);
  }

  /** A tick that threw (`report` when it got as far as a run), or one that stood by for another leader. */
  tickFailed(durationMs: number, report?: TickReport): void {
    this.tickDuration.observe({ outcome: report ? outcomeOf(report.state) : 'error' }, durationMs / 1000);
  }

  tickStoodBy(durationMs: number, now = Date.now()): void {
    this.tickDuration.observe({ outcome: 'standby' }, durationMs / 1000);
    // Another reconciler leads: this daemon is alive and doing what it should.
    this.lastSuccess.set(now / 1000);
  }

  /** Drifted resources from the open drift PRs' plans; findings from this run's plans and theirs, each finding once. */
  private async fromLedger(report: TickReport, db: Queryable, repo: string): Promise<void> {
    const plans: Plan[] = [];
    const drifted = new Map<string, number>(KINDS.map((k) => [k.folder, 0]));
    for (const d of report.drift) {
      if (d.action === 'closed') continue;
      const [row] = await db.query<{ plan: Plan | string | null }>(`select plan from planned_commits where repo = $1 and pr = $2 and scope = $3 and plan is not null order by created_at desc limit 1`, [repo, d.pr, d.kind]);
      const plan = parsePlan(row?.plan);
      if (!plan) continue;
      plans.push(plan);
      drifted.set(d.kind, plan.changes.filter((c) => c.action !== 'no-op').length);
    }
    for (const [kind, n] of drifted) this.drifted.set({ kind }, n);
    const rows = await db.query<{ plan: Plan | string | null }>(`select plan from planned_commits where repo = $1 and run_id = $2 and plan is not null`, [repo, report.run]);
    for (const row of rows) {
      const plan = parsePlan(row.plan);
      if (plan) plans.push(plan);
    }
    const seen = new Set<string>();
    const counts = new Map<string, number>(SEVERITIES.map((s) => [s, 0]));
    for (const plan of plans) {
      for (const f of plan.findings) {
        const key = JSON.stringify([f.kind, f.name, f.code, f.severity, f.message]);
        if (seen.has(key)) continue;
        seen.add(key);
        counts.set(f.severity, (counts.get(f.severity) ?? 0) + 1);
      }
    }
    for (const [severity, n] of counts) this.findings.set({ severity }, n);
  }

  /** The text exposition format, and its content type. */
  async expose(): Promise<{ body: string; contentType: string }> {
    return { body: await this.registry.metrics(), contentType: this.registry.contentType };
  }

  close(): void {
    this.unlisten();
  }
}

function outcomeOf(state: TickReport['state']): TickOutcome {
  switch (state) {
    case 'DONE':
      return 'done';
    case 'BLOCKED':
      return 'blocked';
    case 'FAILED':
    case 'ROLLBACK':
      return 'failed';
    default:
      return 'other';
  }
}

function parsePlan(value: Plan | string | null | undefined): Plan | undefined {
  if (!value) return undefined;
  // PGlite may hand a jsonb column back as text.
  return typeof value === 'string' ? (JSON.parse(value) as Plan) : value;
}
