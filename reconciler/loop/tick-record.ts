// What a tick records on its run when it ends (state/reports.ts): its report, and what the live plan
// of the trusted commit (the drift check) found: the changes per kind (drift, read-only drift included) and as findings. `fleetspec status` reads it.
import type { Planned } from '../plan/engine.js';
import type { TickRecord } from '../state/reports.js';
import type { TickReport } from './phases/types.js';

export function tickRecord(report: TickReport, durationMs: number, live?: Planned, trustedSha?: string): TickRecord {
  const record: TickRecord = {
    durationMs,
    branches: report.branches.map((b) => ({ ...b })),
    main: report.main.map((m) => ({ ...m })),
    ...(report.applied ? { applied: { ...report.applied } } : {}),
    drift: report.drift.map((d) => ({ ...d })),
    findings: report.findings.map((f) => ({ ...f })),
    pulled: report.pulled.map((p) => ({ ...p })),
    waiting: report.waiting,
    ...(report.scale?.length ? { scale: report.scale.map(({ finding, ...s }) => ({ ...s, ...(finding ? { detail: finding.message } : {}) })) } : {}),
    ...(report.commands.length ? { commands: report.commands.map(({ id: _, ...c }) => c) } : {}),
    ...(report.held?.length ? { held: report.held.map((h) => ({ ...h })) } : {}),
    ...(report.suspended?.length ? { suspended: [...report.suspended] } : {}),
    errors: [...report.errors],
  };
  const plan = live?.plan;
  if (plan) {
    const drift: Record<string, number> = {};
    for (const c of plan.changes.filter((c) => c.action !== 'no-op')) drift[c.kind] = (drift[c.kind] ?? 0) + 1;
    record.live = {
      ...(trustedSha ? { trustedSha } : {}),
      drift,
      verdict: { status: plan.verdict.status, errors: plan.verdict.errors, warnings: plan.verdict.warnings },
      findings: plan.findings.map((f) => ({ severity: f.severity, kind: f.kind, name: f.name, code: f.code, message: f.message })),
    };
  }
  return record;
}
