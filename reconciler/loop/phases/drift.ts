// Phase 4, drift: what live differs from the trusted commit by, per kind, as one PR each. Measured
// against the trusted commit, never the tip of the default branch: a refused change is not re-proposed.
import { countBySeverity } from '../../diagnostics.js';
import { isApplicable, scopedPlan, type Planned } from '../../plan/engine.js';
import { buildPlan } from '../../plan/plan.js';
import type { LoadedSpecs } from '../../specs/load.js';
import { botWrote, plannedCommit, recordPlanned } from '../../state/loop.js';
import * as text from '../pr-text.js';
import { mdCode, mdInline } from '../../escape.js';
import { openingText } from '../../policies/windows.js';
import { windowHold } from './windows.js';
import { checkStop, planLoaded, publishPlan } from './shared.js';
import { DRIFT_PREFIX, type Services, type TickReport, type TrustedRules } from './types.js';

export { DRIFT_PREFIX } from './types.js';

/** Whether a drift branch's head is fleetspec's own commit recording exactly `record` on top of the trusted commit. */
async function sameRecord(svc: Services, branch: string, head: string, trusted: string, path: string, record: string): Promise<boolean> {
  if (!(await botWrote(svc.db, svc.repoKey, head, branch))) return false;
  const [parent] = await svc.git.parents(head).catch(() => []);
  return parent === trusted && (await svc.git.readFile(head, path).catch(() => undefined)) === record;
}

/** Live against the trusted commit, per kind: one PR each while it differs, closed when it matches. */
export async function reconcileDrift(
  svc: Services,
  runId: number,
  main: string,
  loaded: LoadedSpecs,
  heads: Map<string, string>,
  rules: TrustedRules,
  drift: TickReport['drift'],
  /** Where what sync windows hold is told (report.held). */
  holds?: Pick<TickReport, 'held'>,
): Promise<Planned | undefined> {
  const { sha: trusted, policy } = rules;
  // The specs were read before; the stacks folder needs the trusted commit checked out again.
  await svc.git.checkout(trusted);
  if (countBySeverity(loaded.diagnostics).errors) {
    svc.progress(`${main} at ${text.short(trusted)} (the trusted commit) has invalid specs; no drift check`);
    return undefined;
  }
  const planned = await planLoaded(svc, loaded, policy);
  const { byDriver, plan } = planned;
  const open = new Map((await svc.github.listOpenPulls()).filter((p) => p.headRef.startsWith(DRIFT_PREFIX)).map((p) => [p.headRef.slice(DRIFT_PREFIX.length), p]));
  for (const [kind, part] of byDriver!) {
    const pr = open.get(kind);
    if (!part.changes.some(isApplicable)) {
      if (pr && plan!.suspended?.some((s) => s.kind === kind)) {
        // Suspended: fleetspec leaves its drift alone, so it proposes nothing about it.
        await svc.github.comment(pr.number, `${mdCode(kind)} is suspended (${mdInline(plan!.suspended.find((s) => s.kind === kind)!.reason)}): fleetspec proposes nothing for it; closing.`);
        await svc.github.updatePull(pr.number, { state: 'closed' });
        await svc.git.deleteRemoteBranch(pr.headRef);
        drift.push({ kind, pr: pr.number, action: 'closed' });
      } else if (pr) {
        await svc.github.comment(pr.number, `Live matches ${mdCode(main)} for ${mdCode(kind)} again (${text.short(trusted)}); closing.`);
        await svc.github.updatePull(pr.number, { state: 'closed' });
        await svc.git.deleteRemoteBranch(pr.headRef);
        drift.push({ kind, pr: pr.number, action: 'closed' });
      }
      continue;
    }
    checkStop(svc);
    // A sync window that holds this kind's drift now: no drift PR is opened or updated until it lets go (an open one stays as it is).
    const window = windowHold(svc, rules, part.changes.filter(isApplicable), 'drift', loaded.index);
    if (window) {
      const resource = `${window.hold.entry.kind}/${window.hold.entry.name}`;
      const detail = `${resource}: ${window.hold.why}; drift PR held until ${openingText(window.opens)}`;
      svc.progress(`drift in ${kind}: not proposed now: ${detail}`);
      if (holds) (holds.held ??= []).push({ pr: pr?.number ?? null, kind, resource, window: window.hold.window.name, opens: window.opens?.toISOString() ?? null, detail });
      continue;
    }
    // The scoped plan is exactly what planning with this kind's driver alone gives: what approval covers.
    const scoped = scopedPlan(planned, kind, policy);
    const branch = `${DRIFT_PREFIX}${kind}`;
    const record = text.driftRecord(kind, buildPlan(part.changes, { mode: plan!.mode }), trusted, main); // volatile findings and error texts left out
    const path = `drift/${kind}.md`;
    const tip = pr?.headSha ?? heads.get(branch);
    if (!pr && tip && (await sameRecord(svc, branch, tip, trusted, path, record))) {
      // A person closed this drift PR and the drift has not changed since: not reopened every tick.
      continue;
    }
    let head = pr ? tip : undefined;
    if (!head || !(await sameRecord(svc, branch, head, trusted, path, record))) {
      // Also when someone else pushed to fleetspec's branch: their commit is replaced, never planned.
      svc.progress(`drift in ${kind}: writing ${branch}`);
      head = await svc.git.writeBranch(branch, trusted, { [path]: record }, `fleetspec: record drift in ${kind}`);
    }
    if (!head) continue;
    const opened = !pr;
    const driftPr = pr ?? (await svc.github.createPull({ branch, base: main, title: `fleetspec: drift in ${kind}`, body: text.driftBody(kind, main) }));
    const known = await plannedCommit(svc.db, svc.repoKey, head);
    if (known && known.planHash === scoped.hash && known.pr === driftPr.number) {
      drift.push({ kind, pr: driftPr.number, action: 'unchanged' });
      continue;
    }
    const published = await publishPlan(svc, driftPr, head, scoped, rules.approvers, kind);
    await recordPlanned(svc.db, svc.repoKey, { sha: head, scope: kind, pr: driftPr.number, planHash: scoped.hash, plan: scoped, problem: null, runId, trustedSha: rules.sha, rulesDigest: rules.digest, carries: published.carries });
    drift.push({ kind, pr: driftPr.number, action: opened ? 'opened' : 'updated' });
  }
  return planned;
}
