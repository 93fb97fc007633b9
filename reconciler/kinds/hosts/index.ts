import { kindSchema, ref } from '../common.js';
import { defineKind, type Finding } from '../kind.js';
import { checkOllamaUrl } from './ollama-url.js';

export interface Host {
  kind: 'Host';
  name: string;
  hostname?: string;
  address: string;
  hardware?: string;
  os?: string;
  purpose?: string;
  cpu?: { model?: string; cores?: number; threads?: number; clock?: string };
  memory?: { size: string; type?: string };
  disks?: { size: string; type?: string; use?: string; mount?: string; mounted?: boolean }[];
  gpus?: { model: string; vram?: string; use?: string }[];
  network?: string[];
  ssh?: { user?: string; port?: number; hostKey?: string };
  ollama?: { port?: number; url?: string; prune?: boolean };
  services?: { name: string; port: number; description?: string }[];
  budget?: { component: string; ram?: string; vram?: string; notes?: string }[];
  monitoring?: { metric: string; target?: string; alert: string; aggregate?: 'avg' | 'max' | 'sustained'; mount?: string }[];
  observed?: { source: string; disks?: { mount: string; usedPercent: number }[] };
  notes?: string[];
}

const schema = kindSchema(
  'hosts',
  'Host',
  'A machine of the fleet. Read-only to fleetspec: live facts are compared with this, drift and threshold breaches are reported.',
  {
    required: ['kind', 'name', 'address'],
    properties: {
      kind: { const: 'Host' },
      name: ref('hostName', 'how other specs refer to this host'),
      hostname: ref('hostName', 'the machine\'s own hostname, when it differs from name'),
      address: {
        type: 'string',
        pattern: '^[A-Za-z0-9]([A-Za-z0-9.:-]*[A-Za-z0-9])?$',
        description: 'an IP address or DNS name where the host is reached',
      },
      hardware: ref('text'),
      os: ref('text'),
      purpose: ref('text', 'what the host is for'),
      cpu: {
        type: 'object',
        additionalProperties: false,
        properties: {
          model: ref('text'),
          cores: { type: 'integer', minimum: 1 },
          threads: { type: 'integer', minimum: 1 },
          clock: { type: 'string', pattern: '^[0-9.]+(-[0-9.]+)?GHz$', description: 'a clock speed such as 3.5GHz or 2.8-4.0GHz' },
        },
      },
      memory: {
        type: 'object',
        additionalProperties: false,
        required: ['size'],
        properties: { size: ref('size'), type: ref('text') },
      },
      disks: {
        type: 'array',
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['size'],
          properties: {
            size: ref('size'),
            type: { enum: ['SSD', 'HDD', 'NVMe', 'Optane', 'USB'] },
            use: ref('text', 'boot, swap, data...'),
            mount: { type: 'string', pattern: '^/', description: 'an absolute mount point such as /' },
            mounted: { type: 'boolean' },
          },
        },
      },
      gpus: {
        type: 'array',
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['model'],
          properties: { model: ref('text'), vram: ref('size'), use: ref('text') },
        },
      },
      network: { type: 'array', items: ref('text') },
      ssh: {
        type: 'object',
        additionalProperties: false,
        description: 'how the reconciler reaches the host with --live; without it the host is never contacted',
        properties: {
          user: ref('unixUser'),
          port: ref('port'),
          hostKey: ref('hostKey'),
        },
      },
      ollama: {
        type: 'object',
        additionalProperties: false,
        description: 'how fleetspec reaches Ollama on this host: through an SSH port forward to 127.0.0.1:port, or at url',
        properties: {
          port: ref('port', 'Ollama\'s port on the host (default: the port of the service named ollama, else 11434)'),
          url: {
            type: 'string',
            pattern: '^[A-Za-z][A-Za-z0-9+.-]*://\\S+$',
            description: 'Ollama at http://host:port on this host only: on loopback (http://127.0.0.1:11434, reached through the SSH forward) or at the host\'s own address or hostname (reached directly); no credentials, path, query or fragment',
          },
          prune: { type: 'boolean', description: 'remove models Ollama has that no spec lists (default false)' },
        },
      },
      services: {
        type: 'array',
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'port'],
          properties: { name: ref('name'), port: ref('port'), description: ref('text') },
        },
      },
      budget: {
        type: 'array',
        description: 'planned resource allocation per component',
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['component'],
          properties: { component: ref('text'), ram: ref('sizeRange'), vram: ref('sizeRange'), notes: ref('text') },
        },
      },
      monitoring: {
        type: 'array',
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['metric', 'alert'],
          properties: {
            metric: { type: 'string', pattern: '^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)*$', description: 'a metric name such as disk.usage' },
            target: ref('threshold'),
            alert: ref('threshold'),
            aggregate: { enum: ['avg', 'max', 'sustained'] },
            mount: { type: 'string', pattern: '^/' },
          },
        },
      },
      observed: {
        type: 'object',
        additionalProperties: false,
        required: ['source'],
        description: 'last facts known without a live read, and where they come from',
        properties: {
          source: ref('text'),
          disks: {
            type: 'array',
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['mount', 'usedPercent'],
              properties: { mount: { type: 'string', pattern: '^/' }, usedPercent: { type: 'number', minimum: 0, maximum: 100 } },
            },
          },
        },
      },
      notes: { type: 'array', items: ref('text') },
    },
  },
);

export const hosts = defineKind<Host>({
  kind: 'Host',
  folder: 'hosts',
  description: 'machines of the fleet; read-only, drift and thresholds are reported',
  schema,
  nameOf: (h) => h.name,
  namePath: ['name'],
  references(resource) {
    const findings: Finding[] = [];
    const seen = new Map<number, number>();
    (resource.value.services ?? []).forEach((s, i) => {
      const first = seen.get(s.port);
      if (first !== undefined) {
        findings.push({
          code: 'ref.port-collision',
          path: ['services', i, 'port'],
          message: `port ${s.port} is already used by service "${resource.value.services![first]!.name}" on this host`,
          hint: 'give each service on a host its own port',
        });
      } else seen.set(s.port, i);
    });
    const url = resource.value.ollama?.url;
    if (url !== undefined) {
      const checked = checkOllamaUrl(url, resource.value);
      if (!checked.ok) findings.push({ code: checked.code, path: ['ollama', 'url'], message: checked.message, hint: checked.hint });
    }
    return findings;
  },
});
