// Ollama models per host: live from the Ollama HTTP API, reached through an SSH port forward
// to the host's own loopback (also when ollama.url names a loopback address), or directly when
// ollama.url names the host's own address. Apply pulls missing models with streamed progress; it
// removes models no spec lists only where the host spec says prune: true. Whatever Ollama answers
// enters a plan only as a short excerpt (OllamaError.remote).
import type { NotRead, PlanFinding, ResourceChange } from '../../plan/plan.js';
import { defineDriver, UNTRUSTED_READ, type LiveContext } from '../driver.js';
import { breaches, formatSize, parseThreshold } from '../hosts/facts.js';
import { hostTarget, specLocation, unreachable } from '../hosts/driver.js';
import type { Host } from '../hosts/index.js';
import { checkOllamaUrl, isLoopback } from '../hosts/ollama-url.js';
import { remoteField, remoteOf } from '../../remote-text.js';
import type { Resource } from '../kind.js';
import type { Model } from './index.js';
import { normalizeModelName, ollamaClient, type LoadedModel, type OllamaClient, type OllamaModel } from './ollama.js';
import { llamaCppFindings, readLlamaCpp, type LlamaCppRead } from './llamacpp-plan.js';

const DEFAULT_OLLAMA_PORT = 11434;
// Ollama is silent while it checks a downloaded layer's digest: minutes for a model of tens of GB.
const PULL_IDLE_TIMEOUT_MS = 10 * 60_000;

interface HostModels {
  installed: OllamaModel[];
  loaded: LoadedModel[];
}

type HostRead = { live: HostModels } | { unknown: string; remote?: string };

/** Ollama reads by host name; llama.cpp reads (runtime: llama.cpp, read-only) beside them. */
class ModelsLive extends Map<string, HostRead> {
  llamacpp = new Map<string, LlamaCppRead>();
}

/** Ollama's port on a host: ollama.port, else the service named ollama, else 11434. */
function ollamaPort(host: Host): number {
  return host.ollama?.port ?? host.services?.find((s) => s.name === 'ollama')?.port ?? DEFAULT_OLLAMA_PORT;
}

/**
 * How the host's Ollama is reached. Through SSH to a loopback address as the host sees it: the
 * default 127.0.0.1:port, or ollama.url on loopback. Directly only at ollama.url on the host's own
 * address, or on loopback when the host has no ssh settings and its own address is loopback (the
 * host is the machine fleetspec runs on). A loopback URL of a remote host is never tried here.
 */
type Route = { forward: { host: string; port: number; baseUrl: string } } | { direct: string } | { invalid: string };

function ollamaRoute(host: Resource<Host>): Route {
  const url = host.value.ollama?.url;
  if (url === undefined) {
    const port = ollamaPort(host.value);
    return { forward: { host: '127.0.0.1', port, baseUrl: `http://127.0.0.1:${port}` } };
  }
  // Validation refuses these specs already; a driver handed one anyway does not contact it.
  const checked = checkOllamaUrl(url, host.value);
  if (!checked.ok) return { invalid: `${checked.message} (${specLocation(host, ['ollama', 'url'])})` };
  if (!checked.loopback) return { direct: checked.origin };
  if (!host.value.ssh && isLoopback(host.value.address)) return { direct: checked.origin };
  return { forward: { host: checked.hostname, port: checked.port, baseUrl: checked.origin } };
}

/** Runs fn with a client for the host's Ollama, by its route; only in live mode (also fleetspec import's models source). */
export async function withOllama<T>(host: Resource<Host>, ctx: LiveContext, fn: (client: OllamaClient) => Promise<T>, timeoutMs?: number): Promise<T> {
  const timeout = timeoutMs ? { timeoutMs } : {};
  if (ctx.mode !== 'live') throw new Error(ctx.noSsh);
  const route = ollamaRoute(host);
  if ('invalid' in route) throw new Error(route.invalid);
  // A branch's plan asks Ollama only where the trusted specs do: a PR chooses no address or port to send requests to.
  if (ctx.trusted) {
    const trusted = ctx.trusted.get('hosts', host.name) as Resource<Host> | undefined;
    if (!trusted || JSON.stringify(ollamaRoute(trusted)) !== JSON.stringify(route)) throw new Error(UNTRUSTED_READ);
  }
  if ('direct' in route) return fn(ollamaClient({ baseUrl: route.direct, ...timeout }));
  const target = hostTarget(host);
  if (!ctx.ssh) throw new Error(ctx.noSsh);
  if (typeof target === 'string') throw new Error(target);
  const { host: to, port, baseUrl } = route.forward;
  return ctx.ssh.run(target, (session) => fn(ollamaClient({ baseUrl, connect: () => session.forward(to, port), ...timeout })));
}

/** The Ollama models of the specs, by host name. */
function byHost(desired: readonly Resource[]): Map<string, Resource<Model>[]> {
  const out = new Map<string, Resource<Model>[]>();
  for (const r of desired as Resource<Model>[]) {
    if (r.value.runtime !== 'ollama' || !r.value.host) continue;
    out.set(r.value.host, [...(out.get(r.value.host) ?? []), r]);
  }
  return out;
}

/** Hosts whose Ollama is managed: those with an ollama model in specs, or prune set. */
function managedHosts(desired: readonly Resource[], ctx: Pick<LiveContext, 'index'>): Resource<Host>[] {
  const names = new Set(byHost(desired).keys());
  for (const h of ctx.index.all('hosts') as Resource<Host>[]) if (h.value.ollama?.prune) names.add(h.name);
  return [...names].map((n) => ctx.index.get('hosts', n) as Resource<Host>).filter(Boolean);
}

