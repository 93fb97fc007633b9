// Synthesis: a stack model becomes Terraform JSON through cdktf, in-process. This file and
// the cdktf-cli entry (app.ts) are the only places that import cdktf or its prebuilt
// providers (cdktf is archived upstream; a move to its community fork stays local here).
// Only the resource modules used are imported: the providers' index modules load thousands
// of classes.
import { DataCloudflareZeroTrustTunnelCloudflared } from '@cdktf/provider-cloudflare/lib/data-cloudflare-zero-trust-tunnel-cloudflared/index.js';
import { DataCloudflareZone } from '@cdktf/provider-cloudflare/lib/data-cloudflare-zone/index.js';
import { DnsRecord } from '@cdktf/provider-cloudflare/lib/dns-record/index.js';
import { CloudflareProvider } from '@cdktf/provider-cloudflare/lib/provider/index.js';
import { ZeroTrustTunnelCloudflaredConfigA } from '@cdktf/provider-cloudflare/lib/zero-trust-tunnel-cloudflared-config/index.js';
import { ComputeInstance } from '@cdktf/provider-google/lib/compute-instance/index.js';
import { GoogleProvider } from '@cdktf/provider-google/lib/provider/index.js';
import { App, PgBackend, TerraformOutput, TerraformStack, TerraformVariable, type PgBackendConfig } from 'cdktf';
import type { Construct } from 'constructs';
import { tmpdir } from 'node:os';
import { stringify } from 'safe-stable-stringify';
import type { DnsInput, StackModel, StackSecret, VmsInput } from './model.js';

/** The PostgreSQL schema holding a stack's Terraform state (pg backend). */
export const stateSchema = (stack: string) => `fleetspec_stack_${stack}`;

/** Ingress rule that ends every tunnel configuration: anything not routed gets a 404. */
export const CATCH_ALL = 'http_status:404';

function variables(scope: Construct, secrets: StackSecret[]): Map<string, TerraformVariable> {
  return new Map(
    secrets.map((s) => [
      s.variable,
      new TerraformVariable(scope, s.variable, {
        type: 'string',
        sensitive: true,
        nullable: false,
        description: `${s.ref.replace(/^secret:/, 'fleetspec secret ')}; fleetspec passes it as TF_VAR_${s.variable} at plan and apply time`,
      }),
    ]),
  );
}

function dnsStack(stack: TerraformStack, input: DnsInput, secrets: StackSecret[]): void {
  const vars = variables(stack, secrets);
  const providers = new Map(
    secrets.map((s) => [s.variable, new CloudflareProvider(stack, `cloudflare_${s.variable}`, { alias: s.variable, apiToken: vars.get(s.variable)!.stringValue })]),
  );
  const zoneIds = new Map<string, string>();
  const accountIds = new Map<string, string>();
  for (const zone of input.zones) {
    const provider = providers.get(zone.token)!;
    const needsAccount = !zone.accountId && input.tunnels.some((t) => t.zone === zone.name);
    let lookup: DataCloudflareZone | undefined;
    if (!zone.zoneId || needsAccount) {
      lookup = new DataCloudflareZone(stack, zone.id, zone.zoneId ? { provider, zoneId: zone.zoneId } : { provider, filter: { name: zone.name } });
      lookup.overrideLogicalId(zone.id);
    }
    zoneIds.set(zone.name, zone.zoneId ?? lookup!.id);
    if (zone.accountId || lookup) accountIds.set(zone.name, zone.accountId ?? lookup!.account.id);
  }
  const tokenOf = new Map(input.zones.map((z) => [z.name, z.token]));
  for (const r of input.records) {
    const record = new DnsRecord(stack, r.id, {
      provider: providers.get(tokenOf.get(r.zone)!)!,
      zoneId: zoneIds.get(r.zone)!,
      name: r.name,
      type: r.type,
      content: r.content,
      proxied: r.proxied,
      ttl: r.ttl,
      comment: r.route ? `managed by fleetspec; routes to ${r.route}` : 'managed by fleetspec',
    });
    record.overrideLogicalId(r.id);
  }
  for (const t of input.tunnels) {
    const provider = providers.get(tokenOf.get(t.zone)!)!;
    const accountId = accountIds.get(t.zone)!;
    let tunnelId = t.tunnelId;
    if (!tunnelId) {
      const lookup = new DataCloudflareZeroTrustTunnelCloudflared(stack, t.id, { provider, accountId, filter: { name: t.name, isDeleted: false } });
      lookup.overrideLogicalId(t.id);
      tunnelId = lookup.id;
    }
    const config = new ZeroTrustTunnelCloudflaredConfigA(stack, `${t.id}_ingress`, {
      provider,
      accountId,
      tunnelId,
      config: { ingress: [...t.ingress, { service: CATCH_ALL }] },
    });
    config.overrideLogicalId(t.id);
  }
}

