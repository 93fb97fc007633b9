// The read tools: what the trusted commit says (ports, tickets, hosts, models, DNS) and what the
// store knows (allocations, the last plans and facts, recent runs). Every authenticated role may
// call them; they change nothing.
import type { DnsRecord } from '../../kinds/dns/index.js';
import { describeRecords } from '../../kinds/dns/records.js';
import { formatSize, parseSize } from '../../kinds/hosts/facts.js';
import type { Host } from '../../kinds/hosts/index.js';
import type { Model } from '../../kinds/models/index.js';
import type { PortRange } from '../../kinds/ports/index.js';
import { CAPABILITIES } from '../../kinds/roles/index.js';
import type { Ticket } from '../../kinds/tickets/index.js';
import type { DnsZone } from '../../kinds/zones/index.js';
import type { Plan } from '../../plan/plan.js';
import { logLine } from '../../escape.js';
import { listAllocations } from '../../state/ports.js';
import { runRecords } from '../../state/reports.js';
import { inputSchema, kindField } from '../schemas.js';
import { ToolError, type Tool, type ToolContext } from './types.js';

const values = <T>(ctx: ToolContext, folder: string): T[] => ctx.specs.specs.index.all(folder).map((r) => r.value as T);
const list = (names: readonly string[]) => (names.length ? names.join(', ') : 'none');
const json = (v: unknown) => JSON.stringify(v, null, 2);

async function storeAllocations(ctx: ToolContext, project?: string) {
  return listAllocations(ctx.db, project).catch(() => []);
}

const getPort: Tool = {
  name: 'get_port',
  description: "The port allocated to a project's service (seed 003's getPort): the one pinned in specs/ports at the trusted commit, and the one in the state store.",
  class: 'read',
  capabilities: [],
  inputSchema: inputSchema({ project: kindField('ports', ['name'], 'the project, as in specs/ports (consilio)'), service: kindField('ports', ['allocations', '[]', 'service'], 'the service (api)') }, ['project', 'service']),
  async run(ctx, args) {
    const project = args.project as string;
    const service = args.service as string;
    const ranges = values<PortRange>(ctx, 'ports');
    const range = ranges.find((r) => r.name === project);
    const stored = (await storeAllocations(ctx, project)).find((a) => a.service === service);
    const pinned = range?.allocations?.find((a) => a.service === service);
    if (!range && !stored) throw new ToolError('invalid', `no project "${project}" in specs/ports; projects: ${list(ranges.map((r) => r.name))}`);
    if (!pinned && !stored) throw new ToolError('invalid', `project "${project}" has no port for service "${service}"; its services: ${list((range?.allocations ?? []).map((a) => a.service))}. Propose one with allocate_port.`);
    const port = pinned?.port ?? stored!.port;
    const data = { project, service, port, spec: pinned?.port ?? null, store: stored?.port ?? null, range: range ? range.range : null, host: pinned?.host ?? null, trusted: ctx.specs.sha };
    const differs = pinned && stored && pinned.port !== stored.port ? ` (the store has ${stored.port} until the spec is applied)` : '';
    return { text: `${project}/${service}: ${port}${differs}`, data };
  },
};

const listPorts: Tool = {
  name: 'list_ports',
  description: "Projects' port ranges and allocations: as the trusted specs pin them, and as the state store holds them.",
  class: 'read',
  capabilities: [],
  inputSchema: inputSchema({ project: kindField('ports', ['name'], 'only this project') }, []),
  async run(ctx, args) {
    const project = args.project as string | undefined;
    const ranges = values<PortRange>(ctx, 'ports').filter((r) => !project || r.name === project);
    const stored = await storeAllocations(ctx, project);
    const projects = ranges.map((r) => ({
      project: r.name,
      range: r.range,
      allocations: (r.allocations ?? []).map((a) => ({ service: a.service, port: a.port, ...(a.host ? { host: a.host } : {}) })),
      store: stored.filter((s) => s.project === r.name).map((s) => ({ service: s.service, port: s.port })),
    }));
    const text = projects.map((p) => `${p.project} ${p.range.start}-${p.range.end}: ${list(p.allocations.map((a) => `${a.service}=${a.port}`))}`).join('\n') || 'no port ranges';
    return { text, data: { trusted: ctx.specs.sha, projects } };
  },
};

