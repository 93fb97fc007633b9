// fleetspec init through the built binary: a new spec repository in an empty folder that
// validates and plans as it is, an example for every kind, the schemas `schema --out` writes,
// every built-in policy rule, GitHub workflows that GitHub's parser accepts and whose validate
// steps pass here, and a second run that keeps every file, edited or not.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { register } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, parse } from 'yaml';
import { bufferOutput } from '../../reconciler/commands/output.js';
import { renderSchema, schemaCommand, schemaFileName } from '../../reconciler/commands/schema.js';
import { KINDS } from '../../reconciler/kinds/index.js';
import { RULES } from '../../reconciler/policies/rules/index.js';
import { run } from '../../reconciler/program.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'dist', 'reconciler', 'cli.js');

// @actions/workflow-parser imports its JSON schema without `with { type: 'json' }`, which Node
// refuses; as in test/workflows/, a hook adds the attribute before the parser is imported.
const addJsonAttribute = `export async function load(url, context, nextLoad) {
  if (url.endsWith('.json') && url.includes('/@actions/workflow-parser/') && context.importAttributes?.type === undefined)
    return nextLoad(url, { ...context, importAttributes: { ...context.importAttributes, type: 'json' } });
  return nextLoad(url, context);
}`;
register(`data:text/javascript,${encodeURIComponent(addJsonAttribute)}`);
const { parseWorkflow, convertWorkflowTemplate, NoOperationTraceWriter } = await import('@actions/workflow-parser');

interface Result {
  code: number | string;
  stdout: string;
  stderr: string;
}

let temp: string;
let repo: string;
let env: NodeJS.ProcessEnv;
let first: Result;

const fleetspec = (args: string[], cwd = ROOT): Promise<Result> =>
  new Promise((done) => {
    const child = execFile(process.execPath, [BIN, ...args], { cwd, env, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) =>
      done({ code: err ? ((err as { code?: number }).code ?? 3) : 0, stdout, stderr }),
    );
    child.stdin!.end();
  });

/** Every file under dir, relative, with forward slashes; the embedded store left out. */
const listFiles = (dir: string): string[] =>
  readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)).split('\\').join('/'))
    .filter((f) => !f.startsWith('.fleetspec/'))
    .sort();

beforeAll(async () => {
  expect(existsSync(BIN), `${BIN} is missing: run \`npx tsc -p tsconfig.json\` first`).toBe(true);
  temp = await mkdtemp(join(tmpdir(), 'fleetspec-init-'));
  repo = join(temp, 'repo');
  const { DATABASE_URL: _, ...rest } = process.env;
  env = {
    ...Object.fromEntries(Object.entries(rest).filter(([name]) => !name.startsWith('FLEETSPEC_'))),
    NO_COLOR: '1',
    FLEETSPEC_STATE_DIR: join(temp, 'state'),
    FLEETSPEC_TERRAFORM: '/nonexistent/terraform',
  };
  first = await fleetspec(['init', repo]);
});

afterAll(async () => {
  await rm(temp, { recursive: true, force: true });
});

