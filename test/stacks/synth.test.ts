// Synthesis of specs/ into the dns and vms stacks: the committed output matches, the content
// is what seed 003 asks for, the bytes do not depend on file order, unchanged stacks are not
// rewritten, and the JSON never holds a secret or a connection string.
import { cp, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bufferOutput } from '../../reconciler/commands/output.js';
import { run } from '../../reconciler/program.js';
import { planFleet } from '../../reconciler/plan/engine.js';
import { loadSpecs } from '../../reconciler/specs/load.js';
import { openDb, type Db } from '../../reconciler/state/db.js';
import { committedInputHash, synthesiseAll } from '../../reconciler/stacks/files.js';
import { stackModels, secretVariable, SYNTH_VERSION, tfId } from '../../reconciler/stacks/model.js';
import { synthStack } from '../../reconciler/stacks/synth.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const SPECS = join(ROOT, 'specs');
const STACKS = join(ROOT, 'stacks');

async function synthesise(specs: string): Promise<Record<string, string>> {
  const loaded = await loadSpecs(specs);
  expect(loaded.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return Object.fromEntries(stackModels(loaded.index).map((m) => [m.name, synthStack(m)]));
}

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'fleetspec-stacks-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe('synthesis of specs/', () => {
  it('equals the committed stacks/ (run `fleetspec stacks synth` after changing specs)', async () => {
    const out = await synthesise(SPECS);
    for (const name of ['dns', 'vms']) {
      expect(out[name], `stacks/${name}/cdk.tf.json is stale`).toBe(await readFile(join(STACKS, name, 'cdk.tf.json'), 'utf8'));
    }
  });

  it('dns: a proxied CNAME to the tunnel, ingress from the port allocation ending in the 404 catch-all, pg state, token as a variable', async () => {
    const dns = JSON.parse((await synthesise(SPECS)).dns!);
    const record = dns.resource.cloudflare_dns_record.api_consilio_153_se;
    expect(record).toMatchObject({ name: 'api.consilio.153.se', type: 'CNAME', content: 'tunnel.153.se', proxied: true, ttl: 1, zone_id: '${data.cloudflare_zone._153_se.id}' });
    const ingress = dns.resource.cloudflare_zero_trust_tunnel_cloudflared_config.supervisor.config.ingress;
    // seed 003: getPort('consilio', 'api') is 4001
    expect(ingress).toEqual([{ hostname: 'api.consilio.153.se', service: 'http://localhost:4001' }, { service: 'http_status:404' }]);
    expect(dns.data.cloudflare_zone._153_se.filter).toEqual({ name: '153.se' });
    expect(dns.terraform.backend).toEqual({ pg: { schema_name: 'fleetspec_stack_dns' } });
    expect(dns.variable.secret__meta__cloudflare__api_token).toMatchObject({ sensitive: true, type: 'string' });
    expect(dns.provider.cloudflare).toEqual([{ alias: 'secret__meta__cloudflare__api_token', api_token: '${var.secret__meta__cloudflare__api_token}' }]);
  });

  it('vms: the GCE instance from specs, resizable in place, with the resize-on-load intent as an output', async () => {
    const vms = JSON.parse((await synthesise(SPECS)).vms!);
    expect(vms.resource.google_compute_instance['supervisor-vm']).toMatchObject({
      name: 'supervisor-vm',
      project: 'vm-host',
      zone: 'us-central1-a',
      machine_type: 'n1-standard-2',
      allow_stopping_for_update: true,
      boot_disk: { initialize_params: { image: 'debian-cloud/debian-12' } },
      network_interface: [{ network: 'default', access_config: [{}] }],
      labels: { 'managed-by': 'fleetspec' },
      service_account: { email: 'supervisor-meta@vm-host.iam.gserviceaccount.com', scopes: ['cloud-platform'] },
    });
    expect(vms.output['supervisor-vm_autoscale'].value).toEqual({ scaleUpTo: 'n1-standard-4', checkEveryMinutes: 60, when: { windowMinutes: 120, cpuAvgAbove: 70, cpuMaxAbove: 85 } });
    expect(vms.terraform.backend.pg.schema_name).toBe('fleetspec_stack_vms');
  });

  it('holds no secret value and no connection string', async () => {
    const out = await synthesise(SPECS);
    for (const text of Object.values(out)) {
      expect(text).not.toMatch(/conn_str|postgres:\/\//);
      // Secrets appear only as variable references and their descriptions.
      for (const m of text.matchAll(/"(api_token|credentials)": "([^"]*)"/g)) expect(m[2]).toMatch(/^\$\{var\.secret__/);
    }
  });
});

