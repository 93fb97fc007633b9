// Stacks are data only, proved with the real terraform binary (offline: built-in terraform_data
// and the pg backend, no provider, no registry). Hostile spec strings go through synthesis, and
// the strings of the synthesised resources through terraform: they come out literally, and
// terraform runs with none of fleetspec's own secrets in its environment.
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSpecs } from '../../reconciler/specs/load.js';
import { backendConnString } from '../../reconciler/stacks/driver.js';
import { stackModels } from '../../reconciler/stacks/model.js';
import { literalise, synthObject, templateLiteral } from '../../reconciler/stacks/synth.js';
import { init, plan, terraformEnvironment, type TerraformRun } from '../../reconciler/stacks/terraform.js';
import { postgres } from '../state/engines.js';
import { offlineTerraform, type OfflineTerraform } from './offline-terraform.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const KEY_CANARY = 'CANARY-ssh-key-5b1d9e';
const ENV_CANARIES = { FLEETSPEC_SECRET_KEY: 'CANARY-master-key-0c4f', GITHUB_TOKEN: 'CANARY-ghp-token-77aa', FLEETSPEC_GITHUB_TOKEN: 'CANARY-ghp-token-88bb', DATABASE_URL: 'postgres://u:CANARY-db-pass-91@127.0.0.1:1/x', TF_VAR_leak: 'CANARY-parent-tfvar' };

// Every string field of a VM and a DNS record that reaches a stack, with template syntax,
// directives, cdktf's own token markers and an already-escaped sequence.
const PURPOSE = '${file(pathexpand("~/.ssh/id_ed25519"))} and ${file("/proc/self/environ")} ${TfToken[TOKEN.0]} #{TfToken[TOKEN.1]} %{ if true }x%{ endif } $${kept} 100%{'; // prettier-ignore
const IMAGE = '${file("/proc/self/environ")}';
const TARGET = '${file(pathexpand("~/.ssh/id_ed25519"))}.example';

const admin = process.env.TEST_DATABASE_URL;

