// Phase 5, findings (a disk over threshold, a failed apply, unapproved commits, drift): one ticket each,
// proposed and closed by PRs like any ticket; what a finding is and its PRs live in loop/findings.ts.
import type { Host } from '../../kinds/hosts/index.js';
import type { Planned } from '../../plan/engine.js';
import type { LoadedSpecs } from '../../specs/load.js';
import { lastApply, unapprovedSinceApplied } from '../../state/loop.js';
import { observeFindings, reconcileFindings, type FindingAction, type FindingSource } from '../findings.js';
import type { Services, TickReport } from './types.js';
import { suspensionOf } from '../../policies/suspend.js';

/** Observes the findings (the live plan when the drift check made one, the ledger, git) and reconciles their tickets. */
export async function findingTickets(
  svc: Services,
  sources: ReadonlySet<FindingSource>,
  main: string,
  /** The trusted commit: fleetspec's ticket PRs start from it. */
  mainSha: string,
  loaded: LoadedSpecs,
  heads: Map<string, string>,
  live: Planned | undefined,
  report: Pick<TickReport, 'drift' | 'pulled'>,
): Promise<FindingAction[]> {
  const [last, unapproved] = await Promise.all([lastApply(svc.db, svc.repoKey), unapprovedSinceApplied(svc.db, svc.repoKey)]);
  // A suspended resource's findings (a disk over threshold on a suspended host) open no ticket: fleetspec leaves it alone.
  const suspensions = live?.suspensions ?? [];
  if (live?.plan && suspensions.length) live = { ...live, plan: { ...live.plan, findings: live.plan.findings.filter((f) => !suspensionOf(suspensions, f, loaded.index)) } };
  const observed = observeFindings({
    sources,
    main,
    mainSha,
    ...(live ? { live } : {}),
    driftPrs: new Map(report.drift.filter((d) => d.action !== 'closed').map((d) => [d.kind, d.pr])),
    readableHosts: new Set(loaded.index.all('hosts').filter((h) => (h.value as Host).ssh).map((h) => h.name)),
    ...(last ? { lastApply: last } : {}),
    // A revert moves the trusted base past the refused commits, which then no longer count.
    unapproved: unapproved.commits,
  });
  // Ids the tickets pulled from issues took this tick, which `heads` (fetched before) cannot show.
  return reconcileFindings(svc, main, mainSha, loaded, heads, observed, report.pulled.map((p) => p.id));
}
