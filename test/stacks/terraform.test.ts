// The terraform runner through the built binary, against a stand-in terraform CLI that follows
// the documented contract (fake-terraform.mjs: init / plan -out -detailed-exitcode / show -json /
// apply of a saved plan, state in the pg backend's <schema>.states table) and real PostgreSQL.
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm, stat, writeFile, copyFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDb } from '../../reconciler/state/db.js';
import { listRuns, runHistory } from '../../reconciler/state/ledger.js';
import { postgres } from '../state/engines.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'dist', 'reconciler', 'cli.js');
const FAKE = join(import.meta.dirname, 'fake-terraform.mjs');
const CF_TOKEN = 'cf-token-Zq8!never-print-me';
const GCP_KEY = '{"type":"service_account","private_key":"-----BEGIN PRIVATE KEY-----gcp-never-print-me"}';

const admin = process.env.TEST_DATABASE_URL;

describe.skipIf(!admin)('stacks with terraform (stand-in CLI, real PostgreSQL)', { timeout: 120_000 }, () => {
  let dir: string;
  let specs: string;
  let stacks: string;
  let work: string;
  let log: string;
  let databaseUrl: string;
  let cleanup: () => Promise<void>;
  let env: NodeJS.ProcessEnv;
  const seen: string[] = [];

  const fleetspec = (args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
      const child = execFile(process.execPath, [BIN, ...args], { cwd: dir, env: { ...env, ...opts.env } }, (err, stdout, stderr) => {
        seen.push(stdout, stderr);
        done({ code: err ? ((err as { code?: number }).code ?? 3) : 0, stdout, stderr });
      });
      child.stdin!.end(opts.input ?? '');
    });
  const query = async (sql: string) => {
    const c = new pg.Client({ connectionString: databaseUrl });
    await c.connect();
    try {
      return (await c.query(sql)).rows;
    } finally {
      await c.end();
    }
  };
  const resources = async (stack: string) => {
    const rows = await query(`select data from fleetspec_stack_${stack}.states where name = 'default'`);
    return rows[0] ? Object.keys(JSON.parse(rows[0].data).resources).sort() : [];
  };

  beforeAll(async () => {
    const fresh = await postgres(admin!).fresh();
    cleanup = fresh.cleanup;
    databaseUrl = fresh.options.databaseUrl!;
    dir = await mkdtemp(join(tmpdir(), 'fleetspec-tf-'));
    specs = join(dir, 'specs');
    stacks = join(dir, 'stacks');
    work = join(dir, 'work');
    log = join(dir, 'terraform.log');
    await cp(join(ROOT, 'specs'), specs, { recursive: true });
    await cp(join(ROOT, 'stacks'), stacks, { recursive: true });
    // FLEETSPEC_GITHUB_REPO too: a --live plan would read that repository's issues.
    const { FLEETSPEC_SECRET_KEY: _, FLEETSPEC_TERRAFORM: __, PG_CONN_STR: ___, FLEETSPEC_GITHUB_REPO: ____, ...rest } = process.env;
    env = { ...rest, NO_COLOR: '1', DATABASE_URL: databaseUrl, FLEETSPEC_ACTOR: 'ci', FLEETSPEC_REPO: 'tf-test', FLEETSPEC_WORK_DIR: work, FLEETSPEC_TERRAFORM: FAKE, TF_FAKE_LOG: log };
    const key = await fleetspec(['secrets', 'keygen']);
    env.FLEETSPEC_SECRET_KEY = key.stdout.trim();
    expect((await fleetspec(['secrets', 'set', 'meta/cloudflare/api_token', '--allow', 'zones/153.se'], { input: CF_TOKEN })).code).toBe(0);
    // Stored for fleetspec's own use first: the CLI's scope command is what lets the VM have it.
    expect((await fleetspec(['secrets', 'set', 'meta/gcloud/vm_host_key'], { input: GCP_KEY })).code).toBe(0);
    const scoped = await fleetspec(['secrets', 'scope', 'meta/gcloud/vm_host_key', '--allow', 'vms/*', '--format', 'json']);
    expect(JSON.parse(scoped.stdout)).toEqual({ path: 'meta/gcloud/vm_host_key', scope: ['vms/*'] });
  });
  afterAll(async () => {
    await cleanup?.();
    await rm(dir, { recursive: true, force: true });
  });

  it('stacks plan: init, plan -out and show -json per stack; state schemas in the same PostgreSQL; secrets only as TF_VAR_', async () => {
    const r = await fleetspec(['stacks', 'plan', '--specs', specs, '--stacks-dir', stacks]);
    expect(r.stderr).not.toContain('warning');
    expect(r.code).toBe(2);
    expect(r.stdout).toContain('+ dns/cloudflare_dns_record.api_consilio_153_se (create: terraform plan)');
    expect(r.stdout).toContain('+ dns/cloudflare_zero_trust_tunnel_cloudflared_config.supervisor (create: terraform plan)');
    expect(r.stdout).toContain('+ vms/google_compute_instance.supervisor-vm (create: terraform plan)');
    expect(r.stdout).toContain('"id":"(known after apply)"');
    expect(r.stdout).toContain('Plan: 3 to add, 0 to change, 0 to destroy.');
    const schemas = (await query("select schema_name from information_schema.schemata where schema_name like 'fleetspec_stack_%' order by 1")).map((x) => x.schema_name);
    expect(schemas).toEqual(['fleetspec_stack_dns', 'fleetspec_stack_vms']);
    const calls = (await readFile(log, 'utf8')).trim().split('\n');
    expect(calls.map((l) => l.split(' ')[0])).toEqual(expect.arrayContaining(['init', 'plan', 'show']));
    expect(calls.find((l) => l.startsWith('plan') && l.includes('TF_VAR_secret__meta__cloudflare__api_token'))).toContain('PG_CONN_STR');
    expect(calls.some((l) => l.includes('-out=fleetspec.tfplan') && l.includes('-detailed-exitcode'))).toBe(true);
    expect((await stat(join(work, 'dns'))).mode & 0o077, 'plan files hold variable values: the work folder is private').toBe(0);
  });

  it('stacks apply: applies the saved plan file only, writes the applied configuration, and a plan file applies once', async () => {
    const r = await fleetspec(['stacks', 'apply', 'dns', '--specs', specs, '--stacks-dir', stacks]);
    expect(r.stderr).toContain('Creation complete');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('✓ stacks/dns applied');
    expect(await resources('dns')).toEqual(['cloudflare_dns_record.api_consilio_153_se', 'cloudflare_zero_trust_tunnel_cloudflared_config.supervisor']);
    const again = await fleetspec(['stacks', 'apply', 'dns', '--specs', specs, '--stacks-dir', stacks]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('no saved plan for stacks/dns');
    const replan = await fleetspec(['stacks', 'plan', 'dns', '--specs', specs, '--stacks-dir', stacks]);
    expect(replan.code).toBe(0);
    expect(replan.stdout).toContain('No changes.');
  });

  it("refuses a stale saved plan with terraform's own message", async () => {
    expect((await fleetspec(['stacks', 'plan', 'vms', '--specs', specs, '--stacks-dir', stacks])).code).toBe(2);
    const saved = join(dir, 'vms.tfplan.copy');
    await copyFile(join(work, 'vms', 'fleetspec.tfplan'), saved);
    expect((await fleetspec(['stacks', 'apply', 'vms', '--specs', specs, '--stacks-dir', stacks])).code).toBe(0);
    await copyFile(saved, join(work, 'vms', 'fleetspec.tfplan'));
    // A saved plan bypasses the engine, so the budget brake judges the specs before terraform runs.
    const tight = join(dir, 'tight-policies');
    await mkdir(tight, { recursive: true });
    await writeFile(join(tight, 'budget.yaml'), 'kind: Policy\nname: budget\nseverity: error\nrule: budget\nparams: {currency: USD, monthlyBudget: 10, brakeAt: 0.8, prices: {gcp: {us-central1: {n1-standard-2: 0.095, n1-standard-4: 0.19}}}}\n');
    const braked = await fleetspec(['stacks', 'apply', 'vms', '--specs', specs, '--stacks-dir', stacks, '--policies', tight]);
    expect(braked.code).toBe(1);
    expect(braked.stderr).toContain('the policies refuse the specs; nothing was applied');
    expect(braked.stderr).toMatch(/vms\/supervisor-vm: error forecast \d+\.\d\d USD a month is \d+% of the 10\.00 USD budget/);
    const stale = await fleetspec(['stacks', 'apply', 'vms', '--specs', specs, '--stacks-dir', stacks]);
    expect(stale.code).toBe(3);
    expect(stale.stderr).toContain('Error: Saved plan is stale: The given plan file can no longer be applied');
    expect(await resources('vms')).toEqual(['google_compute_instance.supervisor-vm']);
  });

  it("carries terraform's failure into the plan as an error finding", async () => {
    const r = await fleetspec(['stacks', 'plan', 'dns', '--specs', specs, '--stacks-dir', stacks], { env: { TF_FAKE_FAIL: 'plan' } });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('dns/stack: error terraform failed: `fake-terraform.mjs plan failed (exit 1): Error: Invalid provider configuration: the API token is not valid`');
    expect(r.stdout).toContain('? not read: dns/stack: terraform plan failed');
  });

  it('gives terraform only the import blocks fleetspec can read from imports.tf.json, rebuilt; no other *.tf.json a branch adds', async () => {
    // Anyone with push access writes stacks/: a data source that runs a program, an http call
    // carrying a secret, or a template in an import id must never reach terraform.
    const evil = { data: { external: { leak: { program: ['sh', '-c', 'env > /tmp/leak'] } } } };
    const imports = {
      import: [
        { to: 'cloudflare_dns_record.api_consilio_153_se', id: '0123456789abcdef0123456789abcdef/fedcba9876543210fedcba9876543210' },
        { to: 'cloudflare_dns_record.root', id: '0123456789abcdef0123456789abcdef/00000000000000000000000000000000' },
        { to: 'cloudflare_dns_record.api_consilio_153_se', id: '${var.secret__meta__cloudflare__api_token}' },
      ],
      output: { token: { value: '${var.secret__meta__cloudflare__api_token}' } },
    };
    await writeFile(join(stacks, 'dns', 'evil.tf.json'), JSON.stringify(evil));
    await writeFile(join(stacks, 'dns', 'imports.tf.json'), JSON.stringify(imports));
    try {
      const r = await fleetspec(['stacks', 'plan', 'dns', '--specs', specs, '--stacks-dir', stacks]);
      expect(r.code, r.stdout + r.stderr).toBe(1);
      expect(r.stdout).toContain('dns/stack: error terraform was not given this: imports.tf.json holds more than import blocks (output)');
      expect(r.stdout).toContain('dns/stack: error terraform was not given this: imports.tf.json: cloudflare_dns_record.root is not a resource of stacks/dns');
      expect(r.stdout).toContain('dns/stack: error terraform was not given this: imports.tf.json: an import block that is not {to: resource address, id: provider id}');
      const given = (await readdir(join(work, 'dns'))).filter((f) => f.endsWith('.tf.json')).sort();
      expect(given).toEqual(['cdk.tf.json', 'imports.tf.json']);
      const handed = JSON.parse(await readFile(join(work, 'dns', 'imports.tf.json'), 'utf8'));
      expect(handed).toEqual({ import: [imports.import[0]] });
    } finally {
      await rm(join(stacks, 'dns', 'evil.tf.json'), { force: true });
      await rm(join(stacks, 'dns', 'imports.tf.json'), { force: true });
    }
  });

  it('fleetspec plan --live and apply: a spec change goes through terraform, the ledger records it, and the next plan is clean', async () => {
    await writeFile(join(specs, 'dns', 'web.yaml'), 'kind: DnsRecord\nname: web.consilio.153.se\nzone: 153.se\ntype: CNAME\ntarget: tunnel.153.se\nroute: consilio/api\n');
    const planFile = join(dir, 'plan.json');
    const common = ['--stacks-dir', stacks, '--ssh-key', join(dir, 'no-such-key')];
    const p = await fleetspec(['plan', specs, '--live', '--out', planFile, ...common]);
    expect(p.code).toBe(2);
    expect(p.stdout).toContain('+ dns/cloudflare_dns_record.web_consilio_153_se (create: terraform plan)');
    expect(p.stdout).toContain('~ dns/cloudflare_zero_trust_tunnel_cloudflared_config.supervisor (update: terraform plan)');
    expect(p.stdout).toContain('will:   terraform apply of the saved plan for stacks/dns');

    const appliesBefore = (await readFile(log, 'utf8')).split('\n').filter((l) => l.startsWith('apply')).length;
    const a = await fleetspec(['apply', planFile, specs, ...common]);
    expect(a.stderr).toContain('Apply complete');
    expect(a.code).toBe(0);
    expect(a.stdout).toContain('✓ dns/cloudflare_dns_record.web_consilio_153_se create');
    expect(await resources('dns')).toContain('cloudflare_dns_record.web_consilio_153_se');
    expect(await readFile(join(stacks, 'dns', 'cdk.tf.json'), 'utf8')).toContain('web.consilio.153.se');
    const applies = (await readFile(log, 'utf8')).split('\n').filter((l) => l.startsWith('apply'));
    expect(applies.length - appliesBefore, 'the dns stack is applied once for its two changes').toBe(1);

    const db = await openDb({ databaseUrl });
    try {
      const [run] = await listRuns(db, { repo: 'tf-test' });
      expect((await runHistory(db, run!.id)).map((t) => t.to)).toEqual(['PENDING', 'PLANNING', 'WAIT_FOR_APPROVE', 'APPLYING', 'DONE']);
    } finally {
      await db.close();
    }
    const clean = await fleetspec(['plan', specs, '--live', ...common]);
    expect(clean.stdout).not.toMatch(/^[+~-] (dns|vms)\//m);
  });

  it('without a binary the live plan says so and shows the configuration diff', async () => {
    await writeFile(join(specs, 'dns', 'docs.yaml'), 'kind: DnsRecord\nname: docs.consilio.153.se\nzone: 153.se\ntype: CNAME\ntarget: tunnel.153.se\nroute: consilio/api\n');
    const r = await fleetspec(['plan', specs, '--live', '--stacks-dir', stacks, '--terraform', '/nonexistent/terraform', '--ssh-key', join(dir, 'no-such-key')]);
    expect(r.code).toBe(2);
    expect(r.stdout).toContain('dns/stack: warning terraform not run: /nonexistent/terraform is not an executable (from --terraform)');
    expect(r.stdout).toMatch(/\+ dns\/cloudflare_dns_record\.docs_consilio_153_se \(create: configuration diff against .*cdk\.tf\.json/);
  });

  it('never lets a secret value out: not in stacks/, plans, output, the ledger or the PR-facing Markdown', async () => {
    const md = await fleetspec(['plan', specs, '--live', '--format', 'markdown', '--stacks-dir', stacks, '--ssh-key', join(dir, 'no-such-key')]);
    expect(md.stdout).toContain('### Plan:');
    const texts = [...seen];
    for (const name of ['dns', 'vms']) texts.push(await readFile(join(stacks, name, 'cdk.tf.json'), 'utf8'), await readFile(join(work, name, 'cdk.tf.json'), 'utf8'));
    texts.push(await readFile(join(dir, 'plan.json'), 'utf8'), await readFile(log, 'utf8'));
    texts.push(JSON.stringify(await query('select * from run_transitions')), JSON.stringify(await query('select * from runs')));
    for (const t of texts) {
      expect(t).not.toContain(CF_TOKEN);
      expect(t).not.toContain('gcp-never-print-me');
    }
    expect(await readdir(stacks)).not.toContain('.terraform');
  });
});
