// Hosts are read-only: live facts come over SSH in one command, differences from the spec
// are drift (reported, never applied); the facts also feed the host-thresholds policy.
import type { NotRead, PlanFinding, ResourceChange } from '../../plan/plan.js';
import { remoteExcerpt, remoteField, remoteOf } from '../../remote-text.js';
import { fingerprint } from '../../ssh/keys.js';
import type { SshTarget } from '../../ssh/pool.js';
import { positionOf } from '../../specs/source.js';
import { defineDriver, readEach, type LiveContext } from '../driver.js';
import type { Resource } from '../kind.js';
import { FACTS_SCRIPT, formatSize, parseFacts, parseSize, type HostFacts } from './facts.js';
import type { Host } from './index.js';
import { checkFindings, withChecks, type HostChecks } from './checks.js';
import { compareGpus, factsCommandFor, isWindowsFacts, isWindowsHost, parseWindowsFacts, powershellErrorLine } from './windows.js';

/** Where in its spec file a resource sets something, for messages: "specs/hosts/ai.yaml:40:3". */
export function specLocation(resource: Resource, path: (string | number)[]): string {
  const { line, col } = positionOf(resource.doc, path);
  return `${resource.doc.source.file}:${line}:${col}`;
}

/** The SSH target of a host, or why it has none (then it is never contacted). */
export function hostTarget(resource: Resource<Host>): SshTarget | string {
  const { ssh } = resource.value;
  if (!ssh) return `no ssh settings in ${specLocation(resource, ['name'])}`;
  if (!ssh.user) return `ssh.user is not set (${specLocation(resource, ['ssh'])})`;
  return {
    label: resource.label,
    host: resource.value.address,
    port: ssh.port ?? 22,
    user: ssh.user,
    ...(ssh.hostKey ? { hostKey: ssh.hostKey } : {}),
    where: specLocation(resource, ssh.hostKey ? ['ssh', 'hostKey'] : ['ssh']),
  };
}

/** A reason a live read failed, for a plan line: the error's message and, when it has one (SSH, Ollama), its hint. */
export function unreachable(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const hint = (err as { hint?: unknown }).hint;
  return typeof hint === 'string' && hint ? `${err.message} (${hint})` : err.message;
}

/** acceptedKey: the host key taken on first use (no pin in the spec), to be pinned. */
export type HostRead = { facts: HostFacts; acceptedKey?: string; checks?: HostChecks } | { unknown: string; remote?: string };

/** The finding that asks for a host key accepted on first use to be pinned. */
export function pinFinding(kind: string, name: string, key: string, where: string | undefined): PlanFinding {
  return {
    kind,
    name,
    code: 'ssh.unpinned-host-key',
    severity: 'warning',
    message: `host key accepted on first use: ${fingerprint(key)}`,
    hint: `check it out of band, then pin it${where ? ` in ${where}` : ''}: hostKey: ${key}`,
  };
}

export async function readHostFacts(resource: Resource<Host>, ctx: LiveContext): Promise<HostRead> {
  const target = hostTarget(resource);
  if (!ctx.ssh) return { unknown: ctx.noSsh };
  if (typeof target === 'string') return { unknown: target };
  try {
    // Windows hosts (os: Windows ...) answer one PowerShell command instead of the POSIX script.
    const command = factsCommandFor(resource.value, FACTS_SCRIPT);
    const { result, presented } = await ctx.ssh.run(target, async (s) => ({ result: await s.exec(command), presented: s.presentedHostKey }));
    if (result.code !== 0) {
      // The host's own words, as a short excerpt: a plan quotes no more of what a host prints.
      const remote = remoteExcerpt(isWindowsHost(resource.value) ? powershellErrorLine(result.stderr) : (result.stderr.trim().split('\n')[0] ?? ''));
      return { unknown: `facts command exited ${result.code}: ${remote}`, remote };
    }
    const facts = isWindowsHost(resource.value) ? parseWindowsFacts(result.stdout) : parseFacts(result.stdout);
    return { facts, ...(target.hostKey ? {} : { acceptedKey: presented }) };
  } catch (err) {
    return { unknown: unreachable(err), ...remoteField(remoteOf(err)) };
  }
}