describe('templateLiteral and literalise', () => {
  it('escapes interpolations and directives, and nothing else', () => {
    expect(templateLiteral('a ${b} %{ if c } $${d} 100% $x {y}')).toBe('a $${b} %%{ if c } $$${d} 100% $x {y}');
  });

  it('hides every active string, map keys included, from cdktf and puts it back escaped', () => {
    const data = literalise({ id: 'vm_1', labels: { '${k}': '${v}', plain: 'x' }, list: ['${TfToken[TOKEN.0]}'] });
    expect(JSON.stringify(data.input)).not.toMatch(/\$\{|TfToken/);
    expect(data.input.labels.plain).toBe('x');
    // What cdktf hands back holds the placeholders, possibly inside fleetspec's own text.
    const back = data.restore({ ...data.input, comment: `routes to ${data.input.list[0]}`, ref: '${var.secret__x}' }) as Record<string, any>;
    expect(back.labels).toEqual({ '$${k}': '$${v}', plain: 'x' });
    expect(back.comment).toBe('routes to $${TfToken[TOKEN.0]}');
    expect(back.ref).toBe('${var.secret__x}'); // fleetspec's references stay references
  });

  it('refuses identifiers and numbers that could be code', () => {
    expect(() => literalise({ id: '${x}' })).toThrow(/not a Terraform identifier/);
    expect(() => literalise({ ttl: -1.8881545897087626e289 })).toThrow(/numbers in a stack must be finite/);
  });
});

describe('hostile spec strings through synthesis', () => {
  let dir: string;
  let synthesised: Record<string, Record<string, any>>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleetspec-literal-'));
    await cp(join(ROOT, 'specs'), join(dir, 'specs'), { recursive: true });
    const vm = join(dir, 'specs', 'vms', 'supervisor-vm.yaml');
    await writeFile(vm, `${await readFile(vm, 'utf8')}\npurpose: ${JSON.stringify(PURPOSE)}\nbootDisk:\n  image: ${JSON.stringify(IMAGE)}\n`);
    const record = join(dir, 'specs', 'dns', 'api.consilio.153.se.yaml');
    const text = (await readFile(record, 'utf8')).replace(/^target: .*$/m, `target: ${JSON.stringify(TARGET)}`).replace(/^route: .*\n/m, '');
    await writeFile(record, text);
    const loaded = await loadSpecs(join(dir, 'specs'));
    expect(loaded.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    synthesised = Object.fromEntries(stackModels(loaded.index).map((m) => [m.name, synthObject(m)]));
  }, 120_000);
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('writes every hostile string escaped and resolves no cdktf token marker', () => {
    const vm = synthesised.vms!.resource.google_compute_instance["supervisor-vm"];
    expect(vm.description).toBe(templateLiteral(PURPOSE));
    expect(vm.boot_disk.initialize_params.image).toBe(templateLiteral(IMAGE));
    expect(synthesised.dns!.resource.cloudflare_dns_record.api_consilio_153_se.content).toBe(templateLiteral(TARGET));
    // The credentials variable is referenced where fleetspec put it, and nowhere a spec string was.
    expect(JSON.stringify(vm.description)).not.toContain('var.');
  });

  describe.skipIf(!admin)('through the real terraform (offline, pg backend)', () => {
    let tf: OfflineTerraform | undefined;
    let home: string;
    let pgConnStr: string;
    let cleanup: () => Promise<void>;
    const saved: Record<string, string | undefined> = {};

    beforeAll(async () => {
      tf = await offlineTerraform(dir);
      const fresh = await postgres(admin!).fresh();
      cleanup = fresh.cleanup;
      pgConnStr = backendConnString(fresh.options.databaseUrl!);
      // A home whose private key terraform would print if it evaluated a spec string.
      home = join(dir, 'home');
      await mkdir(join(home, '.ssh'), { recursive: true });
      await writeFile(join(home, '.ssh', 'id_ed25519'), `-----BEGIN OPENSSH PRIVATE KEY-----\n${KEY_CANARY}\n`);
      for (const [k, v] of Object.entries({ ...ENV_CANARIES, HOME: home, ...tf?.env })) {
        saved[k] = process.env[k];
        process.env[k] = v;
      }
    }, 120_000);
    afterAll(async () => {
      for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k];
      else process.env[k] = v;
      await cleanup?.();
    });

    const run = (name: string, env: Record<string, string> = {}): TerraformRun => ({
      binary: { path: tf!.path },
      workDir: join(dir, 'work', name),
      env: { PG_CONN_STR: pgConnStr, ...env },
      redact: Object.values(env).filter((v) => v !== pgConnStr),
      progress: () => {},
      timeoutMs: 120_000,
    });

    /** Every string attribute of the synthesised resources, except fleetspec's own references. */
    const dataOf = (stack: Record<string, any>) => {
      const out: Record<string, unknown> = {};
      for (const [type, byName] of Object.entries<Record<string, any>>(stack.resource))
        for (const [name, attrs] of Object.entries<Record<string, unknown>>(byName)) {
          const keep = (v: unknown): unknown =>
            typeof v === 'string' ? (/^\$\{(var|data|local)\./.test(v) ? undefined : v) : Array.isArray(v) ? v.map(keep) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, keep(x)]).filter(([, x]) => x !== undefined)) : v;
          const { provider: _provider, ...rest } = attrs;
          out[`${type}__${name}`] = keep(rest);
        }
      return out;
    };

    it('reads every synthesised string back literally, where the unescaped string would leak the key', async (ctx) => {
      if (!tf) return ctx.skip();
      const data = { ...dataOf(synthesised.vms!), ...dataOf(synthesised.dns!) };
      // The control: the same strings as the first version wrote them, unescaped.
      const config = {
        terraform: { backend: { pg: { schema_name: 'fleetspec_literal' } } },
        resource: {
          terraform_data: {
            escaped: { input: data },
            unescaped: { input: { target: TARGET } },
          },
        },
      };
      const r = run('literal');
      await init(r, JSON.stringify(config));
      const { show } = await plan(r);
      const after = (address: string) => show.changes.find((c) => c.address === address)?.after as { input: Record<string, any> };
      const input = after('terraform_data.escaped').input;
      expect(input["google_compute_instance__supervisor-vm"].description).toBe(PURPOSE);
      expect(input["google_compute_instance__supervisor-vm"].boot_disk.initialize_params.image).toBe(IMAGE);
      expect(input.cloudflare_dns_record__api_consilio_153_se.content).toBe(TARGET);
      expect(JSON.stringify(input)).not.toContain(KEY_CANARY);
      // The control shows the test can see the hole: terraform evaluates an unescaped string.
      expect(after('terraform_data.unescaped').input.target).toContain(KEY_CANARY);
    }, 180_000);

    it("gives terraform only its own settings, PG_CONN_STR and the stack's TF_VAR_* values", async (ctx) => {
      if (!tf) return ctx.skip();
      const secret = 'stack-secret-value-3e9a';
      const config = {
        terraform: { backend: { pg: { schema_name: 'fleetspec_environ' } } },
        resource: { terraform_data: { environ: { input: '${file("/proc/self/environ")}' } } },
      };
      const r = run('environ', { TF_VAR_secret__meta__x: secret });
      await init(r, JSON.stringify(config));
      const { show } = await plan(r);
      const environ = String((show.changes[0]?.after as { input: string }).input).split('\0');
      const names = environ.map((l) => l.split('=')[0]);
      expect(names).toEqual(expect.arrayContaining(['PATH', 'HOME', 'PG_CONN_STR', 'TF_CLI_CONFIG_FILE', 'TF_VAR_secret__meta__x']));
      expect(environ).toContain('TF_VAR_secret__meta__x=***'); // scrubbed from what terraform printed
      for (const name of Object.keys(ENV_CANARIES)) expect(names).not.toContain(name);
      for (const canary of Object.values(ENV_CANARIES)) expect(environ.join('\n')).not.toContain(canary);
      expect(environ.join('\n')).not.toContain(secret);
    }, 180_000);
  });
});