/** Seed 004's monitoring table: the memory Ollama's loaded models use (the budget of what specs list is the model-memory policy). */
function memoryFindings(host: Resource<Host>, live: HostModels | undefined): PlanFinding[] {
  const findings: PlanFinding[] = [];
  const alert = host.value.monitoring?.find((m) => m.metric === 'ollama.memory')?.alert;
  if (alert && live) {
    const inUse = live.loaded.reduce((sum, m) => sum + m.size, 0);
    if (breaches(parseThreshold(alert), inUse)) {
      findings.push({ kind: 'models', name: host.name, code: 'threshold.ollama-memory', severity: 'warning', message: `loaded models use ${formatSize(inUse)} (alert ${alert})`, hint: 'unload a model or lower OLLAMA_MAX_LOADED_MODELS' });
    }
  }
  return findings;
}

const modelId = (model: string, host: string) => `${model}@${host}`;

/** Splits "qwen2.5:7b@ai" at the last @, as model names may hold @ for digests. */
function splitId(name: string): { model: string; host: string } {
  const at = name.lastIndexOf('@');
  return { model: name.slice(0, at), host: name.slice(at + 1) };
}

export const modelsDriver = defineDriver<ModelsLive>({
  folder: 'models',
  async readLive(desired, ctx) {
    const hosts = managedHosts(desired, ctx);
    const reads = await Promise.all(
      hosts.map(async (host): Promise<[string, HostRead]> => {
        if (ctx.mode !== 'live' || (!ctx.ssh && !('direct' in ollamaRoute(host)))) return [host.name, { unknown: ctx.noSsh }];
        try {
          const live = await withOllama(host, ctx, async (client) => ({ installed: await client.tags(), loaded: await client.ps() }));
          return [host.name, { live }];
        } catch (err) {
          return [host.name, { unknown: unreachable(err), ...remoteField(remoteOf(err)) }];
        }
      }),
    );
    const live = new ModelsLive(reads);
    live.llamacpp = await readLlamaCpp(desired, ctx);
    return live;
  },
  diff(desired, live, ctx) {
    const changes: ResourceChange[] = [];
    const unknown: NotRead[] = [];
    const findings: PlanFinding[] = [];
    const wanted = byHost(desired);
    for (const host of managedHosts(desired, ctx)) {
      const models = wanted.get(host.name) ?? [];
      const read = live.get(host.name);
      const hostLive = read && 'live' in read ? read.live : undefined;
      findings.push(...memoryFindings(host, hostLive));
      if (!hostLive) {
        const reason = read && 'unknown' in read ? read.unknown : 'not read';
        const remote = remoteField(read && 'unknown' in read ? read.remote : undefined);
        unknown.push(...models.map((m) => ({ kind: 'models', name: m.name, reason, ...remote })));
        continue;
      }
      const installed = new Map(hostLive.installed.map((m) => [normalizeModelName(m.name), m]));
      const listed = new Set<string>();
      for (const m of models) {
        const name = normalizeModelName(m.value.name);
        listed.add(name);
        const have = installed.get(name);
        changes.push(
          have
            ? { kind: 'models', name: m.name, action: 'no-op', before: { model: name, digest: have.digest }, after: { model: name }, reason: 'installed' }
            : { kind: 'models', name: m.name, action: 'create', before: null, after: { model: name, host: host.name }, reason: `not installed on ${host.name}: pull it` },
        );
      }
      if (host.value.ollama?.prune) {
        for (const [name, have] of installed) {
          if (listed.has(name)) continue;
          changes.push({ kind: 'models', name: modelId(name, host.name), action: 'delete', before: { model: name, host: host.name, size: formatSize(have.size) }, after: null, reason: `installed on ${host.name}, listed in no spec, and the host prunes` });
        }
      }
    }
    // llama.cpp models: read-only, a different or missing model is drift (llamacpp-plan.ts).
    const llama = llamaCppFindings(desired, live.llamacpp, ctx);
    return { changes: [...changes, ...llama.changes], unknown: [...unknown, ...llama.unknown], findings };
  },
  actions(change) {
    const { model, host } = splitId(change.name);
    if (change.action === 'create') return [`POST /api/pull ${normalizeModelName(model)} on ${host} (streams progress)`];
    if (change.action === 'delete') return [`DELETE /api/delete ${model} on ${host}`];
    return [];
  },
  async apply(change, ctx) {
    if (change.action !== 'create' && change.action !== 'delete') return undefined;
    const { host: hostName } = splitId(change.name);
    const model = (change.action === 'create' ? change.after : change.before) as { model: string };
    const host = ctx.index.get('hosts', hostName) as Resource<Host> | undefined;
    if (!host) throw new Error(`host ${hostName} is not in specs`);
    const pull = (client: OllamaClient) => {
      let last = '';
      return client.pull(model.model, (p) => {
        // One line per stage, and per 10% while downloading.
        const pct = p.total && p.completed !== undefined ? Math.floor((p.completed / p.total) * 10) * 10 : undefined;
        const line = `models/${change.name}: ${p.status}${pct !== undefined ? ` ${pct}%` : ''}`;
        if (line !== last) ctx.progress(line);
        last = line;
      });
    };
    if (change.action === 'create') {
      await withOllama(host, ctx, pull, PULL_IDLE_TIMEOUT_MS);
      return { description: `removed ${model.model} from ${hostName} again`, run: () => withOllama(host, ctx, (c) => c.remove(model.model)) };
    }
    await withOllama(host, ctx, (c) => c.remove(model.model));
    return { description: `pulled ${model.model} back onto ${hostName}`, run: () => withOllama(host, ctx, pull, PULL_IDLE_TIMEOUT_MS) };
  },
});
