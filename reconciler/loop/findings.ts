// Findings open tickets through the same path as any ticket: a pull request adding
// specs/tickets/T-NNNN.yaml with `finding: <key>`, reviewed and merged like any change (the merge
// opens the GitHub issue). One open ticket per finding: while it holds and has none, a PR proposes
// one; when it clears, a PR sets the ticket's status to closed. A PR the finding no longer needs
// is closed, and one a person closed stays closed while nothing changes.
//
// The findings, and their keys:
//   disk.<host>.<mount>  a disk over its alert threshold (the host-thresholds policy, from the live plan)
//   health.<host>.<service>  a service's health probe failed (made from the host over SSH, kinds/hosts/checks.ts)
//   backup.<host>.<name>  a backup is missing, stale, empty, or its count is off (read on the host, checks.ts)
//   drift.<kind>         live differs from the default branch in a kind (its drift PR is open)
//   apply.failed         the last apply on the default branch failed, or was interrupted
//   main.unapproved      the default branch holds commits nobody approved, not yet reverted or superseded
// A finding this tick could not look at (a host it could not reach, a probe with no curl on the
// host, no drift check after an apply) is left as it is: unknown is never "cleared".
import { relative } from 'node:path';
import { isMap, isScalar, stringify, type Node, type Pair } from 'yaml';
import type { GitHub } from '../github/client.js';
import type { SpecRepo } from '../git/repo.js';
import type { Resource } from '../kinds/kind.js';
import type { Ticket } from '../kinds/tickets/index.js';
import { isApplicable, type Planned } from '../plan/engine.js';
import type { PlanFinding } from '../plan/plan.js';
import type { LoadedSpecs } from '../specs/load.js';
import { findSecretLiterals } from '../specs/secrets.js';
import type { MainCommit } from '../state/loop.js';
import { short } from './pr-text.js';
import { logLine, mdCode, mdInline } from '../escape.js';
import { nextTicketId, reservedTicketIds } from './tickets.js';
import { branchPrefix, openProposal } from '../proposals/index.js';

export const FINDING_PREFIX = branchPrefix('finding');
/** fleetspec/finding/T-0009-disk_linux-home_root: the ticket id, then the key with its dots as underscores (a ref part may not end in ".lock"). */
const FINDING_BRANCH = /^fleetspec\/finding\/(T-[0-9]{4,})-([a-z0-9_-]+)$/;
export const FINDING_LABEL = 'finding';

export const FINDING_SOURCES = ['disk', 'drift', 'apply', 'unapproved', 'health', 'backup'] as const;
export type FindingSource = (typeof FINDING_SOURCES)[number];

/** A finding that holds: what its ticket says. */
export interface Finding {
  key: string;
  title: string;
  /** What was found, for the ticket's description (written once, when the ticket is proposed). */
  details: string;
  priority: NonNullable<Ticket['priority']>;
  hosts?: string[];
}

export interface Observed {
  /** The findings that hold now, by key. */
  holding: Map<string, Finding>;
  /** Whether this tick can tell that `key` does not hold. A key it could not look at is left as it is. */
  decided(key: string): boolean;
  /** Where the findings were looked for, for PR text: "main at abc1234". */
  at: string;
}

export interface ObserveInput {
  sources: ReadonlySet<FindingSource>;
  main: string;
  mainSha: string;
  /** The live plan of the default branch, when this tick made one (the drift check). */
  live?: Planned;
  /** Drift PRs open now, by kind. */
  driftPrs?: ReadonlyMap<string, number>;
  /** Hosts the plan could have read live (they have SSH settings): one of them not read leaves its disk findings undecided. */
  readableHosts?: ReadonlySet<string>;
  /** The last apply on the default branch (applied, failed or abandoned; or the baseline). */
  lastApply?: MainCommit;
  /** Commits refused since the trusted commit, oldest first: they hold until a revert or an approved PR moves the trusted base past them. */
  unapproved?: MainCommit[];
}

const MAX_LISTED = 20;