describe('init into a folder that does not exist', () => {
  it('writes every file, one line each, and a summary on stderr (exit 0)', () => {
    expect(first.code, first.stderr).toBe(0);
    const lines = first.stdout.trim().split('\n');
    expect(lines.every((l) => l.startsWith('written '))).toBe(true);
    expect(lines.map((l) => l.slice('written '.length))).toEqual(expect.arrayContaining(listFiles(repo)));
    expect(lines).toHaveLength(listFiles(repo).length);
    expect(first.stderr).toMatch(/\d+ files written, 0 kept in /);
    expect(listFiles(repo)).toEqual(
      expect.arrayContaining([
        '.github/workflows/validate.yml',
        '.github/workflows/diagrams.yml',
        '.gitignore',
        'README.md',
        'policies/README.md',
        'docs/diagrams/render.sh',
        'stacks/dns/cdk.tf.json',
        'docs/diagrams/src/topology.mmd',
      ]),
    );
  });

  it('ignores the state store, node_modules, terraform work folders and plan files; render.sh is valid bash', async () => {
    const ignore = readFileSync(join(repo, '.gitignore'), 'utf8').split('\n');
    expect(ignore).toEqual(expect.arrayContaining(['.fleetspec/', 'node_modules/', '.terraform/', '*.tfplan', 'plan.json']));
    await promisify(execFile)('bash', ['-n', join(repo, 'docs', 'diagrams', 'render.sh')]);
  });

  it('has one commented example per kind, naming its schema on the first line', () => {
    for (const kind of KINDS) {
      const dir = join(repo, 'specs', kind.folder);
      const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.yaml')) : [];
      expect(files, `no example in specs/${kind.folder}/`).toHaveLength(1);
      const text = readFileSync(join(dir, files[0]!), 'utf8');
      expect(text.split('\n')[0]).toBe(`# yaml-language-server: $schema=../schemas/${kind.folder}.schema.json`);
      const comments = text.split('\n').filter((l) => /^\s*#/.test(l)).length;
      expect(comments, `specs/${kind.folder}/${files[0]} explains its fields`).toBeGreaterThanOrEqual(4);
      const kinds = parseAllDocuments(text).map((d) => (d.toJS() as { kind?: string }).kind);
      expect(kinds.length).toBeGreaterThan(0);
      expect(new Set(kinds)).toEqual(new Set([kind.kind]));
    }
  });

  it('writes the schemas exactly as `fleetspec schema --out` does', async () => {
    const out = join(temp, 'schemas');
    expect(await schemaCommand({ out }, bufferOutput())).toBe(0);
    for (const kind of KINDS) {
      const file = schemaFileName(kind.folder);
      const generated = await readFile(join(repo, 'specs', 'schemas', file), 'utf8');
      expect(generated).toBe(await readFile(join(out, file), 'utf8'));
      expect(generated).toBe(renderSchema(kind.schema));
    }
    expect(readdirSync(join(repo, 'specs', 'schemas')).sort()).toEqual(readdirSync(out).sort());
  });

  it('writes a policy for every built-in rule', () => {
    const dir = join(repo, 'policies');
    const rules = readdirSync(dir)
      .filter((f) => f.endsWith('.yaml'))
      .flatMap((f) => parseAllDocuments(readFileSync(join(dir, f), 'utf8')).map((d) => (d.toJS() as { rule?: string }).rule))
      .filter((r) => r !== undefined);
    expect(new Set(rules)).toEqual(new Set(RULES.map((r) => r.name)));
  });

  it('uses example values only, and never mentions the seeds', () => {
    for (const file of listFiles(repo)) {
      const text = readFileSync(join(repo, file), 'utf8');
      expect(text, file).not.toMatch(/\bseeds?\b/i);
      for (const ip of text.match(/\b\d{1,3}(\.\d{1,3}){3}\b/g) ?? []) expect(ip, `${file}: ${ip}`).toMatch(/^(192\.0\.2\.|198\.51\.100\.|203\.0\.113\.|127\.0\.0\.1$)/);
      if (file.startsWith('specs/') && file.endsWith('.yaml')) {
        for (const name of text.match(/\b[a-z0-9.-]+\.(com|net|org|se|io)\b/g) ?? []) expect(name, file).toMatch(/(^|\.)example\.com$/);
      }
    }
  });

  it('validates with no errors and no warnings (exit 0)', async () => {
    const result = await fleetspec(['validate', join(repo, 'specs')]);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout + result.stderr).toMatch(/0 errors, 0 warnings: valid/);
  });

  it('plans offline (exit 0 or 2) with a passing verdict', async () => {
    const result = await fleetspec(['plan', join(repo, 'specs')]);
    expect([0, 2], result.stdout + result.stderr).toContain(result.code);
    expect(result.stdout).toMatch(/Verdict: pass/);
  }, 120_000);
});

