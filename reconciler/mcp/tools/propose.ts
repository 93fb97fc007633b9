// The propose tools: each turns an agent's request into a spec edit on the trusted commit (the
// YAML edited with the yaml library's Document API, so comments and layout survive) and hands it
// to propose(), which checks it (schemas, policies, an offline plan) and has the bot open a pull
// request with the role and its reason. Nothing is applied: the loop plans the PR live at its next
// tick, and only an approved merge is applied.
import { parseAllDocuments, stringify, type Document } from 'yaml';
import type { Diagnostic } from '../../diagnostics.js';
import type { Host } from '../../kinds/hosts/index.js';
import type { Resource } from '../../kinds/kind.js';
import type { Model } from '../../kinds/models/index.js';
import type { PortRange } from '../../kinds/ports/index.js';
import type { Capability, Role } from '../../kinds/roles/index.js';
import type { Ticket } from '../../kinds/tickets/index.js';
import type { VirtualMachine } from '../../kinds/vms/index.js';
import type { DnsZone } from '../../kinds/zones/index.js';
import { nextTicketId, reservedTicketIds } from '../../loop/tickets.js';
import { propose, type ProposalResult } from '../../proposals/propose.js';
import type { SpecEdit } from '../../proposals/check.js';
import { listAllocations } from '../../state/ports.js';
import type { TrustedSpecs } from '../trusted.js';
import { inputSchema, kindField, REASON } from '../schemas.js';
import { ToolError, type Tool, type ToolContext, type ToolResult } from './types.js';

/** Deploy-class tools: changes to what runs in production (public names, models on hosts, VMs). */
export const DEPLOY: readonly Capability[] = ['deploy.production'];

const names = (xs: readonly string[]) => (xs.length ? xs.join(', ') : 'none');
const find = <T>(t: TrustedSpecs, folder: string, pred: (v: T) => boolean) => t.specs.index.all(folder).find((r) => pred(r.value as T)) as Resource<T> | undefined;

interface Edit {
  edits: SpecEdit[];
  title: string;
  summary: string;
}

/** The file of `resource` with its document changed by `change`, as an edit. */
async function editDocument(ctx: ToolContext, t: TrustedSpecs, resource: Resource, change: (doc: Document.Parsed, all: Document.Parsed[]) => Document.Parsed[] | void): Promise<SpecEdit> {
  const path = ctx.trusted.specPath(resource.doc.source.file);
  const text = await ctx.trusted.readSpec(t.sha, path);
  if (text === undefined) throw new ToolError('error', `${path} is not in the trusted commit`);
  const docs = parseAllDocuments(text) as Document.Parsed[];
  const doc = docs[resource.doc.index];
  if (!doc) throw new ToolError('error', `${path} has no document ${resource.doc.index + 1}`);
  const kept = change(doc, docs) ?? docs;
  if (!kept.length) return { path, content: null };
  let out = kept.map((d) => d.toString()).join('');
  // A first document that was not first before starts with "---": drop it.
  if (kept[0] !== docs[0]) out = out.replace(/^---\n/, '');
  return { path, content: out };
}

function resultOf(r: ProposalResult, e: Edit): ToolResult {
  const plan = r.plan ? { mode: r.plan.mode, summary: r.plan.summary, verdict: r.plan.verdict, findings: r.plan.findings, changes: r.plan.changes.filter((c) => c.action !== 'no-op').map((c) => ({ kind: c.kind, name: c.name, action: c.action, reason: c.reason })), unknown: r.plan.unknown.map((u) => ({ kind: u.kind, name: u.name, reason: u.reason })) } : null;
  const data = { pr: r.pr?.url ?? null, number: r.pr?.number ?? null, branch: r.branch ?? null, base: r.base ?? null, files: r.files, plan, diagnostics: r.diagnostics, livePlan: 'the loop plans this pull request live at its next tick and comments the plan on it; nothing is applied until an approver who made no part of it approves and it is merged' };
  if (!r.ok) throw new ToolError('invalid', `not proposed: ${e.summary} fails its checks on the trusted commit ${r.base?.slice(0, 7) ?? ''}; correct these and call again`, r.diagnostics, data);
  const s = r.plan!.summary;
  const text = [
    `Proposed ${e.summary} as pull request #${r.pr!.number}: ${r.pr!.url}`,
    `branch ${r.branch}, from the trusted commit ${r.base!.slice(0, 7)}; files: ${r.files.join(', ')}`,
    `offline plan: ${s.add} to add, ${s.change} to change, ${s.destroy} to destroy; verdict ${r.plan!.verdict.status}`,
    ...r.diagnostics.map((d) => `${d.severity} ${d.file}:${d.line}:${d.col} ${d.message}`),
    'The loop plans it live at its next tick; nothing is applied until a person approves and merges it.',
  ].join('\n');
  return { text, data };
}