/** A mount as a key part: `/` is root, `/var/lib` is var-lib. */
export function mountPart(mount: string): string {
  const part = mount.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
  return part || 'root';
}

/** The disk finding's key for a host-thresholds finding, or undefined for any other finding. */
export function diskKey(f: PlanFinding): string | undefined {
  if (f.kind !== 'hosts' || !f.subject?.startsWith('disk.usage ')) return undefined;
  return `disk.${f.name.toLowerCase()}.${mountPart(f.subject.slice('disk.usage '.length))}`;
}

/** The code of a host check that could not be read this tick (checks.ts): its key is undecided. */
export const CHECK_NOT_READ = 'hosts.check-not-read';

/** The health or backup finding's key for a host check finding (subject "health <service>" or "backup <name>"), or undefined. */
export function checkKey(f: PlanFinding): { source: 'health' | 'backup'; key: string; name: string } | undefined {
  if (f.kind !== 'hosts' || !f.subject) return undefined;
  const m = /^(health|backup) ([a-z0-9][a-z0-9-]*)$/.exec(f.subject);
  if (!m) return undefined;
  const source = m[1] as 'health' | 'backup';
  return { source, key: `${source}.${f.name.toLowerCase()}.${m[2]}`, name: m[2]! };
}

export function observeFindings(input: ObserveInput): Observed {
  const { sources, main, mainSha, live } = input;
  const holding = new Map<string, Finding>();
  const at = `${main} at ${short(mainSha)}`;
  const plan = live?.plan;
  if (sources.has('disk') && plan) {
    for (const f of plan.findings) {
      const key = diskKey(f);
      if (!key || holding.has(key)) continue;
      const mount = f.subject!.slice('disk.usage '.length);
      holding.set(key, {
        key,
        title: `Disk ${mount} on ${f.name} is over its alert threshold`,
        details: [`${f.message}.`, ...(f.hint ? [`What to do: ${f.hint}.`] : []), ...(f.where ? [`The threshold is set in \`${f.where}\`${f.policy ? ` (policy ${f.policy})` : ''}.`] : [])].join('\n'),
        priority: f.severity === 'error' ? 'critical' : 'high',
        hosts: [f.name],
      });
    }
  }
  // Host checks: a failing one holds; one not read this tick is neither held nor cleared.
  const unreadChecks = new Set<string>();
  for (const f of plan?.findings ?? []) {
    const check = checkKey(f);
    if (!check || !sources.has(check.source)) continue;
    if (f.code === CHECK_NOT_READ) {
      unreadChecks.add(check.key);
      continue;
    }
    if (holding.has(check.key)) continue;
    holding.set(check.key, {
      key: check.key,
      title: check.source === 'health' ? `${check.name} on ${f.name} fails its health probe` : `Backup ${check.name} on ${f.name} needs a look`,
      details: [`${f.message}.`, ...(f.hint ? [`What to do: ${f.hint}.`] : []), ...(f.where ? [`The ${check.source === 'health' ? 'probe' : 'backup'} is declared in \`${f.where}\`.`] : [])].join('\n'),
      // A service down or a backup missing or stale is urgent; a rotation keeping one too many or too few is not.
      priority: f.code === 'hosts.backup-count' ? 'normal' : 'high',
      hosts: [f.name],
    });
  }
  if (sources.has('drift') && live?.byDriver) {
    for (const [kind, part] of live.byDriver) {
      const changes = part.changes.filter(isApplicable);
      if (!changes.length) continue;
      const pr = input.driftPrs?.get(kind);
      holding.set(`drift.${kind}`, {
        key: `drift.${kind}`,
        title: `Live differs from ${main} in ${kind}`,
        details: [
          `What live lacks or holds beyond \`${main}\`:`,
          ...changes.slice(0, MAX_LISTED).map((c) => `- \`${c.kind}/${c.name}\` ${c.action}`),
          ...(changes.length > MAX_LISTED ? [`- and ${changes.length - MAX_LISTED} more`] : []),
          '',
          `${pr ? `The drift PR #${pr}` : `A drift PR (fleetspec/drift-${kind})`} holds the plan that puts live back as \`${main}\` says: merge it after review, or change the specs to match live.`,
        ].join('\n'),
        priority: 'normal',
      });
    }
  }
  const last = input.lastApply;
  if (sources.has('apply') && last && (last.outcome === 'failed' || last.outcome === 'abandoned')) {
    holding.set('apply.failed', {
      key: 'apply.failed',
      title: `The last apply on ${main} ${last.outcome === 'failed' ? 'failed' : 'was interrupted'}`,
      details: [
        `${short(last.sha)}${last.pr ? ` (#${last.pr})` : ''} ${last.outcome === 'failed' ? 'failed to apply' : 'was interrupted while it applied'}${last.runId ? ` in run ${last.runId}` : ''}: ${last.detail ?? 'no detail recorded'}.`,
        'fleetspec does not retry it. What remains unapplied goes out as drift PRs, for a fresh review.',
      ].join('\n'),
      priority: 'high',
    });
  }
  const unapproved = input.unapproved ?? [];
  if (sources.has('unapproved') && unapproved.length) {
    holding.set('main.unapproved', {
      key: 'main.unapproved',
      title: `${main} holds changes nobody approved`,
      details: [
        `fleetspec refused to apply these commits on \`${main}\`:`,
        ...unapproved.slice(-MAX_LISTED).map((c) => `- ${short(c.sha)}${c.pr ? ` (#${c.pr})` : ''}: ${c.detail ?? 'not approved'}`),
        '',
        `Revert them on \`${main}\`, or review the drift PRs: merging one applies \`${main}\` as it is now.`,
      ].join('\n'),
      priority: 'high',
    });
  }
  const unreadHosts = new Set(
    (plan?.unknown ?? []).filter((u) => u.kind === 'hosts' && (input.readableHosts?.has(u.name) ?? true)).map((u) => u.name.toLowerCase()),
  );
  const unknownHosts = new Set((plan?.unknown ?? []).filter((u) => u.kind === 'hosts').map((u) => u.name.toLowerCase()));
  const decided = (key: string): boolean => {
    const [head, second] = key.split('.');
    if (key === 'apply.failed') return sources.has('apply');
    if (key === 'main.unapproved') return sources.has('unapproved');
    if (head === 'drift') return sources.has('drift') && Boolean(live?.byDriver);
    if (head === 'disk') return sources.has('disk') && Boolean(plan) && !unreadHosts.has(second ?? '');
    // A host not read (no SSH settings included: its checks only run live) leaves its checks undecided.
    if (head === 'health' || head === 'backup') return sources.has(head) && Boolean(plan) && !unknownHosts.has(second ?? '') && !unreadChecks.has(key);
    return false; // a key fleetspec does not look for: a person's own
  };
  return { holding, decided, at };
}

export interface FindingsContext {
  git: SpecRepo;
  github: GitHub;
  /** The specs folder inside the repository, such as `specs`. */
  specsPath: string;
  progress(message: string): void;
}

export interface FindingAction {
  key: string;
  id: string;
  branch: string;
  pr?: number;
  /**
   * opened: a PR proposes the ticket; closing: a PR proposes closing it; updated: that PR was
   * rewritten; withdrawn: a PR the finding no longer needs was closed; declined: a person closed
   * the PR, so it stays closed while the finding is as it was.
   */
  action: 'opened' | 'closing' | 'updated' | 'withdrawn' | 'declined';
}

const branchOf = (id: string, key: string) => `${FINDING_PREFIX}${id}-${key.replace(/\./g, '_')}`;

/** The ticket spec a finding proposes. */
export function findingTicket(finding: Finding, id: string, at: string): Ticket {
  const ticket: Ticket = {
    kind: 'Ticket',
    id,
    title: finding.title.slice(0, 256),
    description: `${finding.details}\n\nFound by fleetspec on ${at}.`,
    priority: finding.priority,
    status: 'open',
    labels: [FINDING_LABEL],
    ...(finding.hosts?.length ? { hosts: finding.hosts } : {}),
    finding: finding.key,
  };
  // Git keeps what it is given forever: details that look like a secret stay out of it.
  if (findSecretLiterals(ticket).length) ticket.description = `The details looked like they hold a secret and were left out; the plan of ${at} has them.`;
  return ticket;
}

/** The ticket's file with `status: closed`, everything else (comments, order, quoting) as it was. */
export function closedText(resource: Resource<Ticket>): string {
  const { doc, source } = resource.doc;
  const contents = doc.contents;
  const pair = isMap(contents) ? (contents.items as Pair<Node, Node>[]).find((p) => isScalar(p.key) && p.key.value === 'status') : undefined;
  const range = pair?.value?.range;
  if (!range) throw new Error(`${source.file}: ${resource.name} has no status to set`);
  return `${source.text.slice(0, range[0])}closed${source.text.slice(range[1])}`;
}

/**
 * Brings the finding tickets' PRs in line with what holds: at most one PR per finding, opened,
 * rewritten, or closed. `heads` are the branches fetched this tick; `taken` are ticket ids
 * reserved this tick by other means (tickets pulled from issues).
 */
export async function reconcileFindings(
  ctx: FindingsContext,
  main: string,
  mainSha: string,
  specs: LoadedSpecs,
  heads: ReadonlyMap<string, string>,
  observed: Observed,
  taken: Iterable<string> = [],
): Promise<FindingAction[]> {
  const tickets = specs.index.all('tickets') as Resource<Ticket>[];
  const inMain = new Set(tickets.map((t) => t.name));
  const open = new Map<string, Resource<Ticket>>();
  for (const t of tickets) if (t.value.finding && t.value.status !== 'closed' && !open.has(t.value.finding)) open.set(t.value.finding, t);
  const used = reservedTicketIds(specs, heads.keys());
  for (const id of taken) used.add(id);
  const branches = new Map<string, { branch: string; id: string; sha: string }[]>();
  for (const [branch, sha] of heads) {
    const m = FINDING_BRANCH.exec(branch);
    if (!m) continue;
    const key = m[2]!.replace(/_/g, '.');
    branches.set(key, [...(branches.get(key) ?? []), { branch, id: m[1]!, sha }]);
  }
  // Work: a finding without its ticket, a cleared one with its ticket open, or a branch to look after.
  const keys = [...new Set([...observed.holding.keys(), ...open.keys(), ...branches.keys()])]
    .filter((k) => (observed.holding.has(k) ? !open.has(k) || branches.has(k) : observed.decided(k) && (open.has(k) || branches.has(k))))
    .sort();
  if (!keys.length) return [];
  const pulls = new Map((await ctx.github.listOpenPulls()).filter((p) => p.headRef.startsWith(FINDING_PREFIX)).map((p) => [p.headRef, p]));
  const merged = (sha: string) => ctx.git.isAncestor(sha, mainSha);
  const out: FindingAction[] = [];

  for (const key of keys) {
    const finding = observed.holding.get(key);
    const ticket = open.get(key);
    const mine = branches.get(key) ?? [];
    // What the finding needs now: a ticket proposed, a ticket closed, or nothing.
    let want: { id: string; verb: 'opened' | 'closing' } | undefined;
    if (finding && !ticket) {
      let reuse: string | undefined;
      for (const b of mine) if (!inMain.has(b.id) && (pulls.has(b.branch) || !(await merged(b.sha)))) reuse ??= b.id;
      want = { id: reuse ?? nextTicketId(used), verb: 'opened' };
      used.add(want.id);
    } else if (!finding && ticket) {
      want = { id: ticket.name, verb: 'closing' };
    }
    const target = want ? branchOf(want.id, key) : undefined;

    for (const b of mine) {
      if (b.branch === target) continue;
      const pr = pulls.get(b.branch);
      if (pr) {
        const why = !finding
          ? 'it cleared'
          : ticket
            ? b.id === ticket.name
              ? `it holds again, so ${ticket.name} stays open`
              : `${ticket.name} is its open ticket`
            : `${b.id} is taken on ${main}; proposed again as ${want!.id}`;
        ctx.progress(`finding ${key}: closing #${pr.number}, ${why}`);
        await ctx.github.comment(pr.number, `The finding ${mdCode(key)} no longer needs this: ${mdInline(why)} (${mdInline(observed.at)}). Closing.`);
        await ctx.github.updatePull(pr.number, { state: 'closed' });
        out.push({ key, id: b.id, branch: b.branch, pr: pr.number, action: 'withdrawn' });
      }
      await ctx.git.deleteRemoteBranch(b.branch);
    }
    if (!want || !target) continue;

    const existing = mine.find((b) => b.branch === target);
    const pr = pulls.get(target);
    if (existing && !pr && !(await merged(existing.sha))) {
      // A person closed this PR: respected while the finding stays as it is.
      out.push({ key, id: want.id, branch: target, action: 'declined' });
      continue;
    }
    const path = want.verb === 'opened' ? `${ctx.specsPath}/tickets/${want.id}.yaml` : relative(ctx.git.dir, ticket!.doc.source.file);
    const text = want.verb === 'opened' ? additionText(findingTicket(finding!, want.id, observed.at)) : closedText(ticket!);
    if (pr) {
      // A proposed ticket keeps the details it was proposed with; a closing PR follows the ticket's file on main.
      if (want.verb === 'opened' || (await ctx.git.readFile(existing?.sha ?? pr.headSha, path).catch(() => undefined)) === text) continue;
      ctx.progress(`finding ${key}: rewriting ${target}`);
      await ctx.git.writeBranch(target, mainSha, { [path]: text }, closingMessage(want.id, key));
      out.push({ key, id: want.id, branch: target, pr: pr.number, action: 'updated' });
      continue;
    }
    ctx.progress(`finding ${key}: ${want.verb === 'opened' ? `proposing ${want.id}` : `proposing to close ${want.id}`} on ${target}`);
    const message = want.verb === 'opened' ? `fleetspec: open ${want.id} for the finding ${key}` : closingMessage(want.id, key);
    const title = want.verb === 'opened' ? `${want.id}: ${finding!.title}` : `${want.id}: close, ${key} cleared`;
    const opened = await openProposal(ctx, main, {
      branch: target,
      base: mainSha,
      files: { [path]: text },
      message,
      title,
      body: pullBody(want.verb, want.id, key, path, main, observed.at, ticket),
      open: null,
      // A finding branch without a PR reads as one a person declined: do not leave one behind.
      dropBranchOnFailure: true,
    });
    if (!opened) continue;
    out.push({ key, id: want.id, branch: target, pr: opened.pr.number, action: want.verb });
  }
  return out;
}

const closingMessage = (id: string, key: string) => `fleetspec: close ${id}, the finding ${key} cleared`;

function additionText(ticket: Ticket): string {
  return [
    '# yaml-language-server: $schema=../schemas/tickets.schema.json',
    `# Opened by fleetspec for the finding ${logLine(ticket.finding ?? '')}; fleetspec proposes closing it when the finding clears.`,
    stringify(ticket, { lineWidth: 0 }),
  ].join('\n');
}

function pullBody(verb: 'opened' | 'closing', id: string, key: string, path: string, main: string, at: string, ticket?: Resource<Ticket>): string {
  if (verb === 'opened') {
    return [
      `fleetspec found ${mdCode(key)} on ${mdInline(at)}. This adds ${mdCode(path)}, so the finding has a ticket, reviewed like any change; merging it opens ${id}'s GitHub issue.`,
      '',
      `If the finding clears before this is merged, fleetspec closes this PR. Once ${id} is on ${mdCode(main)}, fleetspec proposes closing it when the finding clears. Closing this PR declines the ticket while the finding holds.`,
    ].join('\n');
  }
  return [
    `The finding ${mdCode(key)} no longer holds (${mdInline(at)}). This sets ${id} (${mdInline(ticket?.value.title ?? key)}) to \`status: closed\` in ${mdCode(path)}; merging it closes ${id}'s GitHub issue.`,
    '',
    'If the finding returns before this is merged, fleetspec closes this PR.',
  ].join('\n');
}
