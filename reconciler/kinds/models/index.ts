import { kindSchema, ref } from '../common.js';
import { defineKind, type Finding } from '../kind.js';
import { missingReference } from '../references.js';

export interface Model {
  kind: 'Model';
  name: string;
  host?: string;
  runtime: 'ollama' | 'llama.cpp' | 'api';
  provider?: string;
  size?: string;
  memory?: { ram?: string; vram?: string };
  purpose?: string;
  latency?: string;
}

const LOCAL_RUNTIMES = new Set(['ollama', 'llama.cpp']);

const schema = kindSchema(
  'models',
  'Model',
  'An LLM the fleet uses: served by Ollama or llama.cpp on a host, or reached through an external API.',
  {
    required: ['kind', 'name', 'runtime'],
    properties: {
      kind: { const: 'Model' },
      name: {
        type: 'string',
        pattern: '^[A-Za-z0-9][A-Za-z0-9._:/-]*$',
        description: 'the model as its runtime names it: an Ollama tag (qwen2.5:7b), a GGUF name, or a provider model id (anthropic/claude-sonnet-4)',
      },
      host: ref('hostName', 'the host that serves it; required for ollama and llama.cpp'),
      runtime: { enum: ['ollama', 'llama.cpp', 'api'] },
      provider: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]*$', description: 'for runtime api: openrouter, anthropic, openai...' },
      size: ref('size', 'download size'),
      memory: {
        type: 'object',
        additionalProperties: false,
        description: 'memory the loaded model takes, in RAM or in GPU VRAM',
        properties: { ram: ref('size'), vram: ref('size') },
      },
      purpose: ref('text'),
      latency: ref('text', 'expected response time, such as 2-4 sec'),
    },
  },
);

export const models = defineKind<Model>({
  kind: 'Model',
  folder: 'models',
  description: 'LLMs per host (Ollama, llama.cpp) and external APIs; Ollama models are pulled and pruned',
  schema,
  nameOf: (m) => (m.host ? `${m.name}@${m.host}` : m.name),
  namePath: ['name'],
  references({ value }, index) {
    const findings: Finding[] = [];
    const host = missingReference(index, 'hosts', value.host, ['host']);
    if (host) findings.push(host);
    if (LOCAL_RUNTIMES.has(value.runtime) && value.host === undefined) {
      findings.push({
        code: 'ref.missing-host',
        path: ['runtime'],
        message: `${value.runtime === 'ollama' ? 'an' : 'a'} ${value.runtime} model needs the host that serves it`,
        hint: 'add host: <name of a host in specs/hosts>',
      });
    }
    if (value.runtime === 'api' && value.provider === undefined) {
      findings.push({
        code: 'ref.missing-provider',
        path: ['runtime'],
        message: 'an api model needs its provider',
        hint: 'add provider: openrouter (or anthropic, openai...)',
      });
    }
    return findings;
  },
});