const listTickets: Tool = {
  name: 'list_tickets',
  description: 'Tickets in specs/tickets at the trusted commit, optionally by status or assignee.',
  class: 'read',
  capabilities: [],
  inputSchema: inputSchema({ status: kindField('tickets', ['status']), assignee: kindField('tickets', ['assignee']) }, []),
  async run(ctx, args) {
    const tickets = values<Ticket>(ctx, 'tickets').filter((t) => (!args.status || t.status === args.status) && (!args.assignee || t.assignee === args.assignee));
    const text = tickets.map((t) => `${t.id} ${t.status} ${t.priority ?? 'normal'} ${t.assignee ?? '-'} ${logLine(t.title)}`).join('\n') || 'no tickets';
    return { text, data: { trusted: ctx.specs.sha, tickets } };
  },
};

const getTicket: Tool = {
  name: 'get_ticket',
  description: 'One ticket of specs/tickets at the trusted commit.',
  class: 'read',
  capabilities: [],
  inputSchema: inputSchema({ id: kindField('tickets', ['id']) }, ['id']),
  async run(ctx, args) {
    const ticket = values<Ticket>(ctx, 'tickets').find((t) => t.id === args.id);
    if (!ticket) throw new ToolError('invalid', `no ticket ${String(args.id)}`);
    return { text: json(ticket), data: { trusted: ctx.specs.sha, ticket } };
  },
};

/** The newest stored plan that read live state, for host facts. */
async function lastLivePlan(ctx: ToolContext): Promise<{ plan: Plan; sha: string; at: Date } | undefined> {
  const rows = await ctx.db.query<{ sha: string; plan: Plan | string; at: Date }>(
    `select sha, plan, created_at as at from planned_commits where repo = $1 and plan is not null order by created_at desc limit 20`,
    [ctx.repoKey],
  );
  for (const row of rows) {
    const plan = typeof row.plan === 'string' ? (JSON.parse(row.plan) as Plan) : row.plan;
    if (plan.mode === 'live') return { plan, sha: row.sha, at: row.at };
  }
  return undefined;
}

const listHosts: Tool = {
  name: 'list_hosts',
  description: 'Hosts of the trusted specs (address, memory, services, budget) with their last facts: what the newest live plan read of each.',
  class: 'read',
  capabilities: [],
  inputSchema: inputSchema({ name: kindField('hosts', ['name'], 'only this host') }, []),
  async run(ctx, args) {
    const live = await lastLivePlan(ctx);
    const hosts = values<Host>(ctx, 'hosts')
      .filter((h) => !args.name || h.name === args.name)
      .map((h) => {
        const change = live?.plan.changes.find((c) => c.kind === 'hosts' && c.name === h.name);
        const unknown = live?.plan.unknown.find((u) => u.kind === 'hosts' && u.name === h.name);
        return {
          name: h.name,
          address: h.address,
          ...(h.purpose ? { purpose: h.purpose } : {}),
          ...(h.memory ? { memory: h.memory } : {}),
          services: h.services ?? [],
          ...(h.budget ? { budget: h.budget } : {}),
          lastFacts: change
            ? { at: live!.at, commit: live!.sha, action: change.action, live: change.before, reason: change.reason, findings: live!.plan.findings.filter((f) => f.kind === 'hosts' && f.name === h.name).map((f) => ({ severity: f.severity, message: f.message, ...(f.subject ? { subject: f.subject } : {}) })) }
            : unknown
              ? { at: live!.at, notRead: unknown.reason }
              : null,
        };
      });
    if (args.name && !hosts.length) throw new ToolError('invalid', `no host "${String(args.name)}"; hosts: ${list(values<Host>(ctx, 'hosts').map((h) => h.name))}`);
    const text = hosts.map((h) => `${h.name} ${h.address}${h.memory ? ` ${h.memory.size} RAM` : ''}: ${h.lastFacts ? ('notRead' in h.lastFacts ? `not read (${logLine(String(h.lastFacts.notRead))})` : `facts of ${new Date(h.lastFacts.at).toISOString()}`) : 'no facts yet'}`).join('\n') || 'no hosts';
    return { text, data: { trusted: ctx.specs.sha, hosts } };
  },
};

