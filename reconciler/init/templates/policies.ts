// The policies `fleetspec init` writes: every built-in rule (reconciler/policies/rules/) with
// generic, commented params that the example specs pass, and two CEL rules to show the format.
// test/init/ checks that every built-in rule appears here.

const roles = `# Who may hold which capability. A pull request is judged by the default branch's copy of
# these files, never its own, so a change cannot loosen the rules that judge it.
#   exclusive: capability -> the only roles that may hold it
#   mustDeny:  role -> capabilities its spec must list under denied:
kind: Policy
name: role-matrix
description: Only the roles named here deploy to production or reach the Docker socket.
# error blocks apply; warning is shown in the plan and the pull request.
severity: error
rule: role-matrix
params:
  exclusive:
    deploy.production: [operator]
    docker.socket: []
  mustDeny:
    operator: [docker.socket]
---
# A custom rule in CEL (as in Kubernetes ValidatingAdmissionPolicy): each resource of the
# matched kinds for which the condition holds must make every expression true.
kind: Policy
name: bastions-hold-nothing
description: A bastion is a deploy channel and holds no capabilities.
severity: error
match:
  kinds: [roles]
  condition: resource.type == 'bastion'
validations:
  - expression: size(resource.capabilities) == 0
    messageExpression: "'bastion ' + name + ' holds capabilities: ' + resource.capabilities.join(', ')"
    hint: empty its capabilities; what it may do is decided by the roles that reach it
    path: capabilities
`;

const ports = `# Port ranges: one range per project, ranges never overlap, and every allocation lies in
# its own project's range.
kind: Policy
name: port-ranges
description: Project port ranges never overlap, and every allocation lies in its project's range.
severity: error
rule: port-ranges
params:
  # No range may start below this port (the privileged ports stay out of the ranges).
  lowest: 1024
---
# A service started on a default port inside another project's range collides when that
# project's service comes back. A port a host serves (its spec's services, or its listening
# ports when read live) inside a project's range must be allocated to that project.
kind: Policy
name: port-listeners
description: Nothing listens inside a project's range unless that project allocated the port.
severity: warning
rule: port-listeners
# params:
#   ignore: [32768]   # ports never reported, such as an ephemeral range overlapping a project's
`;

const dns = `# Every DNS name routes to an allocated port (route: project/service), and no CNAME points at
# a name in one of the zones that no spec defines.
kind: Policy
name: dns-routes
description: Every DNS name routes to an allocated port; no record points at an undefined name.
severity: error
rule: dns-routes
# params:
#   unrouted: [www.example.com]   # names that need no route
`;

const models = `# Per host, the models fit the host's RAM, its GPUs' VRAM, and the line of its budget: for
# their runtime (budgetLines: runtime -> words of the budget line's component).
kind: Policy
name: model-memory
description: Per host, the models fit the host's budget for their runtime, its RAM and its VRAM.
severity: error
rule: model-memory
params:
  budgetLines:
    ollama: ollama
    llama.cpp: llama.cpp
`;

const hosts = `# Disk, memory and CPU use stay under their alert thresholds, from live facts when a plan
# reads them, else from what a host spec says was observed. A host spec's monitoring: entries
# win over these defaults. Severity warning: a full disk is reported on every plan; make it
# error to stop applies while a host is over its thresholds.
kind: Policy
name: host-thresholds
description: Disk, memory and CPU stay under their alert thresholds.
severity: warning
rule: host-thresholds
params:
  defaults:
    - metric: disk.usage
      mount: /
      target: <80%
      alert: '>90%'
    - metric: cpu.usage
      target: <70%
      alert: '>85%'
      aggregate: sustained
    - metric: memory.usage
      alert: '>90%'
`;

