import { kindSchema, ref } from '../common.js';
import { defineKind, type Finding } from '../kind.js';
import { missingReference } from '../references.js';
import { ENV_FILE_DESCRIPTION, ENV_FILE_PATTERN } from './files.js';

/** The role matrix of seeds 000/001 as capability ids, plus fleetspec's own `approve`. */
export const CAPABILITIES = {
  'tickets.manage': 'create and manage tickets',
  'tickets.push': 'push tickets to GitHub',
  'tickets.pull': 'pull tickets from GitHub',
  'tickets.work': 'work on assigned tickets',
  'llm.configure': 'configure the LLM on role services',
  'env.update': 'update a role\'s .env over SSH',
  'ssh.roles': 'SSH to all role services',
  'ssh.bastions': 'SSH to the infrastructure bastions',
  'code.push': 'edit code and git push',
  'tests.run': 'run local tests',
  'llm.code': 'LLM code assistance',
  'llm.logs': 'LLM log analysis',
  'llm.orchestrate': 'autonomous LLM orchestration',
  'deploy.production': 'deploy to production',
  'monitoring.daemon': 'run the health monitoring daemon',
  'docker.socket': 'access the Docker socket',
  approve: 'approve fleetspec pull requests (reviews by the role\'s GitHub users count as approval)',
  'secrets.read': 'read secrets under the prefixes named in mcp.secrets through fleetspec mcp (get_secret); off unless granted',
} as const;

export type Capability = keyof typeof CAPABILITIES;

export interface Role {
  kind: 'Role';
  name: string;
  type: 'role' | 'bastion';
  description?: string;
  service?: string;
  host?: string;
  ssh: { user: string; port: number; hostKey?: string };
  /** The complete authorized_keys of the role user; absent: the file is not managed. */
  authorizedKeys?: string[];
  capabilities: Capability[];
  denied?: Capability[];
  networks?: string[];
  readOnlyNetworks?: string[];
  llm?: { provider: 'openrouter' | 'ollama' | 'openai'; model?: string; baseUrl?: string; apiKey?: string; purpose?: string; envFile?: string };
  githubUsers?: string[];
  /** What the role's agent may do through `fleetspec mcp` beyond its capabilities. */
  mcp?: { secrets?: string[] };
}

const capability = {
  enum: Object.keys(CAPABILITIES),
  description: 'a capability from the role matrix: ' + Object.keys(CAPABILITIES).join(', '),
};

const schema = kindSchema(
  'roles',
  'Role',
  'A role of the role matrix: its SSH account, what it may and may never do, its LLM configuration, and who acts in it on GitHub.',
  {
    required: ['kind', 'name', 'type', 'ssh', 'capabilities'],
    properties: {
      kind: { const: 'Role' },
      name: ref('name'),
      type: { enum: ['role', 'bastion'], description: 'role: a person or agent account; bastion: a deploy channel into infrastructure' },
      description: ref('text'),
      service: ref('name', 'the service that provides the role\'s SSH endpoint, such as ssh-manager'),
      host: ref('hostName', 'the host where the role\'s account lives'),
      ssh: {
        type: 'object',
        additionalProperties: false,
        required: ['user', 'port'],
        properties: {
          user: ref('unixUser'),
          port: ref('port'),
          hostKey: ref('hostKey', "the pinned public host key of the role's SSH endpoint"),
        },
      },
      authorizedKeys: {
        type: 'array',
        uniqueItems: true,
        description: "the role user's whole ~/.ssh/authorized_keys; keys not listed are removed. Leave it out and the file is not managed",
        items: {
          type: 'string',
          pattern: '^(ssh-ed25519|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521|ssh-rsa|sk-ssh-ed25519@openssh.com|sk-ecdsa-sha2-nistp256@openssh.com) [A-Za-z0-9+/=]+( [^\\n\\r]*)?$',
          description: 'a public key line: "ssh-ed25519 AAAA... comment" (no options)',
        },
      },
      capabilities: { type: 'array', items: capability, uniqueItems: true },
      denied: { type: 'array', items: capability, uniqueItems: true, description: 'capabilities this role must never be given' },
      networks: { type: 'array', items: ref('name'), uniqueItems: true },
      readOnlyNetworks: { type: 'array', items: ref('name'), uniqueItems: true },
      llm: {
        type: 'object',
        additionalProperties: false,
        required: ['provider'],
        description: 'the LLM configuration written to the role\'s .env',
        properties: {
          provider: { enum: ['openrouter', 'ollama', 'openai'] },
          model: ref('text', 'the model id, such as anthropic/claude-sonnet-4'),
          baseUrl: { type: 'string', pattern: '^https?://[^\\s@]+$', description: 'an http(s) URL without credentials' },
          apiKey: ref('secretRef'),
          purpose: ref('text'),
          envFile: { type: 'string', pattern: ENV_FILE_PATTERN, description: ENV_FILE_DESCRIPTION },
        },
      },
      githubUsers: {
        type: 'array',
        uniqueItems: true,
        items: { type: 'string', pattern: '^[A-Za-z0-9](-?[A-Za-z0-9]){0,38}$', description: 'a GitHub user name' },
      },
      mcp: {
        type: 'object',
        additionalProperties: false,
        description: "what the role's agent may do through fleetspec mcp beyond its capabilities",
        properties: {
          secrets: {
            type: 'array',
            uniqueItems: true,
            description: 'secret path prefixes get_secret may read (with the secrets.read capability), each ending in /, such as projects/consilio/',
            items: { type: 'string', pattern: '^[a-z0-9][a-z0-9_.-]*/([a-z0-9][a-z0-9_.-]*/)*$', maxLength: 200 },
          },
        },
      },
    },
  },
);

export const roles = defineKind<Role>({
  kind: 'Role',
  folder: 'roles',
  description: 'the role matrix: SSH accounts, capabilities, per-role LLM .env, approvers',
  schema,
  nameOf: (r) => r.name,
  namePath: ['name'],
  references(resource, index) {
    const { value } = resource;
    const findings: Finding[] = [];
    const host = missingReference(index, 'hosts', value.host, ['host']);
    if (host) findings.push(host);
    if (value.mcp?.secrets?.length && !value.capabilities.includes('secrets.read')) {
      findings.push({
        code: 'ref.mcp-secrets',
        path: ['mcp', 'secrets'],
        severity: 'warning',
        message: 'mcp.secrets names prefixes, but the role lacks the secrets.read capability: get_secret stays off for it',
        hint: 'add secrets.read to capabilities, or remove mcp.secrets',
      });
    }
    const denied = new Set(value.denied ?? []);
    value.capabilities.forEach((c, i) => {
      if (denied.has(c)) {
        findings.push({
          code: 'ref.capability-conflict',
          path: ['capabilities', i],
          message: `capability "${c}" is both granted and denied`,
          hint: 'remove it from capabilities or from denied',
        });
      }
    });
    // Two roles answering on the same host and port cannot both exist; report on the later one.
    for (const other of index.all('roles')) {
      if (other === resource) break;
      const o = other.value as Role;
      if (o.host === value.host && o.ssh.port === value.ssh.port) {
        findings.push({
          code: 'ref.port-collision',
          path: ['ssh', 'port'],
          message: `SSH port ${value.ssh.port} is already used by ${other.label}${value.host ? ` on ${value.host}` : ''}`,
          hint: 'give each role on a host its own SSH port',
        });
      }
    }
    return findings;
  },
});
