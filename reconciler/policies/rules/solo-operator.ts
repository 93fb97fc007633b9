// Many home labs have one person. This rule judges no plan: it is read by the loop's approval
// check. While `login` is the only account with write access besides fleetspec's own (the
// collaborators API, asked at each apply), `login` may approve a change they made. It gives up
// the two-person rule: a mistake, or a stolen account of theirs, reaches live with nobody else's
// eyes on it. It counts only from the trusted commit's policies, like every policy.
import type { BuiltinRule } from '../policy.js';
import type { PolicySet } from '../policy.js';

export interface SoloOperatorParams {
  login: string;
}

export const soloOperator: BuiltinRule<SoloOperatorParams> = {
  name: 'solo-operator',
  description: 'login may approve their own changes while the only account with write access besides fleetspec (gives up the two-person rule)',
  params: {
    type: 'object',
    additionalProperties: false,
    required: ['login'],
    // GitHub's login rules: letters, digits and single hyphens, at most 39 characters.
    properties: { login: { type: 'string', pattern: '^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$' } },
  },
  check: () => [],
};

/** The solo operator a policy set names, lower case; undefined when none (or, ambiguously, more than one). */
export function soloLogin(set: PolicySet): string | undefined {
  const named = new Set(set.policies.filter((p) => p.builtin?.rule.name === soloOperator.name).map((p) => (p.builtin!.params as SoloOperatorParams).login.toLowerCase()));
  return named.size === 1 ? [...named][0] : undefined;
}
