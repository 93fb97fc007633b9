// Schema pieces shared by several kinds. Each kind's schema copies the ones it uses
// into its own $defs, so every written schema file stands alone for editors.
import type { JsonSchema } from './kind.js';

export const SCHEMA_DIALECT = 'https://json-schema.org/draft/2020-12/schema';

export const defs = {
  name: {
    type: 'string',
    pattern: '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$',
    description: 'a name of lowercase letters, digits and dashes, such as "consilio" or "ssh-manager"',
  },
  hostName: {
    type: 'string',
    pattern: '^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$',
    description: 'a host name as in specs/hosts: letters, digits and dashes, such as "linux-home"',
  },
  text: { type: 'string', minLength: 1 },
  unixUser: { type: 'string', pattern: '^[a-z_][a-z0-9_-]{0,31}$', description: 'a Unix user name such as deployer' },
  port: { type: 'integer', minimum: 1, maximum: 65535, description: 'a TCP port, 1 to 65535' },
  size: {
    type: 'string',
    pattern: '^[0-9]+(\\.[0-9]+)?\\s?(KB|MB|GB|TB)$',
    description: 'a size such as 512MB, 32GB or 1.8TB',
  },
  sizeRange: {
    type: 'string',
    pattern: '^[0-9]+(\\.[0-9]+)?(\\s?-\\s?[0-9]+(\\.[0-9]+)?)?\\s?(KB|MB|GB|TB)$',
    description: 'a size or a range of sizes, such as 2GB or 8-12GB',
  },
  secretRef: {
    type: 'string',
    pattern: '^secret:[a-z0-9][a-z0-9_.-]*(/[a-z0-9][a-z0-9_.-]*)+$',
    description: 'a reference to the secret store, such as secret:meta/cloudflare/api_token (store it with `fleetspec secrets set`)',
  },
  hostKey: {
    type: 'string',
    pattern: '^(ssh-ed25519|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521|ssh-rsa) [A-Za-z0-9+/=]+$',
    description: 'a pinned public host key, as in known_hosts without the host name: "ssh-ed25519 AAAA..."',
  },
  threshold: {
    type: 'string',
    pattern: '^(<|>|<=|>=)\\s?[0-9]+(\\.[0-9]+)?\\s?(%|KB|MB|GB|TB|ms|s)?$',
    description: 'a comparison such as ">90%", "<12GB" or ">5s"',
  },
  labels: {
    type: 'array',
    items: { type: 'string', pattern: '^[a-z0-9][a-z0-9:._/-]*$', description: 'a label such as "phase-1"' },
    uniqueItems: true,
  },
} satisfies Record<string, JsonSchema>;

type DefName = keyof typeof defs;

/**
 * `suspend:`, accepted on every kind: fleetspec leaves the resource alone (reconciler/policies/suspend.ts).
 * Only the trusted commit's value counts in the loop: a branch that sets it suspends nothing in its own plan.
 */
export const SUSPEND_PROPERTY: JsonSchema = {
  description: 'true, or why: fleetspec leaves this resource alone (plans list its changes as suspended and never apply them; no drift PR). Takes effect once on the default branch',
  oneOf: [{ type: 'boolean' }, { type: 'string', minLength: 1 }],
};

/** A kind schema with the shared definitions it references copied into $defs. */
export function kindSchema(kind: string, title: string, description: string, body: JsonSchema): JsonSchema {
  const properties = body.properties as Record<string, JsonSchema> | undefined;
  if (properties && !('suspend' in properties)) body = { ...body, properties: { ...properties, suspend: SUSPEND_PROPERTY } };
  const used = [...JSON.stringify(body).matchAll(/"#\/\$defs\/([A-Za-z]+)"/g)].map((m) => m[1] as DefName);
  const $defs = Object.fromEntries([...new Set(used)].sort().filter((name) => name in defs).map((name) => [name, defs[name]]));
  return {
    $schema: SCHEMA_DIALECT,
    $id: `urn:fleetspec:schema:${kind}`,
    title,
    description,
    type: 'object',
    additionalProperties: false,
    ...body,
    $defs,
  };
}

export const ref = (name: DefName, description?: string): JsonSchema =>
  description ? { $ref: `#/$defs/${name}`, description } : { $ref: `#/$defs/${name}` };