/** Builds the edit on the trusted commit and proposes it, holding the clone throughout. */
function proposing(build: (ctx: ToolContext, t: TrustedSpecs, args: Record<string, unknown>) => Promise<Edit>) {
  return (ctx: ToolContext, args: Record<string, unknown>) =>
    ctx.trusted.exclusive(async () => {
      const t = await ctx.trusted.load();
      const e = await build(ctx, t, args);
      const r = await propose(ctx.proposer, { edits: e.edits, title: e.title, reason: args.reason as string, role: ctx.role.name, via: 'mcp', authors: ctx.role.githubUsers ?? [] });
      return resultOf(r, e);
    });
}

const reason = { reason: REASON };

const allocatePort: Tool = {
  name: 'allocate_port',
  description: "Propose a port for a project's service in the project's range (specs/ports): the lowest free one unless a port is given.",
  class: 'propose',
  capabilities: ['code.push', ...DEPLOY],
  inputSchema: inputSchema(
    {
      project: kindField('ports', ['name'], 'the project, as in specs/ports (consilio)'),
      service: kindField('ports', ['allocations', '[]', 'service'], 'the service that needs the port'),
      port: kindField('ports', ['allocations', '[]', 'port'], 'a port of the range; absent: the lowest free one'),
      host: kindField('ports', ['allocations', '[]', 'host']),
      description: kindField('ports', ['allocations', '[]', 'description']),
      ...reason,
    },
    ['project', 'service', 'reason'],
  ),
  run: proposing(async (ctx, t, args) => {
    const project = args.project as string;
    const service = args.service as string;
    const range = find<PortRange>(t, 'ports', (r) => r.name === project);
    if (!range) throw new ToolError('invalid', `no project "${project}" in specs/ports; projects: ${names(t.specs.index.all('ports').map((r) => r.name))}`);
    const have = range.value.allocations?.find((a) => a.service === service);
    if (have) throw new ToolError('invalid', `${project}/${service} has port ${have.port} already`);
    const used = new Set([...(range.value.allocations ?? []).map((a) => a.port), ...(await listAllocations(ctx.db).catch(() => [])).filter((a) => a.project !== project || a.service !== service).map((a) => a.port)]);
    let port = args.port as number | undefined;
    if (port === undefined) {
      for (let p = range.value.range.start; p <= range.value.range.end; p++) {
        if (!used.has(p)) {
          port = p;
          break;
        }
      }
      if (port === undefined) throw new ToolError('invalid', `the range of ${project} (${range.value.range.start}-${range.value.range.end}) has no free port`);
    }
    const entry = { service, port, ...(args.host ? { host: args.host } : {}), ...(args.description ? { description: args.description } : {}) };
    const edit = await editDocument(ctx, t, range, (doc) => {
      if (doc.has('allocations') && doc.get('allocations')) doc.addIn(['allocations'], doc.createNode(entry));
      else doc.set('allocations', doc.createNode([entry]));
    });
    return { edits: [edit], title: `Allocate port ${port} to ${project}/${service}`, summary: `port ${port} for ${project}/${service}` };
  }),
};

/** Ids taken: the trusted tickets', and those of open ticket and proposal branches. */
async function ticketIds(ctx: ToolContext, t: TrustedSpecs): Promise<Set<string>> {
  return reservedTicketIds(t.specs, (await ctx.trusted.git.fetch()).keys());
}

