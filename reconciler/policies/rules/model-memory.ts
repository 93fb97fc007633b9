// Seed 004's allocation tables: per host, the models of a runtime fit that runtime's line of
// the host's budget (Ollama: 8-12GB of RAM on ai; llama.cpp: 1.5-2GB of VRAM on the
// workstation), and all models together fit the host's RAM and its GPUs' VRAM.
import { formatSize, parseSize } from '../../kinds/hosts/facts.js';
import type { Host } from '../../kinds/hosts/index.js';
import type { Resource } from '../../kinds/kind.js';
import type { Model } from '../../kinds/models/index.js';
import type { BuiltinRule, Violation } from '../policy.js';

export interface ModelMemoryParams {
  /** Runtime → the text that names its line in a host's budget: table (case-insensitive). */
  budgetLines?: Record<string, string>;
}

type Memory = 'ram' | 'vram';

export const modelMemory: BuiltinRule<ModelMemoryParams> = {
  name: 'model-memory',
  description: "per host, the models' memory fits the host's budget for their runtime, its RAM and its VRAM",
  params: {
    type: 'object',
    additionalProperties: false,
    properties: {
      budgetLines: { type: 'object', propertyNames: { enum: ['ollama', 'llama.cpp'] }, additionalProperties: { type: 'string', minLength: 1 }, description: 'runtime: words of its budget line' },
    },
  },
  check(params, { index }) {
    const out: Violation[] = [];
    const byHost = new Map<string, Resource<Model>[]>();
    for (const m of index.all('models') as Resource<Model>[]) if (m.value.host) byHost.set(m.value.host, [...(byHost.get(m.value.host) ?? []), m]);
    for (const [hostName, models] of byHost) {
      const host = index.get('hosts', hostName) as Resource<Host> | undefined;
      if (!host) continue; // an unknown host is the loader's error already
      const sum = (list: Resource<Model>[], kind: Memory) => list.reduce((n, m) => n + (m.value.memory?.[kind] ? parseSize(m.value.memory[kind]!) : 0), 0);
      const over = (list: Resource<Model>[], kind: Memory, cap: number, what: string, hint: string) => {
        const used = sum(list, kind);
        if (used <= cap) return;
        const last = [...list].reverse().find((m) => m.value.memory?.[kind])!;
        out.push({
          resource: last,
          path: ['memory', kind],
          message: `the ${list.length === 1 ? 'model' : `${list.length} models`} ${list.map((m) => m.value.name).join(', ')} on ${hostName} need${list.length === 1 ? 's' : ''} ${formatSize(used)} of ${kind.toUpperCase()}, over ${what} (${formatSize(cap)})`,
          hint,
        });
      };
      for (const runtime of new Set(models.map((m) => m.value.runtime))) {
        const words = params.budgetLines?.[runtime];
        const line = words ? host.value.budget?.find((b) => b.component.toLowerCase().includes(words.toLowerCase())) : undefined;
        const list = models.filter((m) => m.value.runtime === runtime);
        for (const kind of ['ram', 'vram'] as const) {
          if (line?.[kind]) over(list, kind, parseSize(line[kind]!), `the ${line.component} budget of ${hostName}`, `remove a model, or raise the ${line.component} line of the budget in ${host.doc.source.file}`);
        }
      }
      if (host.value.memory?.size) over(models, 'ram', parseSize(host.value.memory.size), `${hostName}'s RAM`, `run fewer or smaller models on ${hostName}`);
      const gpus = (host.value.gpus ?? []).filter((g) => g.vram);
      if (sum(models, 'vram') > 0) over(models, 'vram', gpus.reduce((n, g) => n + parseSize(g.vram!), 0), gpus.length ? `the VRAM of ${hostName}'s GPUs` : `the VRAM of ${hostName}, which lists no GPU memory`, `use a smaller quantisation, or give the host's gpus: their vram:`);
    }
    return out;
  },
};
