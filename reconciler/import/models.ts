// Import source `models`: each host that serves Ollama (ollama settings, a service named
// ollama, or an Ollama model in specs) is read the way the models driver reads it (GET /api/tags
// through an SSH forward, or directly at ollama.url), and each installed model no spec lists
// becomes a Model spec in specs/models/<host>.yaml. Names Ollama reports that are not valid model
// names are flagged, never written.
import type { LiveContext } from '../kinds/driver.js';
import { formatSize } from '../kinds/hosts/facts.js';
import { unreachable } from '../kinds/hosts/driver.js';
import type { Host } from '../kinds/hosts/index.js';
import type { Resource } from '../kinds/kind.js';
import { withOllama } from '../kinds/models/driver.js';
import type { Model } from '../kinds/models/index.js';
import { normalizeModelName } from '../kinds/models/ollama.js';
import type { ImportContext, ImportSource, SourceResult } from './source.js';

const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._:/-]*$/;
const MAX_NAME = 200;

function servesOllama(host: Resource<Host>, models: readonly Resource<Model>[]): boolean {
  const h = host.value;
  return h.ollama !== undefined || (h.services ?? []).some((s) => s.name === 'ollama') || models.some((m) => m.value.runtime === 'ollama' && m.value.host === host.name);
}

export const modelsSource: ImportSource = {
  name: 'models',
  async read(ctx: ImportContext): Promise<SourceResult> {
    const result: SourceResult = { added: [], flagged: [], notRead: [] };
    const models = ctx.index.all('models') as Resource<Model>[];
    const hosts = (ctx.index.all('hosts') as Resource<Host>[]).filter((h) => servesOllama(h, models));
    const live = { mode: 'live', ssh: ctx.ssh, noSsh: ctx.noSsh } as LiveContext;
    const reads = await Promise.all(
      hosts.map(async (host) => {
        try {
          return { host, tags: await withOllama(host, live, (client) => client.tags()) };
        } catch (err) {
          return { host, problem: unreachable(err) };
        }
      }),
    );
    for (const read of reads) {
      const { host } = read;
      if (!('tags' in read) || !read.tags) {
        result.notRead.push({ target: `models@${host.name}`, reason: read.problem ?? 'not read' });
        continue;
      }
      const listed = new Set(models.filter((m) => m.value.host === host.name).map((m) => normalizeModelName(m.value.name)));
      for (const tag of [...read.tags].sort((a, b) => a.name.localeCompare(b.name))) {
        if (typeof tag.name !== 'string' || tag.name.length > MAX_NAME || !MODEL_NAME.test(tag.name)) {
          result.flagged.push({ label: `models/?@${host.name}`, message: `Ollama on ${host.name} reports a model named ${JSON.stringify(String(tag.name).slice(0, 80))}, not a valid model name: not written` });
          continue;
        }
        const name = normalizeModelName(tag.name);
        if (listed.has(name)) continue;
        listed.add(name);
        const size = Number.isFinite(tag.size) && tag.size > 0 ? { size: formatSize(tag.size) } : {};
        result.added.push({
          type: 'document',
          folder: 'models',
          file: `${host.name.toLowerCase()}.yaml`,
          label: `models/${name}@${host.name}`,
          value: { kind: 'Model', name, host: host.name, runtime: 'ollama', ...size },
          from: `Ollama on ${host.name}`,
        });
      }
    }
    return result;
  },
};