const listModels: Tool = {
  name: 'list_models',
  description: "Models per host with the memory they take against the host's budget lines, RAM and VRAM.",
  class: 'read',
  capabilities: [],
  inputSchema: inputSchema({ host: kindField('models', ['host'], 'only this host') }, []),
  async run(ctx, args) {
    const models = values<Model>(ctx, 'models');
    const hosts = values<Host>(ctx, 'hosts');
    const names = [...new Set(models.map((m) => m.host).filter((h): h is string => Boolean(h)))].filter((h) => !args.host || h === args.host);
    const size = (s?: string) => (s ? parseSize(s) : 0);
    const perHost = names.map((name) => {
      const host = hosts.find((h) => h.name === name);
      const on = models.filter((m) => m.host === name);
      const ram = on.reduce((n, m) => n + size(m.memory?.ram), 0);
      const vram = on.reduce((n, m) => n + size(m.memory?.vram), 0);
      const hostRam = size(host?.memory?.size);
      const hostVram = (host?.gpus ?? []).reduce((n, g) => n + size(g.vram), 0);
      return {
        host: name,
        models: on.map((m) => ({ name: m.name, runtime: m.runtime, ...(m.memory ? { memory: m.memory } : {}), ...(m.purpose ? { purpose: m.purpose } : {}) })),
        used: { ram: formatSize(ram), vram: formatSize(vram) },
        capacity: { ram: hostRam ? formatSize(hostRam) : null, vram: hostVram ? formatSize(hostVram) : null },
        budget: host?.budget ?? [],
        fits: (!hostRam || ram <= hostRam) && (!vram || vram <= hostVram),
      };
    });
    const external = models.filter((m) => !m.host).map((m) => ({ name: m.name, runtime: m.runtime, ...(m.provider ? { provider: m.provider } : {}) }));
    const text = [
      ...perHost.map((h) => `${h.host}: ${list(h.models.map((m) => m.name))}; RAM ${h.used.ram} of ${h.capacity.ram ?? '?'}${h.used.vram !== formatSize(0) ? `, VRAM ${h.used.vram} of ${h.capacity.vram ?? '?'}` : ''}${h.fits ? '' : ' (over)'}`),
      ...(external.length && !args.host ? [`external: ${list(external.map((m) => m.name))}`] : []),
    ].join('\n');
    return { text: text || 'no models', data: { trusted: ctx.specs.sha, hosts: perHost, external: args.host ? [] : external } };
  },
};

const listDns: Tool = {
  name: 'list_dns',
  description: 'DNS names of the trusted specs, and for those routed through the tunnel, the port allocation behind them.',
  class: 'read',
  capabilities: [],
  inputSchema: inputSchema({ zone: kindField('dns', ['zone'], 'only this zone') }, []),
  async run(ctx, args) {
    const ranges = values<PortRange>(ctx, 'ports');
    const zones = values<DnsZone>(ctx, 'zones');
    const records = values<DnsRecord>(ctx, 'dns')
      .filter((r) => !args.zone || r.zone === args.zone)
      .map((r) => {
        const [project, service] = (r.route ?? '/').split('/');
        const port = ranges.find((p) => p.name === project)?.allocations?.find((a) => a.service === service)?.port ?? null;
        return { name: r.name, zone: r.zone, type: r.type ?? null, target: r.target ?? null, ...(r.records ? { records: r.records } : {}), summary: describeRecords(r), route: r.route ?? null, port: r.route ? port : null };
      });
    const tunnels = zones.filter((z) => z.tunnel).map((z) => ({ zone: z.name, tunnel: z.tunnel }));
    const text = records.map((r) => `${r.name} ${r.summary}${r.route ? ` -> ${r.route} (port ${r.port ?? '?'})` : ''}`).join('\n') || 'no DNS records';
    return { text, data: { trusted: ctx.specs.sha, records, tunnels } };
  },
};

