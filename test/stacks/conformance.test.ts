// Fleetspec's own provider and resource definitions (reconciler/stacks/resources.ts) against
// the prebuilt cdktf providers they replace at run time (@cdktf/provider-cloudflare and
// @cdktf/provider-google, development dependencies only): every stack of specs/, of the bench
// fleet and of a set of models that takes every branch of the synthesiser is synthesised both
// ways, and the cdk.tf.json text (provider blocks and required_providers included) and the HCL
// must be identical. The definitions' every attribute must be emitted at least once.
import { DataCloudflareZeroTrustTunnelCloudflared } from '@cdktf/provider-cloudflare/lib/data-cloudflare-zero-trust-tunnel-cloudflared/index.js';
import { DataCloudflareZone } from '@cdktf/provider-cloudflare/lib/data-cloudflare-zone/index.js';
import { DnsRecord as PrebuiltDnsRecord } from '@cdktf/provider-cloudflare/lib/dns-record/index.js';
import { CloudflareProvider } from '@cdktf/provider-cloudflare/lib/provider/index.js';
import { ZeroTrustTunnelCloudflaredConfigA } from '@cdktf/provider-cloudflare/lib/zero-trust-tunnel-cloudflared-config/index.js';
import { ComputeInstance } from '@cdktf/provider-google/lib/compute-instance/index.js';
import { GoogleProvider } from '@cdktf/provider-google/lib/provider/index.js';
// The test builds its own App (to reach each stack's HCL); cdktf is otherwise imported only in reconciler/stacks/.
import { App, DefaultTokenResolver, StringConcat, Tokenization, type TerraformElement, type TerraformStack } from 'cdktf';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateFleet } from '../../bench/fleet.js';
import { loadSpecs } from '../../reconciler/specs/load.js';
import { stackModels, type DnsInput, type StackModel, type StackSecret, type VmsInput } from '../../reconciler/stacks/model.js';
import { DnsRecord, STACK_TYPES, definedAttributes, type StackTypes } from '../../reconciler/stacks/resources.js';
import { renderStack, synthObject } from '../../reconciler/stacks/synth.js';

const ROOT = resolve(import.meta.dirname, '..', '..');

/** The prebuilt providers' classes, in the places of fleetspec's own. */
const PREBUILT: StackTypes = {
  CloudflareProvider,
  DataCloudflareZone,
  DataCloudflareZeroTrustTunnelCloudflared,
  DnsRecord: PrebuiltDnsRecord,
  ZeroTrustTunnelCloudflaredConfig: ZeroTrustTunnelCloudflaredConfigA,
  GoogleProvider,
  ComputeInstance,
};

interface Synthesis {
  /** cdk.tf.json as fleetspec writes it. */
  json: string;
  /** cdktf's HCL output and its elements' HCL attributes (the literal placeholders' random nonce made constant). */
  hcl: unknown;
}

function synthesise(model: StackModel, types: StackTypes): Synthesis {
  const app = new App({ skipValidation: true, outdir: tmpdir() });
  const json = renderStack(synthObject(model, app, types));
  const stack = app.node.findChild(model.name) as TerraformStack;
  // The rendered HCL, and each element's HCL attributes with their block and storage types.
  const elements = stack.node
    .findAll()
    .filter((c): c is TerraformElement => c !== stack && 'toHclTerraform' in c)
    .map((e) => [e.node.path, Tokenization.resolve(e.toHclTerraform(), { scope: stack, resolver: new DefaultTokenResolver(new StringConcat()) })]);
  const hcl = JSON.parse(JSON.stringify({ rendered: stack.toHclTerraform(), elements }).replace(/fleetspec-literal-[0-9a-f]+-/g, 'fleetspec-literal-NONCE-'));
  return { json, hcl };
}

/** Synthesises each model both ways and requires the same text; returns fleetspec's JSON by stack. */
function conforms(models: StackModel[], types: StackTypes = STACK_TYPES): Record<string, any>[] {
  return models.map((model) => {
    const own = synthesise(model, types);
    const prebuilt = synthesise(model, PREBUILT);
    expect(own.json, `${model.name}: cdk.tf.json differs from the prebuilt providers'`).toBe(prebuilt.json);
    expect(own.hcl, `${model.name}: HCL differs from the prebuilt providers'`).toEqual(prebuilt.hcl);
    return JSON.parse(own.json);
  });
}

