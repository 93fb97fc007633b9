// Synthesis: a stack model becomes Terraform JSON through cdktf, in-process. This file and the
// provider and resource definitions (resources.ts) are the only places that import cdktf
// (archived upstream; a move to its community fork stays local here). The Terraform types are
// fleetspec's own small definitions, not the prebuilt provider packages (development
// dependencies only, for test/stacks/conformance.test.ts).
import { App, PgBackend, TerraformOutput, TerraformStack, TerraformVariable, Token, type PgBackendConfig } from 'cdktf';
import type { Construct } from 'constructs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { stringify } from 'safe-stable-stringify';
import type { DnsInput, StackModel, StackSecret, VmsInput } from './model.js';
import { STACK_TYPES, type StackTypes } from './resources.js';

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

function dnsStack(stack: TerraformStack, input: DnsInput, secrets: StackSecret[], types: StackTypes): void {
  const { CloudflareProvider, DataCloudflareZone, DataCloudflareZeroTrustTunnelCloudflared, DnsRecord, ZeroTrustTunnelCloudflaredConfig } = types;
  const vars = variables(stack, secrets);
  const providers = new Map(
    secrets.map((s) => [s.variable, new CloudflareProvider(stack, `cloudflare_${s.variable}`, { alias: s.variable, apiToken: vars.get(s.variable)!.stringValue })]),
  );
  const zoneIds = new Map<string, string>();
  const accountIds = new Map<string, string>();
  for (const zone of input.zones) {
    const provider = providers.get(zone.token)!;
    const needsAccount = !zone.accountId && input.tunnels.some((t) => t.zone === zone.name);
    let lookup: InstanceType<StackTypes['DataCloudflareZone']> | undefined;
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
      ...(r.content !== undefined ? { content: r.content } : {}),
      ...(r.priority !== undefined ? { priority: r.priority } : {}),
      // CAA: Cloudflare's data; flags is the provider's dynamic type, handed over as a token (see DnsRecordData).
      ...(r.caa ? { data: { flags: Token.asAny(r.caa.flags), tag: r.caa.tag, value: r.caa.value } } : {}),
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
    const config = new ZeroTrustTunnelCloudflaredConfig(stack, `${t.id}_ingress`, {
      provider,
      accountId,
      tunnelId,
      config: { ingress: [...t.ingress, { service: CATCH_ALL }] },
    });
    config.overrideLogicalId(t.id);
  }
}

function vmsStack(stack: TerraformStack, input: VmsInput, secrets: StackSecret[], types: StackTypes): void {
  const { GoogleProvider, ComputeInstance } = types;
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
      // The instance's status is the vms driver's (instances.start/stop, from `running:`), never
      // the stack's: desired_status is not set, and what live holds of it is left alone.
      ...(v.unmanaged?.length ? { lifecycle: { ignoreChanges: [...v.unmanaged] } } : {}),
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
        description: `resize-on-load intent for ${v.name}, kept as data for an autoscaling rule`,
        value: v.autoscale,
      });
      out.overrideLogicalId(`${v.id}_autoscale`);
    }
  }
}

/**
 * Terraform's JSON syntax evaluates every string as a template: `${…}` interpolates and `%{…}`
 * is a directive. A spec string is data, so both are escaped (`$${`, `%%{`) and Terraform reads
 * the string back literally.
 */
