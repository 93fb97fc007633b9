// `fleetspec tickets list|push` (pull is in loop.ts, beside reconcile): the seeds' manager
// workflow (ticket-push, ticket-pull) with git as the source of truth. list shows the tickets
// of the specs, and with --live how each stands on GitHub; push brings GitHub's issues to what
// the specs say, showing the plan first and applying it only with --yes.
import { basename } from 'node:path';
import { countBySeverity, formatDiagnostic } from '../diagnostics.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { ticketsDriver, type TicketIssue } from '../kinds/tickets/driver.js';
import type { Ticket } from '../kinds/tickets/index.js';
import { planFleet } from '../plan/engine.js';
import { hasChanges, type ResourceChange } from '../plan/plan.js';
import { loadSpecs } from '../specs/load.js';
import type { Output } from './output.js';
import { logLine } from '../escape.js';
import { applyApproved, engineOptions, renderPlan, type ApplyCommandOptions } from './plan.js';
import { policyContext } from './policy.js';
import { printTable, withStore } from './store.js';

export interface TicketsListOptions {
  specs: string;
  live?: boolean;
  format: 'text' | 'json';
}

export interface TicketsPushOptions extends ApplyCommandOptions {
  specs: string;
  yes?: boolean;
}

const SYNC: Record<ResourceChange['action'], string> = {
  'no-op': 'in sync',
  create: 'to open',
  update: 'to update',
  replace: 'to update',
  delete: 'to close',
  drift: 'edited on GitHub',
};

export async function ticketsList(opts: TicketsListOptions, out: Output): Promise<ExitCode> {
  const loaded = await loadSpecs(opts.specs);
  for (const d of loaded.diagnostics) out.stderr(formatDiagnostic(d, out.color));
  if (countBySeverity(loaded.diagnostics).errors) {
    out.stderr('fleetspec tickets list: the specs are invalid');
    return EXIT.INVALID;
  }
  const tickets = loaded.index.all('tickets').map((r) => ({ ticket: r.value as Ticket, file: r.doc.source.file }));
  tickets.sort((a, b) => (a.ticket.id < b.ticket.id ? -1 : 1));
  const live = new Map<string, { issue?: TicketIssue; sync: string }>();
  if (opts.live) {
    const code = await withStore(out, 'tickets list', async (db) => {
      const { options, close } = await engineOptions(db, opts.specs, 'live', { noSsh: true }, out);
      try {
        if (!options.issues) {
          out.stderr(`fleetspec tickets list --live: ${logLine(options.noIssues ?? '')}`);
          return EXIT.INVALID;
        }
        const { plan } = await planFleet({ ...options, loaded: Promise.resolve(loaded), drivers: [ticketsDriver] });
        for (const u of plan!.unknown) live.set(u.name, { sync: `not read: ${u.reason}` });
        for (const c of plan!.changes) {
          const issue = (c.before ?? c.after) as TicketIssue | null;
          live.set(c.name, { ...(issue?.number ? { issue } : {}), sync: c.action === 'update' && (c.after as TicketIssue).state === 'closed' && (c.before as TicketIssue).state === 'open' ? 'to close' : SYNC[c.action] });
        }
        return EXIT.OK;
      } finally {
        await close();
      }
    });
    if (code !== EXIT.OK) return code;
  }
  if (opts.format === 'json') {
    const rows = tickets.map(({ ticket, file }) => {
      const l = live.get(ticket.id);
      return { ...ticket, file, ...(l ? { sync: l.sync, issue: l.issue ? { number: l.issue.number, url: l.issue.url, state: l.issue.state } : null } : {}) };
    });
    // Issues of tickets no spec holds any more (to close) are listed too.
    const orphans = [...live].filter(([id]) => !tickets.some((t) => t.ticket.id === id)).map(([id, l]) => ({ id, sync: l.sync, issue: l.issue ? { number: l.issue.number, url: l.issue.url, state: l.issue.state } : null }));
    out.stdout(JSON.stringify([...rows, ...orphans], null, 2));
    return EXIT.OK;
  }
  const header = ['ID', 'STATUS', 'PRIORITY', 'ASSIGNEE', 'TITLE', ...(opts.live ? ['ISSUE', 'GITHUB'] : [])];
  const rows = tickets.map(({ ticket }) => {
    const l = live.get(ticket.id);
    return [ticket.id, ticket.status, ticket.priority ?? 'normal', ticket.assignee ?? '-', ticket.title, ...(opts.live ? [l?.issue?.number ? `#${l.issue.number}` : '-', l?.sync ?? '-'] : [])];
  });
  for (const [id, l] of live) if (!tickets.some((t) => t.ticket.id === id)) rows.push([id, '-', '-', '-', '(no spec)', l.issue?.number ? `#${l.issue.number}` : '-', l.sync]);
  if (rows.length === 0) out.stdout(`No tickets in ${opts.specs}/tickets.`);
  else printTable(out, header, rows);
  return EXIT.OK;
}

export function ticketsPush(opts: TicketsPushOptions, out: Output): Promise<ExitCode> {
  return withStore(out, 'tickets push', async (db) => {
    const policies = await policyContext(opts.specs, opts);
    for (const d of policies.diagnostics) out.stderr(formatDiagnostic(d, out.color));
    if (!policies.policy) {
      out.stderr('fleetspec tickets push: the policies are invalid; nothing was pushed');
      return EXIT.INVALID;
    }
    const { options, close } = await engineOptions(db, opts.specs, 'live', { ...opts, noSsh: true }, out);
    let plan;
    try {
      if (!options.issues) {
        out.stderr(`fleetspec tickets push: ${logLine(options.noIssues ?? '')}`);
        return EXIT.INVALID;
      }
      const planned = await planFleet({ ...options, drivers: [ticketsDriver], policy: policies.policy });
      for (const d of planned.diagnostics) out.stderr(formatDiagnostic(d, out.color));
      if (!planned.plan) {
        out.stderr('fleetspec tickets push: the specs are invalid; nothing was pushed');
        return EXIT.INVALID;
      }
      plan = planned.plan;
    } finally {
      await close();
    }
    if (plan.unknown.length) {
      out.stderr(`fleetspec tickets push: ${logLine(plan.unknown[0]!.reason)}`);
      return EXIT.ERROR;
    }
    renderPlan(plan, opts.format === 'json' ? 'json' : 'text', out, false);
    if (!hasChanges(plan)) return EXIT.OK;
    if (!opts.yes) {
      out.stderr('fleetspec tickets push: nothing was changed on GitHub; run again with --yes to apply this plan');
      return EXIT.CHANGES;
    }
    return applyApproved(db, plan, opts.specs, { ...opts, noSsh: true, drivers: [ticketsDriver] }, out, {
      command: 'tickets push',
      reason: `fleetspec tickets push (${basename(opts.specs)})`,
      approval: 'fleetspec tickets push --yes',
      replan: 'fleetspec tickets push, review the plan, then --yes',
    });
  });
}