const ticketCreate: Tool = {
  name: 'ticket_create',
  description: 'Propose a new ticket (specs/tickets/T-NNNN.yaml, the next free id), status open.',
  class: 'propose',
  capabilities: ['tickets.manage'],
  inputSchema: inputSchema(
    {
      title: kindField('tickets', ['title']),
      description: { ...kindField('tickets', ['description']), maxLength: 20000 },
      priority: kindField('tickets', ['priority']),
      assignee: kindField('tickets', ['assignee']),
      labels: kindField('tickets', ['labels']),
      hosts: kindField('tickets', ['hosts']),
      ...reason,
    },
    ['title', 'reason'],
  ),
  run: proposing(async (ctx, t, args) => {
    const id = nextTicketId(await ticketIds(ctx, t));
    const ticket: Ticket = {
      kind: 'Ticket',
      id,
      title: args.title as string,
      ...(args.description ? { description: args.description as string } : {}),
      ...(args.priority ? { priority: args.priority as Ticket['priority'] } : {}),
      ...(args.assignee ? { assignee: args.assignee as string } : {}),
      status: 'open',
      ...(args.labels ? { labels: args.labels as string[] } : {}),
      ...(args.hosts ? { hosts: args.hosts as string[] } : {}),
    };
    const content = `# yaml-language-server: $schema=../schemas/tickets.schema.json\n# Proposed by role ${ctx.role.name} through fleetspec mcp.\n${stringify(ticket)}`;
    return { edits: [{ path: `tickets/${id}.yaml`, content }], title: `Ticket ${id}: ${ticket.title}`, summary: `ticket ${id}` };
  }),
};

/** A ticket's status changed; tickets.work alone may move only the role's own or unassigned tickets. */
function ticketStatus(status: Ticket['status'], verb: string) {
  return proposing(async (ctx, t, args) => {
    const ticket = find<Ticket>(t, 'tickets', (v) => v.id === args.id);
    if (!ticket) throw new ToolError('invalid', `no ticket ${String(args.id)} at the trusted commit`);
    const manages = ctx.role.capabilities.includes('tickets.manage');
    if (!manages && ticket.value.assignee && ticket.value.assignee !== ctx.role.name) throw new ToolError('refused', `${ticket.value.id} is assigned to ${ticket.value.assignee}; tickets.work moves only the role's own or unassigned tickets (tickets.manage moves any)`);
    if (ticket.value.status === status) throw new ToolError('invalid', `${ticket.value.id} is ${status} already`);
    const edit = await editDocument(ctx, t, ticket, (doc) => {
      doc.set('status', status);
      if (status === 'in_progress' && !ticket.value.assignee) doc.set('assignee', ctx.role.name);
    });
    return { edits: [edit], title: `${ticket.value.id}: ${verb}`, summary: `${ticket.value.id} ${status.replace('_', ' ')}` };
  });
}

const ticketWork: Tool = {
  name: 'ticket_work',
  description: "Propose starting work on a ticket: status in_progress, assigned to the calling role when it had no assignee.",
  class: 'propose',
  capabilities: ['tickets.work', 'tickets.manage'],
  inputSchema: inputSchema({ id: kindField('tickets', ['id']), ...reason }, ['id', 'reason']),
  run: ticketStatus('in_progress', 'work started'),
};

const ticketDone: Tool = {
  name: 'ticket_done',
  description: 'Propose closing a ticket: status closed.',
  class: 'propose',
  capabilities: ['tickets.work', 'tickets.manage'],
  inputSchema: inputSchema({ id: kindField('tickets', ['id']), ...reason }, ['id', 'reason']),
  run: ticketStatus('closed', 'done'),
};