describe('terraformEnvironment', () => {
  it('passes PATH, HOME and TF_* settings, never a parent TF_VAR_* or anything of fleetspec', () => {
    const env = terraformEnvironment({ PATH: '/bin', HOME: '/h', TF_LOG: 'warn', TF_VAR_x: 'parent', FLEETSPEC_SECRET_KEY: 'k', GITHUB_TOKEN: 't', DATABASE_URL: 'd', PG_CONN_STR: 'parent-pg' }, { PG_CONN_STR: 'pg', TF_VAR_y: 'v' });
    expect(env).toEqual({ PATH: '/bin', HOME: '/h', TF_LOG: 'warn', TF_IN_AUTOMATION: '1', TF_INPUT: '0', CHECKPOINT_DISABLE: '1', PG_CONN_STR: 'pg', TF_VAR_y: 'v' });
  });

  it('turns TLS off for the pg backend only on loopback without an sslmode', () => {
    expect(backendConnString('postgres://u:p@127.0.0.1:5432/db')).toBe('postgres://u:p@127.0.0.1:5432/db?sslmode=disable');
    expect(backendConnString('postgres://u@db.example:5432/db')).toBe('postgres://u@db.example:5432/db');
    expect(backendConnString('postgres://u@localhost/db?sslmode=require')).toBe('postgres://u@localhost/db?sslmode=require');
    expect(backendConnString('host=127.0.0.1 dbname=x')).toBe('host=127.0.0.1 dbname=x');
  });
});