const getPlan: Tool = {
  name: 'get_plan',
  description: "The current plan: the loop's newest plan of the trusted commit (else its newest plan), its verdict, summary and findings.",
  class: 'read',
  capabilities: [],
  inputSchema: inputSchema({}, []),
  async run(ctx) {
    const rows = await ctx.db.query<{ sha: string; pr: number | null; plan: Plan | string; at: Date; scope: string }>(
      `select sha, pr, plan, scope, created_at as at from planned_commits where repo = $1 and plan is not null order by (sha = $2) desc, created_at desc limit 1`,
      [ctx.repoKey, ctx.specs.sha],
    );
    const row = rows[0];
    if (!row) return { text: 'the loop has stored no plan yet', data: { plan: null } };
    const plan = typeof row.plan === 'string' ? (JSON.parse(row.plan) as Plan) : row.plan;
    const data = { commit: row.sha, pr: row.pr, scope: row.scope, at: row.at, mode: plan.mode, verdict: plan.verdict, summary: plan.summary, findings: plan.findings, changes: plan.changes.filter((c) => c.action !== 'no-op').map((c) => ({ kind: c.kind, name: c.name, action: c.action, reason: c.reason })) };
    const s = plan.summary;
    const text = [
      `plan of ${row.sha.slice(0, 7)}${row.pr ? ` (PR #${row.pr})` : ''}, ${plan.mode}: ${s.add} to add, ${s.change} to change, ${s.destroy} to destroy, ${s.unknown} not read; verdict ${plan.verdict.status} (${plan.verdict.errors} errors, ${plan.verdict.warnings} warnings)`,
      ...plan.findings.map((f) => `${f.severity} ${f.kind}/${f.name}: ${logLine(f.message)}`),
    ].join('\n');
    return { text, data };
  },
};

const listRuns: Tool = {
  name: 'list_runs',
  description: "The loop's recent runs, newest first: state, reason, commit, PR.",
  class: 'read',
  capabilities: [],
  inputSchema: inputSchema({ limit: { type: 'integer', minimum: 1, maximum: 100, description: 'at most this many (default 10)' } }, []),
  async run(ctx, args) {
    const runs = (await runRecords(ctx.db, { repo: ctx.repoKey, limit: (args.limit as number | undefined) ?? 10 })).map((r) => ({ id: r.id, state: r.state, reason: r.reason, trigger: r.trigger, commit: r.gitSha, pr: r.pr, createdAt: r.createdAt, finishedAt: r.finishedAt }));
    const text = runs.map((r) => `run ${r.id} ${r.state}${r.commit ? ` ${r.commit.slice(0, 7)}` : ''}${r.pr ? ` #${r.pr}` : ''}: ${logLine(r.reason ?? '')}`).join('\n') || 'no runs';
    return { text, data: { runs } };
  },
};

const whoami: Tool = {
  name: 'whoami',
  description: 'The role this token acts as, its capabilities in the trusted roles spec, and the trusted commit.',
  class: 'read',
  capabilities: [],
  inputSchema: inputSchema({}, []),
  async run(ctx) {
    const r = ctx.role;
    const data = { role: r.name, capabilities: r.capabilities, denied: r.denied ?? [], githubUsers: r.githubUsers ?? [], secrets: r.mcp?.secrets ?? [], trusted: ctx.specs.sha };
    return { text: `role ${r.name}: ${list(r.capabilities.map((c) => `${c} (${CAPABILITIES[c]})`))}; trusted commit ${ctx.specs.sha.slice(0, 7)}`, data };
  },
};

const getProposal: Tool = {
  name: 'get_proposal',
  description: "A proposal's pull request as the loop has planned it: who proposed it and why, and its newest plan (the live plan once the loop's tick planned it, with verdict and findings).",
  class: 'read',
  capabilities: [],
  inputSchema: inputSchema({ pr: { type: 'integer', minimum: 1, description: 'the pull request number a propose tool returned' } }, ['pr']),
  async run(ctx, args) {
    const pr = args.pr as number;
    const [proposal] = await ctx.db.query<{ branch: string; role: string | null; via: string; reason: string; at: Date }>(
      `select branch, role, via, reason, created_at as at from proposals where repo = $1 and pr = $2 order by id desc limit 1`,
      [ctx.repoKey, pr],
    );
    if (!proposal) throw new ToolError('invalid', `pull request #${pr} is not a proposal fleetspec opened`);
    const [row] = await ctx.db.query<{ sha: string; plan: Plan | string | null; problem: string | null; at: Date }>(
      `select sha, plan, problem, created_at as at from planned_commits where repo = $1 and pr = $2 order by created_at desc limit 1`,
      [ctx.repoKey, pr],
    );
    const plan = row?.plan ? (typeof row.plan === 'string' ? (JSON.parse(row.plan) as Plan) : row.plan) : undefined;
    const data = {
      pr,
      branch: proposal.branch,
      role: proposal.role,
      via: proposal.via,
      reason: proposal.reason,
      planned: row ? { commit: row.sha, at: row.at, problem: row.problem, ...(plan ? { mode: plan.mode, verdict: plan.verdict, summary: plan.summary, findings: plan.findings, changes: plan.changes.filter((c) => c.action !== 'no-op').map((c) => ({ kind: c.kind, name: c.name, action: c.action, reason: c.reason })) } : {}) } : null,
    };
    const text = !row
      ? `#${pr} (${proposal.branch}) is not planned yet: the loop plans it at its next tick`
      : plan
        ? `#${pr} planned ${plan.mode} at ${row.sha.slice(0, 7)}: ${plan.summary.add} to add, ${plan.summary.change} to change, ${plan.summary.destroy} to destroy; verdict ${plan.verdict.status}`
        : `#${pr} could not be planned: ${logLine(row.problem ?? 'unknown')}`;
    return { text, data };
  },
};

export const READ_TOOLS: readonly Tool[] = [whoami, getPort, listPorts, listTickets, getTicket, listHosts, listModels, listDns, getPlan, getProposal, listRuns];
