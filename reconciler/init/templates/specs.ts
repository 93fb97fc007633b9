// The example specs `fleetspec init` writes: one commented file per kind, by the kind's folder.
// Example values only (RFC 5737 addresses, example.com names, placeholder names, secrets as
// secret: references), and consistent with each other: every reference resolves, and the
// policies of templates/policies.ts pass on them. test/init/ checks that every kind has one.

import { INSTRUCTIONS_EXAMPLE } from '../../kinds/instructions/example.js';

/** The one example host the other examples refer to. */
export const EXAMPLE_HOST = 'example-host';

const schemaLine = (folder: string) => `# yaml-language-server: $schema=../schemas/${folder}.schema.json\n`;

const hosts = `${schemaLine('hosts')}# A machine of the fleet. fleetspec never changes a host: with \`plan --live\` it reads the
# host's facts over SSH (OS, CPUs, memory, disks, listening ports) and reports what differs
# from this file as drift, and thresholds crossed (policies/hosts.yaml) as findings.
# Replace this example with your own hosts, or read them with
#   fleetspec init --from-hosts user@address[:port]
kind: Host
# How other specs (models, roles, ports, tickets) refer to this host.
name: ${EXAMPLE_HOST}
# The machine's own hostname, when it differs from name.
hostname: ${EXAMPLE_HOST}
# Where the host is reached: an IP address or a DNS name (192.0.2.0/24 is for documentation).
address: 192.0.2.10
os: Ubuntu 24.04 LTS
purpose: Example host; replace with what yours is for
cpu:
  # Compared with the number of CPUs the host reports (threads, else cores).
  cores: 4
  threads: 4
memory:
  # RAM as sold; a live read within 10% of it is no drift.
  size: 16GB
disks:
  - size: 512GB
    type: SSD
    mount: /
# What the host serves. Each port must be listening when read live; a port inside a
# project's range (specs/ports) must be allocated to that project (policy port-listeners).
services:
  - name: ssh
    port: 22
    description: OpenSSH
  - name: ollama
    port: 11434
    description: Ollama, serving the models in specs/models
# How fleetspec reaches the host with --live. Without ssh: the host is never contacted.
ssh:
  user: fleetspec
  port: 22
  # The host's public key, pinned: fleetspec refuses any other. Check it out of band
  # (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on the host), then write it here:
  # hostKey: ssh-ed25519 AAAA...
# Ollama on this host, reached through an SSH port forward to 127.0.0.1:port.
ollama:
  port: 11434
  # Remove models Ollama has that no spec lists.
  prune: false
# Planned memory per component; policy model-memory keeps the models under the Ollama line.
budget:
  - component: Ollama
    ram: 8GB
    notes: the models in specs/models
  - component: System
    ram: 4GB
# Thresholds for this host; policy host-thresholds has defaults for the ones left out.
monitoring:
  - metric: disk.usage
    mount: /
    target: <80%
    alert: '>90%'
`;

const models = `${schemaLine('models')}# An LLM the fleet uses. Models with runtime ollama are pulled on their host and, when the
# host sets ollama.prune, models no spec lists are removed. Models of runtime api are
# external services, listed so roles and policies can refer to them.
kind: Model
# The model as its runtime names it: an Ollama tag here.
name: llama3.2:3b
# The host that serves it (specs/hosts); required for ollama and llama.cpp.
host: ${EXAMPLE_HOST}
runtime: ollama
# Memory the loaded model takes; policy model-memory adds these up per host.
memory:
  ram: 3GB
purpose: Example local model for short answers
latency: 1-3 sec
---
# An external model, reached through a provider's API.
kind: Model
name: example-provider/example-model
runtime: api
provider: openrouter
purpose: Example external model for harder questions
`;

const roles = `${schemaLine('roles')}# A role: an SSH account on a host, what it may and may never do, the LLM its tools use,
# and who acts in it on GitHub. fleetspec writes the account's authorized_keys (when listed)
# and the LLM lines of its .env over SSH; the capabilities are checked by policies/roles.yaml.
kind: Role
name: operator
# role: a person or agent account; bastion: a deploy channel into infrastructure.
type: role
description: Example operator role; rename and adapt
# The host where the account lives (specs/hosts).
host: ${EXAMPLE_HOST}
ssh:
  user: operator
  port: 22
# Capabilities from the role matrix (the schema lists them all). approve: reviews by this
# role's githubUsers count as approval of fleetspec's pull requests (never the PR's author).
capabilities:
  - approve
  - deploy.production
  - tickets.manage
# Capabilities this role must never be given.
denied:
  - docker.socket
# The GitHub accounts acting in this role; uncomment and put real logins here.
# githubUsers: [your-github-login]
# The whole ~/.ssh/authorized_keys of the account; keys not listed are removed. Leave it out
# and the file is not managed.
# authorizedKeys:
#   - ssh-ed25519 AAAA... operator@example.com
# Written to the account's .env. The API key is a reference to fleetspec's secret store
# (fleetspec secrets set roles/operator/openrouter_api_key), never the key itself.
llm:
  provider: openrouter
  model: example-provider/example-model
  apiKey: secret:roles/operator/openrouter_api_key
  purpose: Example LLM configuration
`;