async function fromSpecs(dir: string): Promise<StackModel[]> {
  const loaded = await loadSpecs(dir);
  expect(loaded.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return stackModels(loaded.index);
}

const secret = (ref: string): StackSecret => ({ ref, variable: ref.replace(/^secret:/, 'secret__').replace(/\//g, '__') });
const model = (name: 'dns' | 'vms', input: DnsInput | VmsInput, secrets: StackSecret[]) => ({ name, input, secrets, inputHash: '0'.repeat(64), secretUsers: {} }) as StackModel;

// Strings Terraform or cdktf would read as code: they reach the JSON through literalise's placeholders.
const HOSTILE = '${file("/etc/passwd")} %{ if true }x%{ endif } ${TfToken[TOKEN.1]}';

/** Models that take every branch of dnsStack and vmsStack, and set every optional field. */
function everyBranch(): StackModel[] {
  const cf = secret('secret:meta/cloudflare/api_token');
  const cf2 = secret('secret:meta/cloudflare/other_token');
  const dns: DnsInput = {
    zones: [
      // ids given: no lookup; its tunnel is looked up by name in the given account
      { name: 'a.example', id: 'a_example', zoneId: 'zone-a', accountId: 'account-a', token: cf.variable },
      // zone id given, but a tunnel needs the account: looked up by zone id
      { name: 'b.example', id: 'b_example', zoneId: 'zone-b', token: cf2.variable },
      // nothing given and no tunnel: looked up by name, only for its id
      { name: 'c.example', id: 'c_example', token: cf.variable },
      // account given, zone looked up by name; the tunnel's id is given (no tunnel lookup)
      { name: 'd.example', id: 'd_example', accountId: 'account-d', token: cf2.variable },
    ],
    records: [
      { id: 'api_a_example', name: 'api.a.example', zone: 'a.example', type: 'CNAME', content: 'tunnel.a.example', proxied: true, ttl: 1, route: 'p/api' },
      { id: 'host_b_example', name: 'host.b.example', zone: 'b.example', type: 'A', content: '192.0.2.1', proxied: false, ttl: 300 },
      { id: 'v6_c_example', name: 'v6.c.example', zone: 'c.example', type: 'AAAA', content: '2001:db8::1', proxied: false, ttl: 3600 },
      { id: 'x_d_example', name: 'x.d.example', zone: 'd.example', type: 'CNAME', content: HOSTILE, proxied: true, ttl: 1, route: 'p/x' },
      // a records: list: MX with its priority, CAA with Cloudflare's data (flags is the provider's dynamic type)
      { id: 'c_example_mx_0a1b2c3d', name: 'c.example', zone: 'c.example', type: 'MX', content: 'mail.c.example', priority: 10, proxied: false, ttl: 3600 },
      { id: 'c_example_caa_4e5f6a7b', name: 'c.example', zone: 'c.example', type: 'CAA', caa: { flags: 128, tag: 'issue', value: HOSTILE }, proxied: false, ttl: 1 },
      { id: 'c_example_txt_8c9d0e1f', name: 'c.example', zone: 'c.example', type: 'TXT', content: `v=spf1 -all "\\ ${HOSTILE}`, proxied: false, ttl: 1 },
    ],
    tunnels: [
      { id: 'tunnel_a', name: 'tunnel-a', zone: 'a.example', ingress: [{ hostname: 'api.a.example', service: 'http://localhost:4001' }, { hostname: 'z.a.example', service: HOSTILE }] },
      { id: 'tunnel_b', name: 'tunnel-b', zone: 'b.example', ingress: [] },
      { id: 'tunnel_d', name: 'tunnel-d', tunnelId: 'tunnel-id-d', zone: 'd.example', ingress: [{ hostname: 'x.d.example', service: 'http://10.0.0.2:8080' }] },
    ],
  };
  const gcp = secret('secret:meta/gcloud/key');
  const vms: VmsInput = {
    vms: [
      {
        id: 'full',
        name: 'full',
        project: 'proj',
        zone: 'europe-west1-b',
        machineType: 'e2-medium',
        description: `every field ${HOSTILE}`,
        image: 'debian-cloud/debian-12',
        diskSizeGb: 50,
        diskType: 'pd-ssd',
        network: 'default',
        externalIp: true,
        desiredStatus: 'TERMINATED',
        labels: { 'managed-by': 'fleetspec', team: 'ops', [HOSTILE]: HOSTILE },
        serviceAccount: 'sa@proj.iam.gserviceaccount.com',
        credentials: gcp.variable,
        autoscale: { scaleUpTo: 'e2-standard-4', checkEveryMinutes: 5, when: { windowMinutes: 10, cpuAvgAbove: 70 } },
      },
      // environment credentials, no external IP, no optional field
      { id: 'bare', name: 'bare', project: 'proj', zone: 'us-central1-a', machineType: 'e2-micro', image: 'debian-cloud/debian-12', network: 'internal', externalIp: false, labels: { 'managed-by': 'fleetspec' } },
    ],
  };
  const onlyAdc: VmsInput = { vms: [{ ...vms.vms[1]!, id: 'adc', name: 'adc', diskSizeGb: 10 }] };
  return [
    model('dns', dns, [cf, cf2]),
    model('vms', vms, [gcp]),
    model('vms', onlyAdc, []),
    model('dns', { zones: [], records: [], tunnels: [] }, []),
    model('vms', { vms: [] }, []),
  ];
}

/** Whether `path` exists in `value` (arrays: in any element). */
function present(value: unknown, path: string[]): boolean {
  if (Array.isArray(value)) return value.some((v) => present(v, path));
  if (path.length === 0) return value !== undefined;
  return value !== null && typeof value === 'object' && present((value as Record<string, unknown>)[path[0]!], path.slice(1));
}

describe('fleetspec’s provider and resource definitions conform to the prebuilt providers', () => {
  let scratch: string;
  const emitted: Record<string, any>[] = [];
  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'fleetspec-conformance-'));
  });
  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  it('specs/: identical JSON and HCL for every stack, provider blocks and required_providers included', async () => {
    const models = await fromSpecs(join(ROOT, 'specs'));
    expect(models.map((m) => m.name)).toEqual(['dns', 'vms']);
    const [dns, vms] = conforms(models);
    emitted.push(dns!, vms!);
    expect(dns!.terraform.required_providers).toEqual({ cloudflare: { source: 'cloudflare/cloudflare', version: '5.14.0' } });
    expect(dns!.provider.cloudflare).toHaveLength(1);
    expect(vms!.terraform.required_providers).toEqual({ google: { source: 'google', version: '6.50.0' } });
    expect(vms!.provider.google).toHaveLength(1);
    // and that is what is committed
    for (const m of models) expect(renderStack(synthObject(m))).toBe(await readFile(join(ROOT, 'stacks', m.name, 'cdk.tf.json'), 'utf8'));
  });

  it('the generated bench fleet: identical JSON and HCL', async () => {
    const dir = join(scratch, 'fleet');
    await mkdir(dir);
    await generateFleet(dir, 400);
    const models = await fromSpecs(dir);
    const out = conforms(models);
    expect(Object.keys(out[0]!.resource.cloudflare_dns_record).length).toBeGreaterThanOrEqual(160);
    emitted.push(...out);
  });

  it('every branch of the synthesiser and every optional field: identical JSON and HCL', () => {
    emitted.push(...conforms(everyBranch()));
  });

  it('every attribute of the definitions is emitted by the stacks above (so every one was compared)', () => {
    const defined = definedAttributes();
    expect(defined.length).toBeGreaterThan(30);
    const missing = defined.filter((place) => {
      const [section, type, ...path] = place.split('.');
      return !emitted.some((json) => {
        const instances = json[section!]?.[type!];
        return instances !== undefined && present(Array.isArray(instances) ? instances : Object.values(instances), path);
      });
    });
    expect(missing).toEqual([]);
  });

  it('a wrong attribute name is caught', () => {
    class MisnamedDnsRecord extends DnsRecord {
      protected override synthesizeAttributes() {
        const { zone_id, ...rest } = super.synthesizeAttributes();
        return { ...rest, zoneid: zone_id };
      }
    }
    const [dns] = everyBranch();
    expect(() => conforms([dns!], { ...STACK_TYPES, DnsRecord: MisnamedDnsRecord })).toThrow(/cdk\.tf\.json differs/);
  });
});

