import { kindSchema, ref } from '../common.js';
import { defineKind } from '../kind.js';

export interface VirtualMachine {
  kind: 'VirtualMachine';
  name: string;
  provider: 'gcp';
  project: string;
  zone: string;
  machineType: string;
  purpose?: string;
  serviceAccount?: string;
  /** Google credentials (a service account key) for this VM's project, as a secret reference: Terraform's, and fleetspec's live reads and start/stop. */
  credentials?: string;
  network?: string;
  externalIp?: boolean;
  /** true: running, false: stopped, applied by instances.start/stop through the Compute Engine API; absent: left as it is. */
  running?: boolean;
  bootDisk?: { image?: string; sizeGb?: number; type?: string };
  labels?: Record<string, string>;
  autoscale?: {
    scaleUpTo: string;
    checkEveryMinutes?: number;
    when: { windowMinutes: number; cpuAvgAbove?: number; cpuMaxAbove?: number };
  };
}

const machineType = { type: 'string', pattern: '^[a-z0-9]+(-[a-z0-9]+)+$', description: 'a GCE machine type such as n1-standard-2' };

const schema = kindSchema(
  'vms',
  'VirtualMachine',
  'A cloud VM (Google Compute Engine): built through the vms Terraform stack, read live and started or stopped through the Compute Engine API.',
  {
    required: ['kind', 'name', 'provider', 'project', 'zone', 'machineType'],
    properties: {
      kind: { const: 'VirtualMachine' },
      name: ref('name', 'the instance name'),
      provider: { const: 'gcp' },
      project: { type: 'string', pattern: '^[a-z][a-z0-9-]{4,28}[a-z0-9]$', description: 'a GCP project id such as vm-host' },
      zone: { type: 'string', pattern: '^[a-z]+-[a-z]+[0-9]+-[a-z]$', description: 'a GCE zone such as us-central1-a' },
      machineType,
      purpose: ref('text'),
      serviceAccount: { type: 'string', pattern: '^[a-z0-9-]+@[a-z0-9-]+\\.iam\\.gserviceaccount\\.com$', description: 'a service account e-mail' },
      credentials: ref('secretRef', 'the service account key for this project (for example secret:meta/gcloud/vm_host_key): Terraform uses it, and live plans read the VM (Compute Engine, Cloud Monitoring) and start or stop it with it; without it Terraform uses the environment\'s application default credentials and the VM is not read live'),
      network: ref('name', 'the VPC network (default: default)'),
      externalIp: { type: 'boolean', description: 'give the VM an ephemeral external address (default true)' },
      running: { type: 'boolean', description: 'true: the VM runs; false: it is stopped (its disk and address kept), by instances.start and instances.stop. Leave it out and fleetspec neither starts nor stops it' },
      bootDisk: {
        type: 'object',
        additionalProperties: false,
        properties: { image: ref('text', 'a GCE image such as debian-cloud/debian-12 (the default)'), sizeGb: { type: 'integer', minimum: 10 }, type: { enum: ['pd-standard', 'pd-balanced', 'pd-ssd'] } },
      },
      labels: {
        type: 'object',
        propertyNames: { pattern: '^[a-z][a-z0-9_-]{0,62}$' },
        additionalProperties: { type: 'string', pattern: '^[a-z0-9_-]{0,63}$' },
      },
      autoscale: {
        type: 'object',
        additionalProperties: false,
        required: ['scaleUpTo', 'when'],
        description: 'resize on load: with the vm-scale policy on, a live plan reads the CPU over when.windowMinutes and, when it averages over cpuAvgAbove and peaks over cpuMaxAbove, fleetspec proposes machineType: <scaleUpTo> in a pull request (never resizes without approval)',
        properties: {
          scaleUpTo: machineType,
          checkEveryMinutes: { type: 'integer', minimum: 1 },
          when: {
            type: 'object',
            additionalProperties: false,
            required: ['windowMinutes'],
            properties: {
              windowMinutes: { type: 'integer', minimum: 1 },
              cpuAvgAbove: { type: 'number', minimum: 0, maximum: 100 },
              cpuMaxAbove: { type: 'number', minimum: 0, maximum: 100 },
            },
          },
        },
      },
    },
  },
);

export const vms = defineKind<VirtualMachine>({
  kind: 'VirtualMachine',
  folder: 'vms',
  description: 'cloud VMs: the vms Terraform stack, live status and CPU, start/stop by the Compute Engine API',
  schema,
  nameOf: (v) => v.name,
  namePath: ['name'],
});