const tickets = `${schemaLine('tickets')}# A ticket. git is its source of truth; fleetspec mirrors each ticket as one GitHub issue
# (fleetspec tickets push) and opens its own for findings (a full disk, drift).
kind: Ticket
# T- and at least four digits; the file name is the id.
id: T-0001
title: Pin the SSH host key of ${EXAMPLE_HOST}
description: Check the host key of ${EXAMPLE_HOST} out of band and write it to ssh.hostKey in specs/hosts/${EXAMPLE_HOST}.yaml.
priority: normal
# open, in_progress or closed.
status: open
# The role that works the ticket (specs/roles).
assignee: operator
labels: [example]
# Hosts the ticket is about (specs/hosts).
hosts: [${EXAMPLE_HOST}]
`;

const ports = `${schemaLine('ports')}# A project's port range and the ports allocated in it, kept in fleetspec's state store.
# Ranges never overlap, and allocations lie in their own project's range (policy port-ranges).
kind: PortRange
# The project that owns the range.
name: example-app
description: Example project
range:
  start: 20000
  end: 20999
allocations:
  # A DNS record may route to this allocation (specs/dns: route: example-app/api).
  - service: api
    port: 20001
    host: ${EXAMPLE_HOST}
    description: Example API
`;

const zones = `${schemaLine('zones')}# A Cloudflare zone, the API token Terraform uses for it, and the tunnel its routed records
# go through. The dns Terraform stack (stacks/dns) is synthesised from the zones, the records
# in specs/dns and the port allocations behind them.
kind: DnsZone
name: example.com
provider: cloudflare
# Zone and account ids are looked up by name at plan time; pin them to skip the lookups:
# zoneId: 0123456789abcdef0123456789abcdef
# The token (Zone DNS edit, Account Cloudflare Tunnel edit), as a reference to fleetspec's
# secret store: fleetspec secrets set cloudflare/example.com/api_token
apiToken: secret:cloudflare/example.com/api_token
tunnel:
  # The cloudflared tunnel's name in Cloudflare.
  name: example-tunnel
  # The name routed records point at.
  hostname: tunnel.example.com
  # Where cloudflared reaches the services: http://<origin>:<port>.
  origin: localhost
`;

const dns = `${schemaLine('dns')}# A Cloudflare DNS record. A record that names a port allocation (route:) also becomes an
# ingress rule of the zone's tunnel; policy dns-routes wants every name routed.
kind: DnsRecord
name: api.example.com
# The zone it belongs to (specs/zones).
zone: example.com
type: CNAME
# A routed record points at the zone's tunnel hostname.
target: tunnel.example.com
# The allocation behind the name, as project/service (specs/ports).
route: example-app/api
`;

const vms = `${schemaLine('vms')}# A cloud VM (Google Compute Engine), applied through the vms Terraform stack. Policy budget
# forecasts the monthly cost of all VMs from its price table.
kind: VirtualMachine
name: example-vm
provider: gcp
# A GCP project id, zone and machine type.
project: example-project
zone: us-central1-a
machineType: e2-small
purpose: Example VM; replace or remove
# The service account key Terraform uses, as a reference to fleetspec's secret store;
# without it the provider uses the environment's application default credentials.
credentials: secret:gcp/example-project/credentials
bootDisk:
  image: debian-cloud/debian-12
  sizeGb: 20
labels:
  managed-by: fleetspec
`;

/** Kind folder → the example's file name and text. */
export const EXAMPLE_SPECS: Record<string, { file: string; text: string }> = {
  hosts: { file: `${EXAMPLE_HOST}.yaml`, text: hosts },
  models: { file: `${EXAMPLE_HOST}.yaml`, text: models },
  roles: { file: 'operator.yaml', text: roles },
  tickets: { file: 'T-0001.yaml', text: tickets },
  ports: { file: 'example-app.yaml', text: ports },
  zones: { file: 'example.com.yaml', text: zones },
  dns: { file: 'api.example.com.yaml', text: dns },
  vms: { file: 'example-vm.yaml', text: vms },
  instructions: INSTRUCTIONS_EXAMPLE,
};
