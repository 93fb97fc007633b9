// Seeds 000/001's role matrix: some capabilities belong to named roles only (monitor alone
// deploys, reaches the bastions and the Docker socket), and some roles must deny them outright.
import type { Resource } from '../../kinds/kind.js';
import { CAPABILITIES, type Role } from '../../kinds/roles/index.js';
import type { BuiltinRule, Violation } from '../policy.js';

export interface RoleMatrixParams {
  /** Capability → the only roles that may hold it. */
  exclusive?: Record<string, string[]>;
  /** Role → capabilities its spec must list under denied:. */
  mustDeny?: Record<string, string[]>;
}

const capability = { enum: Object.keys(CAPABILITIES), description: 'a capability of the role matrix' };
const list = (items: object) => ({ type: 'array', items, uniqueItems: true });

export const roleMatrix: BuiltinRule<RoleMatrixParams> = {
  name: 'role-matrix',
  description: 'capabilities only named roles may hold, and capabilities a role must deny',
  params: {
    type: 'object',
    additionalProperties: false,
    properties: {
      exclusive: { type: 'object', propertyNames: capability, additionalProperties: list({ type: 'string', minLength: 1 }), description: 'capability: [roles that alone may hold it]' },
      mustDeny: { type: 'object', additionalProperties: list(capability), description: 'role: [capabilities it must list under denied:]' },
    },
  },
  check(params, { index }) {
    const out: Violation[] = [];
    const roles = index.all('roles') as Resource<Role>[];
    for (const resource of roles) {
      resource.value.capabilities.forEach((capability, i) => {
        const holders = params.exclusive?.[capability];
        if (holders && !holders.includes(resource.name)) {
          out.push({
            resource,
            path: ['capabilities', i],
            message: `holds "${capability}", which only ${holders.join(', ')} may hold`,
            hint: `remove "${capability}" from its capabilities${holders.length === 1 ? ` (the ${holders[0]} role does this)` : ''}`,
          });
        }
      });
      const denied = new Set<string>(resource.value.denied ?? []);
      const missing = (params.mustDeny?.[resource.name] ?? []).filter((c) => !denied.has(c));
      if (missing.length) {
        out.push({
          resource,
          path: resource.value.denied ? ['denied'] : ['name'],
          message: `must deny ${missing.map((c) => `"${c}"`).join(', ')}`,
          hint: `add ${missing.join(', ')} under denied:`,
        });
      }
    }
    return out;
  },
};