describe('the generated workflows', () => {
  const workflows = ['validate.yml', 'diagrams.yml'];
  const text = (file: string) => readFileSync(join(repo, '.github', 'workflows', file), 'utf8');

  it.each(workflows)("%s parses and converts with GitHub's workflow parser", async (file) => {
    const result = parseWorkflow({ name: file, content: text(file) }, new NoOperationTraceWriter());
    expect(result.context.errors.getErrors().map((e) => e.message)).toEqual([]);
    expect(result.value).toBeDefined();
    const template = await convertWorkflowTemplate(result.context, result.value!);
    expect((template.errors ?? []).map((e) => e.Message)).toEqual([]);
    expect((template.jobs ?? []).map((j) => j.id.value)).toEqual(Object.keys((parse(text(file)) as { jobs: object }).jobs));
  });

  it.each(workflows)('%s interpolates no expression into a script, and needs no secrets', (file) => {
    const workflow = parse(text(file)) as { jobs: Record<string, { steps: { run?: string }[] }> };
    for (const job of Object.values(workflow.jobs)) for (const step of job.steps) expect(step.run ?? '').not.toContain('${{');
    expect(text(file)).not.toContain('secrets.');
  });

  it('validate.yml reads only, installs the release FLEETSPEC_PACKAGE names, and judges by the base branch policies', () => {
    const workflow = parse(text('validate.yml')) as { on: object; permissions: unknown; jobs: { validate: { env: Record<string, string>; steps: { run?: string; if?: string }[] } } };
    expect(workflow.on).toHaveProperty('pull_request');
    expect(workflow.permissions).toEqual({ contents: 'read' });
    const job = workflow.jobs.validate;
    expect(job.env.FLEETSPEC_PACKAGE).toBe('${{ vars.FLEETSPEC_PACKAGE }}');
    const scripts = job.steps.map((s) => s.run ?? '');
    expect(scripts.some((s) => s.includes('npm install -g') && s.includes('"$FLEETSPEC_PACKAGE"'))).toBe(true);
    expect(scripts.some((s) => s.includes('dist/reconciler'))).toBe(false);
    for (const command of ['fleetspec validate specs', 'fleetspec plan specs', 'fleetspec policy check', 'fleetspec stacks synth', 'fleetspec diagrams specs --check']) {
      expect(scripts.some((s) => s.includes(command)), command).toBe(true);
    }
    expect(job.steps.find((s) => s.if?.includes('pull_request'))?.run).toContain('git archive FETCH_HEAD policies');
    expect(readFileSync(join(repo, 'README.md'), 'utf8')).toContain('FLEETSPEC_PACKAGE');
  });

  it('diagrams.yml renders with the render.sh init wrote and commits the SVGs on main', () => {
    const workflow = parse(text('diagrams.yml')) as { on: Record<string, { paths?: string[] }>; permissions: unknown; jobs: { render: { steps: { run?: string; uses?: string; if?: string }[] } } };
    expect(workflow.on.push?.paths).toContain('docs/diagrams/src/**');
    expect(workflow.permissions).toEqual({ contents: 'write' });
    expect(workflow.jobs.render.steps.some((s) => s.run === 'bash docs/diagrams/render.sh')).toBe(true);
    expect(workflow.jobs.render.steps.find((s) => s.uses?.startsWith('stefanzweifel/git-auto-commit-action'))?.if).toBe("github.event_name != 'pull_request'");
  });

  it("validate.yml's steps pass on the new repository, as a push would run them", async () => {
    // `fleetspec` on PATH is this build, as the install step would make it.
    const bin = join(temp, 'bin');
    await mkdir(bin, { recursive: true });
    await writeFile(join(bin, 'fleetspec'), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`);
    await chmod(join(bin, 'fleetspec'), 0o755);
    const runner = join(temp, 'runner');
    await mkdir(runner, { recursive: true });
    const githubEnv = join(runner, 'github-env');
    const summary = join(runner, 'summary.md');
    await writeFile(githubEnv, '');
    await writeFile(summary, '');
    const { FLEETSPEC_STATE_DIR: _, ...base } = env;
    let stepEnv: NodeJS.ProcessEnv = { ...base, PATH: `${bin}:${process.env.PATH}`, RUNNER_TEMP: runner, GITHUB_ENV: githubEnv, GITHUB_STEP_SUMMARY: summary, CI: 'true' };
    const job = (parse(readFileSync(join(repo, '.github', 'workflows', 'validate.yml'), 'utf8')) as { jobs: { validate: { env: Record<string, string>; steps: { name?: string; run?: string; if?: string; uses?: string }[] } } }).jobs.validate;
    const ran: string[] = [];
    for (const step of job.steps) {
      if (step.uses || step.if || step.name === 'Install fleetspec') continue;
      const result = await promisify(execFile)('bash', ['-e', '-o', 'pipefail', '-c', step.run!], { cwd: repo, env: stepEnv, timeout: 120_000, maxBuffer: 64 * 1024 * 1024 }).then(
        ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
        (err: { code?: number; stdout?: string; stderr?: string }) => ({ code: err.code ?? 3, stdout: err.stdout ?? '', stderr: err.stderr ?? '' }),
      );
      expect(result.code, `step "${step.name}" failed\n${result.stdout}\n${result.stderr}`).toBe(0);
      ran.push(step.name ?? step.run!);
      for (const line of (await readFile(githubEnv, 'utf8')).split('\n').filter((l) => l.includes('='))) {
        stepEnv = { ...stepEnv, [line.slice(0, line.indexOf('='))]: line.slice(line.indexOf('=') + 1) };
      }
      await writeFile(githubEnv, '');
    }
    expect(ran).toEqual(['State store folder', 'Validate the specs', 'Plan offline', 'Judge the plan by the policies', 'The synthesised stacks match the specs', 'The diagrams match the specs']);
    expect(await readFile(summary, 'utf8')).toMatch(/Policy verdict: pass\b/);
  }, 240_000);
});

describe('init again', () => {
  it('keeps every file, edited ones unchanged, and writes only what is missing', async () => {
    const readme = join(repo, 'README.md');
    const host = join(repo, 'specs', 'hosts', 'example-host.yaml');
    await writeFile(readme, '# my fleet\n');
    const hostText = (await readFile(host, 'utf8')).replace('192.0.2.10', '192.0.2.11');
    await writeFile(host, hostText);
    await unlink(join(repo, 'policies', 'dns.yaml'));
    const before = listFiles(repo);

    const again = await fleetspec(['init', repo]);
    expect(again.code, again.stderr).toBe(0);
    const lines = again.stdout.trim().split('\n');
    expect(lines.filter((l) => l.startsWith('written '))).toEqual(['written policies/dns.yaml']);
    expect(lines.filter((l) => l.startsWith('kept '))).toHaveLength(before.length);
    expect(lines).toContain('kept    README.md');
    expect(lines).toContain('kept    specs/hosts/example-host.yaml');
    expect(await readFile(readme, 'utf8')).toBe('# my fleet\n');
    expect(await readFile(host, 'utf8')).toBe(hostText);
    expect(again.stderr).toMatch(/1 file written, \d+ kept/);
    // The edited host changes the topology diagram: kept, and said to be out of date.
    expect(again.stderr).toMatch(/out of date with the specs: docs\/diagrams\/src\/topology\.mmd/);
  });

  it('--format json prints one JSON object with every file', async () => {
    const out = bufferOutput();
    const code = await run(['init', repo, '--format', 'json'], out);
    expect(code).toBe(0);
    expect(out.out).toHaveLength(1);
    const report = JSON.parse(out.out[0]!) as { dir: string; files: { path: string; status: string }[]; written: number; kept: number; exitCode: number };
    expect(report.dir).toBe(repo);
    expect(report.written).toBe(0);
    expect(report.kept).toBe(report.files.length);
    expect(report.files.every((f) => f.status === 'kept')).toBe(true);
    expect(report.exitCode).toBe(0);
  });

  it('refuses a bad --from-hosts target before writing anything (exit 1)', async () => {
    const dir = join(temp, 'bad-target');
    const out = bufferOutput();
    expect(await run(['init', dir, '--from-hosts', 'root@../../etc'], out)).toBe(1);
    expect(out.err.join('\n')).toMatch(/--from-hosts root@\.\.\/\.\.\/etc: /);
    expect(existsSync(dir)).toBe(false);
  });
});

describe("the new repository's diagram rendering", () => {
  // The release carries no docs/diagrams/, so init writes render.sh and the Mermaid settings from
  // templates; they must render as fleetspec's own repository does.
  it('renders exactly as docs/diagrams/render.sh does, with the same Mermaid and Puppeteer settings', async () => {
    const { RENDER_SH, MERMAID_JSON, PUPPETEER_JSON } = await import('../../reconciler/init/templates/repo.js');
    const ROOT = resolve(import.meta.dirname, '..', '..');
    const own = readFileSync(join(ROOT, 'docs', 'diagrams', 'render.sh'), 'utf8');
    const loop = (text: string) => text.slice(text.indexOf('scratch=$(mktemp -d)'));
    expect(loop(RENDER_SH)).toBe(loop(own));
    expect(JSON.parse(MERMAID_JSON)).toEqual(JSON.parse(readFileSync(join(ROOT, 'docs', 'diagrams', 'mermaid.json'), 'utf8')));
    expect(JSON.parse(PUPPETEER_JSON)).toEqual(JSON.parse(readFileSync(join(ROOT, 'docs', 'diagrams', 'puppeteer.json'), 'utf8')));
  });
});
