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
  services?: { name: string; port: number; description?: string; health?: HealthProbe }[];
  backups?: Backup[];
  budget?: { component: string; ram?: string; vram?: string; notes?: string }[];
  monitoring?: { metric: string; target?: string; alert: string; aggregate?: 'avg' | 'max' | 'sustained'; mount?: string }[];
  observed?: { source: string; disks?: { mount: string; usedPercent: number }[] };
  notes?: string[];
}

/** An HTTP probe of a service, made from the host itself: GET http://127.0.0.1:<port><http>. */
export interface HealthProbe {
  http: string;
  /** The status (or statuses) that mean healthy; default 200. */
  expect?: number | number[];
  /** How long the probe may take, "5s" (1 to 30 seconds); default 5s. */
  timeout?: string;
}

/** Backups fleetspec verifies (it never runs them): entries under `path`, the newest no older than maxAge, `keep` of them. */
export interface Backup {
  name: string;
  /** The absolute directory holding the backups. */
  path: string;
  /** The newest entry's greatest age: "26h", "90m", "2d". */
  maxAge: string;
  /** How many entries the rotation keeps. */
  keep: number;
  /** Which entries of `path` are backups: a shell pattern on the entry's name (*, ?, [0-9]); default every entry not starting with a dot. */
  pattern?: string;
  /** Inside each matching entry (a dated directory), the file that is the backup: an entry counts only when it holds this file, and its age and size are this file's. */
  file?: string;
}

/** A URL path as a probe requests it: RFC 3986 path characters only, no quotes, spaces, `$`, backticks, globs or `..`; an optional plain query. */
export const PROBE_PATH = '^(?!.*(^|/)\\.\\.(/|\\?|$))/[A-Za-z0-9._~%/-]{0,200}(\\?[A-Za-z0-9._~%=&-]{0,200})?$';
/** An absolute directory: segments of letters, digits and ._@+- , none of them . or .. */
export const BACKUP_PATH = '^(?!.*(^|/)\\.{1,2}(/|$))(/[A-Za-z0-9._@+-]{1,128}){1,32}/?$';
/** An entry name pattern: letters, digits, ._- and the glob characters * ? [ ] ! (no slash, no space, nothing else a shell reads). */
export const BACKUP_PATTERN = '^[A-Za-z0-9._*?!\\[\\]-]{1,128}$';
/** A file name inside an entry: letters, digits and ._@+- , not . or .. */
export const BACKUP_FILE = '^(?!\\.{1,2}$)[A-Za-z0-9._@+-]{1,128}$';
export const CHECK_TIMEOUT = '^([1-9]|[12][0-9]|30)s$';
export const BACKUP_AGE = '^[1-9][0-9]{0,4}(m|h|d)$';

const httpStatus = { type: 'integer', minimum: 100, maximum: 599, description: 'an HTTP status such as 200' };

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
          properties: {
            name: ref('name'),
            port: ref('port'),
            description: ref('text'),
            health: {
              type: 'object',
              additionalProperties: false,
              required: ['http'],
              description: 'an HTTP probe fleetspec makes from the host itself over SSH with --live (GET http://127.0.0.1:<port><http>, redirects not followed); a failure is a finding that opens a ticket',
              properties: {
                http: { type: 'string', maxLength: 256, pattern: PROBE_PATH, description: 'the path to request, such as /health or /api/v1/info: URL path characters only, an optional query' },
                expect: {
                  description: 'the HTTP status that means healthy, or a list of them (default 200)',
                  oneOf: [httpStatus, { type: 'array', items: httpStatus, minItems: 1, maxItems: 10, uniqueItems: true }],
                },
                timeout: { type: 'string', pattern: CHECK_TIMEOUT, description: 'how long the probe may take, 1s to 30s (default 5s)' },
              },
            },
          },
        },
      },
      backups: {
        type: 'array',
        maxItems: 32,
        description: 'backups on this host that fleetspec verifies with --live (it never runs them): the newest entry\'s age and how many there are',
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'path', 'maxAge', 'keep'],
          properties: {
            name: ref('name'),
            path: { type: 'string', maxLength: 512, pattern: BACKUP_PATH, description: 'the absolute directory holding the backups, such as /data/backups' },
            maxAge: { type: 'string', pattern: BACKUP_AGE, description: 'the newest backup\'s greatest age: minutes, hours or days, such as 26h' },
            keep: { type: 'integer', minimum: 1, maximum: 1000, description: 'how many backups the rotation keeps: fewer is a finding, and more than one over is too' },
            pattern: { type: 'string', pattern: BACKUP_PATTERN, description: 'which entries of path are backups, a shell pattern on the name such as "[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]" or "*.sql.gz" (default: every entry not starting with a dot)' },
            file: { type: 'string', pattern: BACKUP_FILE, description: 'inside each matching entry (a dated directory), the file that is the backup, such as postgres.sql: entries without it do not count' },
          },
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
    const backups = new Map<string, number>();
    (resource.value.backups ?? []).forEach((b, i) => {
      const first = backups.get(b.name);
      if (first !== undefined) {
        findings.push({ code: 'ref.duplicate-backup', path: ['backups', i, 'name'], message: `backup "${b.name}" is already declared on this host`, hint: 'give each backup on a host its own name' });
      } else backups.set(b.name, i);
    });
    const url = resource.value.ollama?.url;
    if (url !== undefined) {
      const checked = checkOllamaUrl(url, resource.value);
      if (!checked.ok) findings.push({ code: checked.code, path: ['ollama', 'url'], message: checked.message, hint: checked.hint });
    }
    return findings;
  },
});
