// The built-in rules, by the name a policy file's rule: gives.
import type { BuiltinRule } from '../policy.js';
import { blastRadius } from './blast-radius.js';
import { budget } from './budget.js';
import { dnsRoutes } from './dns-routes.js';
import { hostThresholds } from './host-thresholds.js';
import { modelMemory } from './model-memory.js';
import { portListeners } from './port-listeners.js';
import { portRanges } from './port-ranges.js';
import { roleMatrix } from './role-matrix.js';
import { soloOperator } from './solo-operator.js';
import { vmScale } from './vm-scale.js';

export const RULES: readonly BuiltinRule<any>[] = [roleMatrix, portRanges, portListeners, dnsRoutes, modelMemory, hostThresholds, budget, blastRadius, soloOperator, vmScale];

export const ruleByName = new Map(RULES.map((r) => [r.name, r]));