const addDnsName: Tool = {
  name: 'add_dns_name',
  description: "Propose a DNS name routed through the zone's Cloudflare tunnel to a project's port allocation (specs/dns/<name>.yaml): a public name, so deploy-class.",
  class: 'propose',
  capabilities: DEPLOY,
  inputSchema: inputSchema({ name: kindField('dns', ['name']), zone: kindField('dns', ['zone']), route: kindField('dns', ['route']), ...reason }, ['name', 'zone', 'route', 'reason']),
  run: proposing(async (ctx, t, args) => {
    const zone = find<DnsZone>(t, 'zones', (z) => z.name === args.zone);
    if (!zone) throw new ToolError('invalid', `no zone "${String(args.zone)}"; zones: ${names(t.specs.index.all('zones').map((r) => r.name))}`);
    if (!zone.value.tunnel?.hostname) throw new ToolError('invalid', `zone ${zone.value.name} has no tunnel to route through`);
    if (find(t, 'dns', (r: { name: string }) => r.name === args.name)) throw new ToolError('invalid', `${String(args.name)} exists already in specs/dns`);
    const record = { kind: 'DnsRecord', name: args.name, zone: zone.value.name, type: 'CNAME', target: zone.value.tunnel.hostname, route: args.route };
    const content = `# yaml-language-server: $schema=../schemas/dns.schema.json\n# Proposed by role ${ctx.role.name} through fleetspec mcp.\n${stringify(record)}`;
    return { edits: [{ path: `dns/${String(args.name)}.yaml`, content }], title: `Route ${String(args.name)} to ${String(args.route)}`, summary: `the DNS name ${String(args.name)} through the tunnel to ${String(args.route)}` };
  }),
};

const setModel: Tool = {
  name: 'set_model',
  description: 'Propose a model on a host (specs/models), or change its memory and purpose: deploy-class.',
  class: 'propose',
  capabilities: DEPLOY,
  inputSchema: inputSchema(
    { host: kindField('models', ['host']), name: kindField('models', ['name']), runtime: kindField('models', ['runtime']), memory: kindField('models', ['memory']), purpose: kindField('models', ['purpose']), ...reason },
    ['host', 'name', 'reason'],
  ),
  run: proposing(async (ctx, t, args) => {
    const host = find<Host>(t, 'hosts', (h) => h.name === args.host);
    if (!host) throw new ToolError('invalid', `no host "${String(args.host)}"; hosts: ${names(t.specs.index.all('hosts').map((r) => r.name))}`);
    const fields = { ...(args.runtime ? { runtime: args.runtime } : {}), ...(args.memory ? { memory: args.memory } : {}), ...(args.purpose ? { purpose: args.purpose } : {}) };
    const existing = find<Model>(t, 'models', (m) => m.name === args.name && m.host === args.host);
    if (existing) {
      const edit = await editDocument(ctx, t, existing, (doc) => {
        for (const [k, v] of Object.entries(fields)) doc.set(k, doc.createNode(v));
      });
      return { edits: [edit], title: `Change model ${String(args.name)} on ${host.value.name}`, summary: `the model ${String(args.name)} on ${host.value.name}` };
    }
    const model = { kind: 'Model', name: args.name, host: host.value.name, runtime: 'ollama', ...fields };
    const sibling = find<Model>(t, 'models', (m) => m.host === args.host);
    let edit: SpecEdit;
    if (sibling) {
      edit = await editDocument(ctx, t, sibling, (doc, all) => {
        const added = parseAllDocuments(`---\n${stringify(model)}`)[0] as Document.Parsed;
        return [...all, added];
      });
    } else {
      edit = { path: `models/${host.value.name}.yaml`, content: `# yaml-language-server: $schema=../schemas/models.schema.json\n${stringify(model)}` };
    }
    return { edits: [edit], title: `Add model ${String(args.name)} on ${host.value.name}`, summary: `the model ${String(args.name)} on ${host.value.name}` };
  }),
};