describe('the production code does without the prebuilt providers', () => {
  async function sources(dir: string): Promise<string[]> {
    const entries = await readdir(dir, { recursive: true, withFileTypes: true });
    return entries.filter((e) => e.isFile() && /\.(ts|js|mjs|cjs)$/.test(e.name)).map((e) => join(e.parentPath, e.name));
  }
  const importOf = (pkg: string) => new RegExp(`(from\\s*|import\\s*\\(\\s*|require\\s*\\(\\s*|import\\s+)['"]${pkg}`);

  it('no file under reconciler/ imports @cdktf/provider-*', async () => {
    const offenders = [];
    for (const file of await sources(join(ROOT, 'reconciler'))) {
      if (importOf('@cdktf/provider-').test(await readFile(file, 'utf8'))) offenders.push(relative(ROOT, file));
    }
    expect(offenders).toEqual([]);
  });

  it('cdktf and constructs are imported only in reconciler/stacks/', async () => {
    const offenders = [];
    for (const file of await sources(join(ROOT, 'reconciler'))) {
      if (relative(ROOT, file).startsWith(join('reconciler', 'stacks'))) continue;
      if (importOf('(cdktf|constructs)[\'"/]').test(await readFile(file, 'utf8'))) offenders.push(relative(ROOT, file));
    }
    expect(offenders).toEqual([]);
  });

  it('package.json keeps the prebuilt providers as development dependencies only', async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8'));
    for (const name of ['@cdktf/provider-cloudflare', '@cdktf/provider-google']) {
      expect(pkg.dependencies[name], name).toBeUndefined();
      expect(pkg.devDependencies[name], name).toBeDefined();
    }
    expect(pkg.dependencies.cdktf).toBeDefined();
  });
});