describe('determinism', () => {
  it('synthesises identical bytes twice', async () => {
    expect(await synthesise(SPECS)).toEqual(await synthesise(SPECS));
  });

  it('gives identical bytes whatever the files are called and in whatever order resources are written', async () => {
    const records = ['web', 'admin', 'grafana'].map((s, i) => ({ service: s, port: 4002 + i }));
    const base = async (dir: string) => {
      await cp(SPECS, dir, { recursive: true });
      const ports = await readFile(join(dir, 'ports', 'consilio.yaml'), 'utf8');
      await writeFile(join(dir, 'ports', 'consilio.yaml'), ports + records.map((r) => `  - service: ${r.service}\n    port: ${r.port}\n`).join(''));
    };
    const doc = (r: { service: string }) => `kind: DnsRecord\nname: ${r.service}.consilio.153.se\nzone: 153.se\ntype: CNAME\ntarget: tunnel.153.se\nroute: consilio/${r.service}\n`;
    const a = join(scratch, 'order-a');
    const b = join(scratch, 'order-b');
    await base(a);
    await base(b);
    // a: one file per record, named after the record; b: all of them in one file, reversed, named otherwise.
    for (const r of records) await writeFile(join(a, 'dns', `${r.service}.yaml`), doc(r));
    await writeFile(join(b, 'dns', '00-all.yaml'), [...records].reverse().map(doc).join('---\n'));
    const [sa, sb] = [await synthesise(a), await synthesise(b)];
    expect(sa.dns).toBe(sb.dns);
    const ingress = JSON.parse(sa.dns!).resource.cloudflare_zero_trust_tunnel_cloudflared_config.supervisor.config.ingress.map((r: any) => r.hostname ?? r.service);
    expect(ingress).toEqual(['admin.consilio.153.se', 'api.consilio.153.se', 'grafana.consilio.153.se', 'web.consilio.153.se', 'http_status:404']);
  });

  it('names the installed cdktf and provider versions in SYNTH_VERSION (an upgrade re-synthesises every stack)', async () => {
    const version = async (pkg: string) => JSON.parse(await readFile(join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')).version as string;
    expect(SYNTH_VERSION).toContain(`cdktf ${await version('cdktf')}`);
    expect(SYNTH_VERSION).toContain(`cloudflare ${await version('@cdktf/provider-cloudflare')}`);
    expect(SYNTH_VERSION).toContain(`google ${await version('@cdktf/provider-google')}`);
  });

  it('derives Terraform identifiers from names, one to one', () => {
    expect(tfId('api.consilio.153.se')).toBe('api_consilio_153_se');
    expect(tfId('153.se')).toBe('_153_se');
    expect(tfId('supervisor-vm')).toBe('supervisor-vm');
    expect(tfId('a-b.c')).not.toBe(tfId('a.b-c'));
    expect(secretVariable('secret:meta/cloudflare/api_token')).toBe('secret__meta__cloudflare__api_token');
  });
});

describe('fleetspec stacks synth', () => {
  it('writes changed stacks only, skips unchanged input without synthesising, and --check catches stale output', async () => {
    const specs = join(scratch, 'cli-specs');
    const stacks = join(scratch, 'cli-stacks');
    await cp(SPECS, specs, { recursive: true });
    const synth = async (...extra: string[]) => {
      const out = bufferOutput();
      const code = await run(['stacks', 'synth', '--specs', specs, '--stacks-dir', stacks, '--format', 'json', ...extra], out);
      return { code, rows: code === 0 || extra.includes('--check') ? (JSON.parse(out.out.join('\n')) as { stack: string; status: string }[]) : [], err: out.err.join('\n') };
    };
    const first = await synth();
    expect(first.code).toBe(0);
    expect(first.rows.map((r) => r.status)).toEqual(['written', 'written']);
    const mtime = (await stat(join(stacks, 'dns', 'cdk.tf.json'))).mtimeMs;

    const second = await synth();
    expect(second.rows.map((r) => r.status)).toEqual(['skipped', 'skipped']);
    expect((await stat(join(stacks, 'dns', 'cdk.tf.json'))).mtimeMs).toBe(mtime);

    const forced = await synth('--force');
    expect(forced.rows.map((r) => r.status), 'same bytes are not rewritten').toEqual(['unchanged', 'unchanged']);
    expect((await stat(join(stacks, 'dns', 'cdk.tf.json'))).mtimeMs).toBe(mtime);

    // A VM spec change touches vms only.
    const vmFile = join(specs, 'vms', 'supervisor-vm.yaml');
    await writeFile(vmFile, (await readFile(vmFile, 'utf8')).replace('machineType: n1-standard-2', 'machineType: n1-standard-4'));
    const check = await synth('--check');
    expect(check.code).toBe(1);
    expect(check.rows.map((r) => [r.stack, r.status])).toEqual([
      ['dns', 'unchanged'],
      ['vms', 'stale'],
    ]);
    expect(check.err).toContain('vms out of date');
    const third = await synth();
    expect(third.rows.map((r) => r.status)).toEqual(['skipped', 'written']);
    expect(await readFile(join(stacks, 'vms', 'cdk.tf.json'), 'utf8')).toContain('"machine_type": "n1-standard-4"');
    expect(await committedInputHash(stacks, 'vms')).toMatch(/^[0-9a-f]{64}$/);
  });

  it('refuses invalid specs and unknown stack names', async () => {
    const out = bufferOutput();
    expect(await run(['stacks', 'synth', 'dnss'], out)).toBe(1);
    expect(out.err.join('\n')).toContain('unknown stack "dnss"; stacks: dns, vms');
    const broken = bufferOutput();
    expect(await run(['stacks', 'synth', '--specs', join(ROOT, 'test', 'fixtures', 'broken', 'dns-unknown-zone'), '--stacks-dir', join(scratch, 'never')], broken)).toBe(1);
    expect(broken.err.join('\n')).toContain('unknown zone "153.se"');
    await expect(stat(join(scratch, 'never'))).rejects.toThrow();
  });
});

describe('stacks in the offline plan', () => {
  let db: Db;
  let stateDir: string;
  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'fleetspec-state-'));
    db = await openDb({ stateDir });
  });
  afterAll(async () => {
    await db.close();
    await rm(stateDir, { recursive: true, force: true });
  });

  it('shows the configuration diff against the committed stack: nothing for specs/, a create and an update after a new record', async () => {
    const options = { db, noSsh: 'offline', secret: async () => undefined, progress: () => {} };
    const clean = await planFleet({ ...options, specs: SPECS, mode: 'offline' });
    const stackChanges = (p: typeof clean) => p.plan!.changes.filter((c) => c.kind === 'dns' || c.kind === 'vms');
    expect(stackChanges(clean).every((c) => c.action === 'no-op')).toBe(true);
    // The committed files record the specs' input hash: nothing is synthesised or parsed.
    expect(stackChanges(clean).map((c) => `${c.kind}/${c.name}: ${c.reason}`)).toEqual([
      'dns/stack: configuration diff against stacks/dns/cdk.tf.json (offline: plan with --live to run terraform): unchanged, its input hash matches the specs',
      'vms/stack: configuration diff against stacks/vms/cdk.tf.json (offline: plan with --live to run terraform): unchanged, its input hash matches the specs',
    ]);

    const specs = join(scratch, 'plan-specs');
    const stacks = join(scratch, 'plan-stacks');
    await cp(SPECS, specs, { recursive: true });
    await cp(STACKS, stacks, { recursive: true });
    await writeFile(join(specs, 'dns', 'web.yaml'), 'kind: DnsRecord\nname: web.consilio.153.se\nzone: 153.se\ntype: CNAME\ntarget: tunnel.153.se\nroute: consilio/api\n');
    const changed = await planFleet({ ...options, specs, mode: 'offline', stacks: { dir: stacks, workDir: join(scratch, 'work'), noTerraform: 'none' } });
    const dns = stackChanges(changed).filter((c) => c.action !== 'no-op');
    expect(dns.map((c) => [c.name, c.action])).toEqual([
      ['cloudflare_dns_record.web_consilio_153_se', 'create'],
      ['cloudflare_zero_trust_tunnel_cloudflared_config.supervisor', 'update'],
    ]);
    expect(dns[0]!.reason).toBe('configuration diff against plan-stacks/dns/cdk.tf.json (offline: plan with --live to run terraform)');
    expect(dns[0]!.actions).toEqual(['write stacks/dns/cdk.tf.json (Terraform applies it when run with terraform)']);
  });

  it('says why terraform is not run in a live plan on the embedded store (the pg backend needs a server)', async () => {
    const options = { db, noSsh: 'offline', secret: async () => 'x', progress: () => {} };
    const fake = join(import.meta.dirname, 'fake-terraform.mjs');
    const live = await planFleet({ ...options, specs: SPECS, mode: 'live', stacks: { dir: STACKS, workDir: join(scratch, 'work'), terraform: { path: fake }, noTerraform: '' } });
    const findings = live.plan!.findings.filter((f) => f.code === 'stacks.terraform-not-run');
    expect(findings.map((f) => f.kind)).toEqual(['dns', 'vms']);
    expect(findings[0]!.message).toContain('its pg backend needs PostgreSQL (set DATABASE_URL');
    expect(findings[0]!.severity).toBe('warning');
  });
});