/** RAM as sold (32GB) against MemTotal, which the kernel trims by a few percent. */
const MEMORY_TOLERANCE = 0.1;

/** The facts a host spec states, as the spec says them and as they are live. */
function compare(host: Host, facts: HostFacts): { before: Record<string, unknown>; after: Record<string, unknown>; drift: string[] } {
  const before: Record<string, unknown> = {};
  const after: Record<string, unknown> = {};
  const drift: string[] = [];
  const check = (field: string, want: unknown, have: unknown, same: boolean) => {
    after[field] = want;
    before[field] = have;
    if (!same) drift.push(field);
  };
  const hostname = host.hostname ?? host.name;
  check('hostname', hostname, facts.hostname, hostname.toLowerCase() === facts.hostname.toLowerCase());
  if (host.os) check('os', host.os, facts.os, host.os === facts.os);
  const cpus = host.cpu?.threads ?? host.cpu?.cores;
  if (cpus) check('cpus', cpus, facts.cpus, cpus === facts.cpus);
  if (host.memory) {
    const want = parseSize(host.memory.size);
    const close = Math.abs(facts.memory.totalBytes - want) <= want * MEMORY_TOLERANCE;
    check('memory', host.memory.size, close ? host.memory.size : formatSize(facts.memory.totalBytes), close);
  }
  if (host.services?.length) {
    const listening = new Set(facts.listening);
    const want = Object.fromEntries(host.services.map((s) => [s.name, s.port]));
    const have = Object.fromEntries(host.services.map((s) => [s.name, listening.has(s.port) ? s.port : 'not listening']));
    check('services', want, have, host.services.every((s) => listening.has(s.port)));
  }
  if (host.gpus?.length && isWindowsFacts(facts)) {
    const gpus = compareGpus(host.gpus, facts.gpus);
    check('gpus', gpus.want, gpus.have, gpus.same);
  }
  return { before, after, drift };
}

export const hostsDriver = defineDriver<Map<string, HostRead>>({
  folder: 'hosts',
  // Health probes and backup checks (checks.ts): one more exec on the same connection, after the facts.
  readLive: (desired, ctx) => readEach<HostRead, Host>(desired, async (r) => withChecks(r, await readHostFacts(r, ctx), ctx)),
  prefetch(desired, ssh) {
    for (const resource of desired as Resource<Host>[]) {
      const target = hostTarget(resource);
      if (typeof target !== 'string') ssh.prefetch(target, factsCommandFor(resource.value, FACTS_SCRIPT));
    }
  },
  diff(desired, live) {
    const changes: ResourceChange[] = [];
    // The facts go to the policies too (host-thresholds, port-listeners).
    const plan = { changes, unknown: [] as NotRead[], findings: [] as PlanFinding[], facts: new Map<string, HostFacts>() };
    for (const resource of desired as Resource<Host>[]) {
      const read = live.get(resource.name);
      const facts = read && 'facts' in read ? read.facts : undefined;
      if (facts) plan.facts.set(resource.name, facts);
      if (read && 'acceptedKey' in read && read.acceptedKey) plan.findings.push(pinFinding('hosts', resource.name, read.acceptedKey, specLocation(resource, ['ssh'])));
      if (!facts) {
        plan.unknown.push({ kind: 'hosts', name: resource.name, reason: read && 'unknown' in read ? read.unknown : 'not read', ...remoteField(read && 'unknown' in read ? read.remote : undefined) });
        continue;
      }
      const { before, after, drift } = compare(resource.value, facts);
      // Health probes and backups are findings only: a plan's hash covers its changes, and a flapping probe must not make approvals stale.
      plan.findings.push(...checkFindings(resource, 'facts' in read! ? read.checks : undefined));
      changes.push({
        kind: 'hosts',
        name: resource.name,
        action: drift.length ? 'drift' : 'no-op',
        before,
        after,
        reason: drift.length ? `live differs from the spec in ${drift.join(', ')}; hosts are read-only: change the machine or the spec` : 'live matches the spec',
      });
    }
    return plan;
  },
  actions(change) {
    return change.action === 'drift' ? ['none: hosts are read-only; drift is reported for a person to resolve'] : [];
  },
  async apply() {
    return undefined;
  },
});
