// Seed 002's hard budget brake: the forecast monthly cost of the VMs the specs describe, from
// a price table kept in policies/, must stay under a share (80%) of the monthly budget. A VM
// that autoscales is forecast at the size it may scale up to, since that needs no new PR.
import type { Resource } from '../../kinds/kind.js';
import type { VirtualMachine } from '../../kinds/vms/index.js';
import type { BuiltinRule, Violation } from '../policy.js';

export interface BudgetParams {
  currency: string;
  monthlyBudget: number;
  /** Share of the budget at which apply is refused; seed 002: 0.8. */
  brakeAt: number;
  hoursPerMonth?: number;
  /** Hourly on-demand price by provider, region and machine type. */
  prices: Record<string, Record<string, Record<string, number>>>;
}

const money = (n: number, currency: string) => `${n.toFixed(2)} ${currency}`;

export const budget: BuiltinRule<BudgetParams> = {
  name: 'budget',
  description: 'the forecast monthly VM cost stays under the budget brake (a share of the monthly budget, such as 80%)',
  params: {
    type: 'object',
    additionalProperties: false,
    required: ['currency', 'monthlyBudget', 'brakeAt', 'prices'],
    properties: {
      currency: { type: 'string', pattern: '^[A-Z]{3}$', description: 'an ISO 4217 code such as USD' },
      monthlyBudget: { type: 'number', exclusiveMinimum: 0 },
      brakeAt: { type: 'number', exclusiveMinimum: 0, maximum: 1, description: 'a share of the budget, such as 0.8' },
      hoursPerMonth: { type: 'number', exclusiveMinimum: 0, maximum: 744 },
      prices: {
        type: 'object',
        description: 'provider: region: machine type: hourly price',
        additionalProperties: { type: 'object', additionalProperties: { type: 'object', additionalProperties: { type: 'number', minimum: 0 } } },
      },
    },
  },
  check(params, { index }) {
    const out: Violation[] = [];
    const hours = params.hoursPerMonth ?? 730;
    const costs: { resource: Resource<VirtualMachine>; monthly: number; type: string }[] = [];
    for (const resource of index.all('vms') as Resource<VirtualMachine>[]) {
      const vm = resource.value;
      const region = vm.zone.replace(/-[a-z]$/, '');
      const type = vm.autoscale?.scaleUpTo ?? vm.machineType;
      const hourly = params.prices[vm.provider]?.[region]?.[type];
      if (hourly === undefined) {
        out.push({
          resource,
          path: vm.autoscale ? ['autoscale', 'scaleUpTo'] : ['machineType'],
          message: `no price for ${vm.provider} ${type} in ${region}, so the budget cannot be forecast`,
          hint: `add prices: ${vm.provider}: ${region}: ${type}: <hourly price> to the budget policy`,
        });
        continue;
      }
      costs.push({ resource, monthly: hourly * hours, type });
    }
    const total = costs.reduce((n, c) => n + c.monthly, 0);
    const brake = params.monthlyBudget * params.brakeAt;
    if (costs.length && total >= brake) {
      const top = costs.reduce((a, b) => (b.monthly > a.monthly ? b : a));
      const share = Math.round((total / params.monthlyBudget) * 100);
      out.push({
        resource: top.resource,
        path: top.resource.value.autoscale ? ['autoscale', 'scaleUpTo'] : ['machineType'],
        message: `forecast ${money(total, params.currency)} a month is ${share}% of the ${money(params.monthlyBudget, params.currency)} budget, at or over the ${Math.round(params.brakeAt * 100)}% brake (${costs.map((c) => `${c.resource.name} ${c.type} ${money(c.monthly, params.currency)}`).join(', ')})`,
        hint: `use a smaller machine type (this VM is the largest cost), or raise monthlyBudget in the budget policy`,
      });
    }
    return out;
  },
};