const removeModel: Tool = {
  name: 'remove_model',
  description: 'Propose removing a model from a host (specs/models): deploy-class.',
  class: 'propose',
  capabilities: DEPLOY,
  inputSchema: inputSchema({ host: kindField('models', ['host']), name: kindField('models', ['name']), ...reason }, ['host', 'name', 'reason']),
  run: proposing(async (ctx, t, args) => {
    const existing = find<Model>(t, 'models', (m) => m.name === args.name && m.host === args.host);
    if (!existing) throw new ToolError('invalid', `no model ${String(args.name)} on ${String(args.host)}; its models: ${names(t.specs.index.all('models').filter((r) => (r.value as Model).host === args.host).map((r) => (r.value as Model).name))}`);
    const edit = await editDocument(ctx, t, existing, (doc, all) => all.filter((d) => d !== doc));
    return { edits: [edit], title: `Remove model ${String(args.name)} from ${String(args.host)}`, summary: `removing the model ${String(args.name)} from ${String(args.host)}` };
  }),
};

const resizeVm: Tool = {
  name: 'resize_vm',
  description: "Propose a VM's machine type (specs/vms): deploy-class.",
  class: 'propose',
  capabilities: DEPLOY,
  inputSchema: inputSchema({ name: kindField('vms', ['name']), machineType: kindField('vms', ['machineType']), ...reason }, ['name', 'machineType', 'reason']),
  run: proposing(async (ctx, t, args) => {
    const vm = find<VirtualMachine>(t, 'vms', (v) => v.name === args.name);
    if (!vm) throw new ToolError('invalid', `no VM "${String(args.name)}"; VMs: ${names(t.specs.index.all('vms').map((r) => r.name))}`);
    const edit = await editDocument(ctx, t, vm, (doc) => void doc.set('machineType', args.machineType));
    return { edits: [edit], title: `Resize ${vm.value.name} to ${String(args.machineType)}`, summary: `${vm.value.name} as ${String(args.machineType)}` };
  }),
};

const setVmPower: Tool = {
  name: 'set_vm_power',
  description: "Propose starting or stopping a VM (its running field in specs/vms; stopped keeps its disk and address): deploy-class.",
  class: 'propose',
  capabilities: DEPLOY,
  inputSchema: inputSchema({ name: kindField('vms', ['name']), running: kindField('vms', ['running']), ...reason }, ['name', 'running', 'reason']),
  run: proposing(async (ctx, t, args) => {
    const vm = find<VirtualMachine>(t, 'vms', (v) => v.name === args.name);
    if (!vm) throw new ToolError('invalid', `no VM "${String(args.name)}"; VMs: ${names(t.specs.index.all('vms').map((r) => r.name))}`);
    const running = args.running as boolean;
    if (vm.value.running === running) throw new ToolError('invalid', `${vm.value.name} is ${running ? 'running' : 'stopped'} in the spec already`);
    const edit = await editDocument(ctx, t, vm, (doc) => void doc.set('running', running));
    return { edits: [edit], title: `${running ? 'Start' : 'Stop'} ${vm.value.name}`, summary: `${running ? 'starting' : 'stopping'} ${vm.value.name}` };
  }),
};

const setRoleLlm: Tool = {
  name: 'set_role_llm',
  description: "Propose the LLM model a role's services use (its llm.model in specs/roles, written to the role's .env when applied).",
  class: 'propose',
  capabilities: ['llm.configure'],
  inputSchema: inputSchema({ role: kindField('roles', ['name']), model: kindField('roles', ['llm', 'model']), ...reason }, ['role', 'model', 'reason']),
  run: proposing(async (ctx, t, args) => {
    const role = find<Role>(t, 'roles', (r) => r.name === args.role);
    if (!role) throw new ToolError('invalid', `no role "${String(args.role)}"; roles: ${names(t.specs.index.all('roles').map((r) => r.name))}`);
    if (!role.value.llm) throw new ToolError('invalid', `role ${role.value.name} has no llm configuration to change; a person adds its provider first`);
    const edit = await editDocument(ctx, t, role, (doc) => void doc.setIn(['llm', 'model'], args.model));
    return { edits: [edit], title: `LLM of ${role.value.name}: ${String(args.model)}`, summary: `the model ${String(args.model)} for role ${role.value.name}` };
  }),
};

export const PROPOSE_TOOLS: readonly Tool[] = [allocatePort, ticketCreate, ticketWork, ticketDone, addDnsName, setModel, removeModel, resizeVm, setVmPower, setRoleLlm];

export type { Diagnostic };