export function templateLiteral(text: string): string {
  return text.replace(/\$\{/g, () => '$${').replace(/%\{/g, () => '%%{');
}

/** Fields of the stack model that are Terraform identifiers made by fleetspec, never free text. */
const IDENTIFIER_FIELDS = new Set(['id', 'token', 'credentials']);
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_-]*$/;
/** What cdktf or Terraform would read as code in a string: templates, directives, cdktf token markers. */
const ACTIVE = /[$%#&]\{|TfToken/;
/** cdktf encodes number tokens as huge doubles; no spec number comes near them. */
const MAX_NUMBER = 1e15;

/**
 * The one place spec data enters a stack. Every string of the model (values and map keys, at any
 * depth, so no future field can forget it) that holds something cdktf or Terraform would read as
 * code is swapped for an opaque placeholder before cdktf sees it (cdktf resolves `${TfToken[…]}`
 * markers inside any string), and put back, escaped for Terraform's templates, into the JSON
 * cdktf returns. Fleetspec's own references (`${var.…}`, `${data.…}`) are left as they are.
 */
export function literalise<T>(input: T): { input: T; restore(json: unknown): unknown } {
  const nonce = randomBytes(12).toString('hex');
  const originals = new Map<string, string>();
  const placeholders = new Map<string, string>();
  const hide = (s: string): string => {
    if (!ACTIVE.test(s)) return s;
    let p = placeholders.get(s);
    if (!p) {
      p = `fleetspec-literal-${nonce}-${placeholders.size}`;
      placeholders.set(s, p);
      originals.set(p, s);
    }
    return p;
  };
  const walk = (value: unknown, path: string): unknown => {
    if (typeof value === 'string') return hide(value);
    if (typeof value === 'number') {
      if (!Number.isFinite(value) || Math.abs(value) >= MAX_NUMBER) throw new Error(`stack input ${path} is ${value}: numbers in a stack must be finite and below ${MAX_NUMBER}`);
      return value;
    }
    if (Array.isArray(value)) return value.map((v, i) => walk(v, `${path}[${i}]`));
    if (value && typeof value === 'object') {
      return Object.fromEntries(
        Object.entries(value).map(([k, v]) => {
          if (IDENTIFIER_FIELDS.has(k) && typeof v === 'string') {
            if (!IDENTIFIER.test(v)) throw new Error(`stack input ${path}.${k} is not a Terraform identifier: ${JSON.stringify(v)}`);
            return [k, v];
          }
          return [hide(k), walk(v, `${path}.${k}`)];
        }),
      );
    }
    return value;
  };
  const pattern = new RegExp(`fleetspec-literal-${nonce}-[0-9]+`, 'g');
  const put = (s: string) => s.replace(pattern, (p) => templateLiteral(originals.get(p)!));
  const restore = (json: unknown): unknown => {
    if (typeof json === 'string') return put(json);
    if (Array.isArray(json)) return json.map(restore);
    if (json && typeof json === 'object') return Object.fromEntries(Object.entries(json).map(([k, v]) => [put(k), restore(v)]));
    return json;
  };
  // Specs without an active string (nearly all) leave cdktf's JSON as it is: no second walk.
  return { input: walk(input, 'input') as T, restore: (json) => (originals.size ? restore(json) : json) };
}

/**
 * The Terraform JSON of one stack, as an object (before canonical rendering). `types` are the
 * provider and resource classes to build it with: fleetspec's own, or (in the conformance test)
 * the prebuilt providers'.
 */
export function synthObject(model: StackModel, app: App = new App({ skipValidation: true, outdir: tmpdir() }), types: StackTypes = STACK_TYPES): Record<string, any> {
  // (The App only needs an existing outdir; nothing is written there: toTerraform() returns the JSON.)
  const stack = new TerraformStack(app, model.name);
  // The connection string comes from PG_CONN_STR at run time: it may hold a password.
  new PgBackend(stack, { schemaName: stateSchema(model.name) } as PgBackendConfig);
  const data = literalise(model.input);
  if (model.name === 'dns') dnsStack(stack, data.input as DnsInput, model.secrets, types);
  else vmsStack(stack, data.input as VmsInput, model.secrets, types);
  // cdktf-cli's synth (app.ts) serialises through toTerraform too: it gets the restored JSON.
  const raw = stack.toTerraform.bind(stack);
  stack.toTerraform = () => data.restore(raw()) as ReturnType<typeof raw>;
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