function vmsStack(stack: TerraformStack, input: VmsInput, secrets: StackSecret[]): void {
  const vars = variables(stack, secrets);
  const providers = new Map(
    secrets.map((s) => [s.variable, new GoogleProvider(stack, `google_${s.variable}`, { alias: s.variable, credentials: vars.get(s.variable)!.stringValue })]),
  );
  // VMs without credentials use the environment's application default credentials.
  if (input.vms.some((v) => !v.credentials)) new GoogleProvider(stack, 'google', {});
  for (const v of input.vms) {
    const vm = new ComputeInstance(stack, v.id, {
      ...(v.credentials ? { provider: providers.get(v.credentials)! } : {}),
      name: v.name,
      project: v.project,
      zone: v.zone,
      machineType: v.machineType,
      ...(v.description ? { description: v.description } : {}),
      // A machine type change (seed 003's resize) needs the instance stopped.
      allowStoppingForUpdate: true,
      bootDisk: { initializeParams: { image: v.image, ...(v.diskSizeGb ? { size: v.diskSizeGb } : {}), ...(v.diskType ? { type: v.diskType } : {}) } },
      networkInterface: [{ network: v.network, ...(v.externalIp ? { accessConfig: [{}] } : {}) }],
      labels: v.labels,
      ...(v.serviceAccount ? { serviceAccount: { email: v.serviceAccount, scopes: ['cloud-platform'] } } : {}),
    });
    vm.overrideLogicalId(v.id);
    if (v.autoscale) {
      const out = new TerraformOutput(stack, `${v.id}_autoscale`, {
        description: `resize-on-load intent for ${v.name} (seed 003), kept as data for an autoscaling rule`,
        value: v.autoscale,
      });
      out.overrideLogicalId(`${v.id}_autoscale`);
    }
  }
}

/** The Terraform JSON of one stack, as an object (before canonical rendering). */
export function synthObject(model: StackModel, app: App = new App({ skipValidation: true, outdir: tmpdir() })): Record<string, any> {
  // (The App only needs an existing outdir; nothing is written there: toTerraform() returns the JSON.)
  const stack = new TerraformStack(app, model.name);
  // The connection string comes from PG_CONN_STR at run time: it may hold a password.
  new PgBackend(stack, { schemaName: stateSchema(model.name) } as PgBackendConfig);
  if (model.name === 'dns') dnsStack(stack, model.input as DnsInput, model.secrets);
  else vmsStack(stack, model.input as VmsInput, model.secrets);
  const json = stack.toTerraform() as Record<string, any>;
  json['//'] = {
    ...json['//'],
    fleetspec: {
      inputHash: model.inputHash,
      notice: 'Generated by fleetspec from specs/ (fleetspec stacks synth). Do not edit: change the specs.',
    },
  };
  return json;
}

/** Canonical text: keys sorted at every level, two-space indent, newline at the end. */
export function renderStack(json: unknown): string {
  return stringify(json, null, 2) + '\n';
}

/** One stack's synthesised file content. */
export function synthStack(model: StackModel): string {
  return renderStack(synthObject(model));
}

/** A cdktf App holding every stack, for `cdktf synth` through cdktf-cli (see app.ts). */
export function appWith(models: StackModel[], outdir?: string): App {
  const app = new App({ skipValidation: true, ...(outdir ? { outdir } : {}) });
  for (const model of models) synthObject(model, app);
  return app;
}
