// Models with runtime: llama.cpp, planned like Ollama's but read-only: llama-server loads the
// file it was started with (-m), so fleetspec reads which model it serves (GET /v1/models and
// GET /props, through an SSH port forward to 127.0.0.1:<port> on the host) and reports a
// missing or different model as drift. Nothing is ever pulled, loaded or restarted.
import type { NotRead, ResourceChange } from '../../plan/plan.js';
import { remoteExcerpt, remoteField, remoteOf } from '../../remote-text.js';
import { UNTRUSTED_READ, type LiveContext } from '../driver.js';
import { hostTarget, unreachable } from '../hosts/driver.js';
import type { Host } from '../hosts/index.js';
import type { Resource } from '../kind.js';
import type { Model } from './index.js';
import { LlamaCppError, llamaCppClient, llamaCppModelName, servesModel, type LlamaCppModel, type LlamaCppProps } from './llamacpp.js';

/** llama-server's default --port. */
export const DEFAULT_LLAMACPP_PORT = 8080;

export type LlamaCppRead = { models: LlamaCppModel[]; props: LlamaCppProps } | { unknown: string; remote?: string };

/** llama.cpp's port on a host: the service named llama-cpp (llama.cpp, llamacpp, llama-server), else 8080. */
export function llamaCppPort(host: Host): number {
  return host.services?.find((s) => /^llama([-_.]?cpp|-server)$/i.test(s.name))?.port ?? DEFAULT_LLAMACPP_PORT;
}

/** The llama.cpp models of the specs, by host name. */
function byHost(desired: readonly Resource[]): Map<string, Resource<Model>[]> {
  const out = new Map<string, Resource<Model>[]>();
  for (const r of desired as Resource<Model>[]) {
    if (r.value.runtime !== 'llama.cpp' || !r.value.host) continue;
    out.set(r.value.host, [...(out.get(r.value.host) ?? []), r]);
  }
  return out;
}

/** Reads each host's llama-server through the SSH connection to the host; a host it cannot reach is not read. */
export async function readLlamaCpp(desired: readonly Resource[], ctx: LiveContext): Promise<Map<string, LlamaCppRead>> {
  const reads = await Promise.all(
    [...byHost(desired).keys()].map(async (name): Promise<[string, LlamaCppRead]> => {
      const host = ctx.index.get('hosts', name) as Resource<Host> | undefined;
      if (!host) return [name, { unknown: `host ${name} is not in specs` }];
      if (ctx.mode !== 'live' || !ctx.ssh) return [name, { unknown: ctx.noSsh }];
      const target = hostTarget(host);
      if (typeof target === 'string') return [name, { unknown: target }];
      const port = llamaCppPort(host.value);
      // A branch's plan asks llama-server only at the port the trusted specs give it.
      const trusted = ctx.trusted?.get('hosts', name) as Resource<Host> | undefined;
      if (ctx.trusted && (!trusted || llamaCppPort(trusted.value) !== port)) return [name, { unknown: UNTRUSTED_READ }];
      try {
        const read = await ctx.ssh.run(target, async (session) => {
          const client = llamaCppClient({ baseUrl: `http://127.0.0.1:${port}`, connect: () => session.forward('127.0.0.1', port) });
          const models = await client.models();
          // /props is llama-server's own (older builds lack it): without it, /v1/models alone decides.
          const props = await client.props().catch((err: unknown) => {
            if (err instanceof LlamaCppError && err.status === 404) return {};
            throw err;
          });
          return { models, props };
        });
        return [name, read];
      } catch (err) {
        return [name, { unknown: unreachable(err), ...remoteField(remoteOf(err)) }];
      }
    }),
  );
  return new Map(reads);
}

/** What a server says it serves, for a plan: each id as a short escaped excerpt (it is the server's text). */
function shown(models: readonly LlamaCppModel[], props: LlamaCppProps): string[] {
  const ids = models.map((m) => m.id);
  if (props.modelPath && !ids.includes(props.modelPath)) ids.push(props.modelPath);
  return ids.map((id) => remoteExcerpt(id, 120));
}

/** The changes for llama.cpp models: no-op when served, else drift with what to do; never create or delete. */
export function llamaCppFindings(desired: readonly Resource[], live: ReadonlyMap<string, LlamaCppRead>, ctx: Pick<LiveContext, 'index'>): { changes: ResourceChange[]; unknown: NotRead[] } {
  const changes: ResourceChange[] = [];
  const unknown: NotRead[] = [];
  for (const [hostName, models] of byHost(desired)) {
    const read = live.get(hostName);
    if (!read || 'unknown' in read) {
      const reason = read ? read.unknown : 'not read';
      unknown.push(...models.map((m) => ({ kind: 'models', name: m.name, reason, ...remoteField(read && 'unknown' in read ? read.remote : undefined) })));
      continue;
    }
    const host = ctx.index.get('hosts', hostName) as Resource<Host> | undefined;
    const port = host ? llamaCppPort(host.value) : DEFAULT_LLAMACPP_PORT;
    const serving = shown(read.models, read.props);
    for (const m of models) {
      const want = llamaCppModelName(m.value.name);
      if (servesModel(m.value.name, read.models, read.props)) {
        const loading = read.models.some((s) => s.loading && llamaCppModelName(s.id) === want);
        changes.push({ kind: 'models', name: m.name, action: 'no-op', before: { model: m.value.name, serving }, after: { model: m.value.name }, reason: loading ? `llama.cpp on ${hostName} is loading it` : `llama.cpp on ${hostName} serves it` });
        continue;
      }
      changes.push({
        kind: 'models',
        name: m.name,
        action: 'drift',
        before: { model: serving.length ? serving : 'none', host: hostName },
        after: { model: m.value.name, host: hostName },
        reason:
          `llama.cpp on ${hostName}:${port} serves ${serving.length ? serving.join(', ') : 'no model'}, not ${m.value.name}; ` +
          `llama.cpp loads a file and fleetspec never changes it: start llama-server with -m <path to ${want}.gguf> (or --alias ${m.value.name}), or change the spec's name to the model it serves`,
      });
    }
  }
  return { changes, unknown };
}
