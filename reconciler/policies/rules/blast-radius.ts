// A plan that deletes more than a few things at once is more often a mistake (a folder moved,
// a spec half-deleted) than an intent. Past the limit it needs an explicit override: the PR's
// label or an approver's review line (see the policy's override:).
import type { BuiltinRule, Violation } from '../policy.js';

export interface BlastRadiusParams {
  maxDeletions: number;
  /** Replacements destroy what the old resource held; counted unless false. */
  countReplacements?: boolean;
}

export const blastRadius: BuiltinRule<BlastRadiusParams> = {
  name: 'blast-radius',
  description: 'at most maxDeletions deletions (and replacements) in one plan without an override',
  needs: 'plan',
  params: {
    type: 'object',
    additionalProperties: false,
    required: ['maxDeletions'],
    properties: { maxDeletions: { type: 'integer', minimum: 0 }, countReplacements: { type: 'boolean' } },
  },
  check(params, { plan }) {
    const gone = (plan?.changes ?? []).filter((c) => c.action === 'delete' || (c.action === 'replace' && params.countReplacements !== false));
    if (gone.length <= params.maxDeletions) return [];
    const listed = gone.slice(0, 10).map((c) => `${c.kind}/${c.name}${c.action === 'replace' ? ' (replace)' : ''}`);
    const violation: Violation = {
      kind: 'plan',
      name: 'deletions',
      message: `${gone.length} deletions, more than the ${params.maxDeletions} allowed in one plan: ${listed.join(', ')}${gone.length > 10 ? `, and ${gone.length - 10} more` : ''}`,
      hint: 'split the change into smaller PRs, or override if every deletion is intended',
    };
    return [violation];
  },
};