const budget = `# The budget brake: the forecast monthly cost of the VMs in specs/vms, at or over brakeAt of
# the monthly budget, blocks apply. A VM that autoscales is forecast at its scaleUpTo size.
# The budget below is a placeholder: set yours, and keep the price table current.
kind: Policy
name: budget
description: The forecast monthly VM cost stays under 80% of the budget.
severity: error
rule: budget
params:
  currency: USD
  monthlyBudget: 50
  brakeAt: 0.8
  hoursPerMonth: 730
  # On-demand Linux prices per hour: provider -> region -> machine type. A VM whose type is
  # not listed cannot be forecast and is reported.
  prices:
    gcp:
      us-central1:
        e2-small: 0.016751
        e2-medium: 0.033503
        e2-standard-2: 0.067006
        e2-standard-4: 0.134012
        n1-standard-1: 0.0475
        n1-standard-2: 0.0950
        n1-standard-4: 0.1900
`;

const vmScale = `# Resize on load: a VM that declares autoscale: is read live (Cloud Monitoring); when its CPU over
# the window averages and peaks above these numbers, fleetspec proposes machineType: <scaleUpTo>
# in a pull request (label fleetspec:scale), judged by the budget brake, and withdraws it when the
# load falls. It never resizes without approval. A VM's own autoscale.when numbers win over these.
kind: Policy
name: vm-scale
description: A VM whose CPU averaged over 70% and peaked over 85% for two hours is proposed a resize to its scaleUpTo type.
severity: warning
rule: vm-scale
params:
  defaults:
    windowMinutes: 120
    cpuAvgAbove: 70
    cpuMaxAbove: 85
`;

const blastRadius = `# A plan that deletes more than a few things at once is more often a mistake (a folder
# moved, a spec half-deleted) than an intent. Lift it for one pull request with the label
# fleetspec/allow-deletions, or a line "/fleetspec allow-deletions" in the approving review.
kind: Policy
name: blast-radius
description: At most 5 deletions in one plan without an explicit override.
severity: error
override: allow-deletions
rule: blast-radius
params:
  maxDeletions: 5
  countReplacements: true
---
# A plan-wide custom rule in CEL: replacing a VM destroys its boot disk.
kind: Policy
name: no-vm-replacement
description: A VM is resized, never replaced, without a person saying so.
severity: warning
match:
  scope: plan
validations:
  - expression: "!plan.changes.exists(c, c.kind == 'vms' && c.action == 'replace')"
    message: the plan replaces a VM, which destroys its boot disk
    hint: change only what can change in place (machine type, labels), or snapshot the disk first
`;

const approval = `# Approval is a review by a GitHub user of a role with the approve capability, never by the
# pull request's author. A fleet run by one person can give that up, knowingly: while the
# login below is the only account with write access besides fleetspec's own, it may approve
# its own changes. A mistake, or a stolen account, then reaches live with nobody else's eyes
# on it. Off (enabled: false); to use it, put your login and remove the enabled: line.
kind: Policy
name: solo-operator
description: The only maintainer may approve their own changes.
severity: error
enabled: false
rule: solo-operator
params:
  login: your-github-login
`;

const readme = `# policies/

The rules every plan is judged by (\`fleetspec policy check\`, and the verdict in every plan and
pull request). One YAML document per policy: a built-in rule with its \`params:\`, or CEL
\`validations:\`. \`severity: error\` blocks apply; \`warning\` is shown. \`fleetspec policy rules\`
lists the built-in rules and their parameters.

| file | policies |
|---|---|
| roles.yaml | role-matrix, bastions-hold-nothing (CEL) |
| ports.yaml | port-ranges, port-listeners |
| dns.yaml | dns-routes |
| models.yaml | model-memory |
| hosts.yaml | host-thresholds |
| budget.yaml | budget and its price table |
| vm-scale.yaml | vm-scale: a VM resize proposed on sustained load |
| blast-radius.yaml | blast-radius, no-vm-replacement (CEL) |
| approval.yaml | solo-operator, off until you enable it |

A pull request is judged by the default branch's copy of these files, never its own.
`;

/** File name under policies/ → text. */
export const POLICY_FILES: Record<string, string> = {
  'README.md': readme,
  'roles.yaml': roles,
  'ports.yaml': ports,
  'dns.yaml': dns,
  'models.yaml': models,
  'hosts.yaml': hosts,
  'budget.yaml': budget,
  'vm-scale.yaml': vmScale,
  'blast-radius.yaml': blastRadius,
  'approval.yaml': approval,
};
