// Start-up (issue 21, item 3): each command imports only what it uses. program.ts registers every
// command with its options and help without importing its implementation, so `fleetspec --help`
// loads no command and no heavy library, and `fleetspec validate` loads what validating needs (yaml,
// ajv, the schemas, the policies' CEL) and nothing of git, GitHub, the LLM, SSH, the state store or
// terraform. These tests record every module the built CLI loads and name what should not be there;
// the time it takes is measured in bench/, not here. Also: the #! line that starts it.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KINDS } from '../reconciler/kinds/index.js';
import { POLICY_SCHEMA } from '../reconciler/policies/load.js';
import { RULES } from '../reconciler/policies/index.js';

const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'dist', 'reconciler', 'cli.js');

/** Libraries that only commands talking to the world need: none of them belongs to --help or validate. */
const HEAVY = ['isomorphic-git', 'openai', '@octokit/', 'pg', 'pg-pool', '@electric-sql/pglite', 'cdktf', '@cdktf/', 'constructs', 'ssh2', 'node-ssh', 'undici', 'bottleneck', 'node-cron', 'playwright', 'playwright-core', 'puppeteer', 'mermaid', '@mermaid-js/'];
/** What validating needs, never needed to print help. */
const VALIDATING = ['yaml', 'ajv', '@marcbachmann/cel-js'];

// An --import script: records each module's URL as the loader loads it (ES modules, through
// module.register's hooks) and, at exit, the CommonJS modules in require's cache (ajv, for one,
// loads its files with require, which Node 20's hooks do not see).
const RECORD = `import { register, createRequire } from 'node:module';
import { appendFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
const file = process.env.FLEETSPEC_RECORD_MODULES;
register('./record-hooks.mjs', import.meta.url, { data: { file } });
const require = createRequire(import.meta.url);
process.on('exit', () => {
  const urls = Object.keys(require.cache).map((p) => pathToFileURL(p).href);
  if (urls.length) appendFileSync(file, urls.join('\\n') + '\\n');
});
`;
const HOOKS = `import { appendFileSync } from 'node:fs';
let file;
export function initialize(data) { file = data.file; }
export async function load(url, context, next) {
  appendFileSync(file, url + '\\n');
  return next(url, context);
}
`;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleetspec-startup-'));
  await writeFile(join(dir, 'record.mjs'), RECORD);
  await writeFile(join(dir, 'record-hooks.mjs'), HOOKS);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Loaded {
  code: number;
  stderr: string;
  /** Packages from node_modules, by name (@scope/name for scoped ones). */
  packages: Set<string>;
  /** fleetspec's own modules, relative to dist/: reconciler/commands/validate.js. */
  own: Set<string>;
}

let runs = 0;
/** Runs the built CLI with these arguments and reports every module it loaded. */
async function loaded(...args: string[]): Promise<Loaded> {
  const file = join(dir, `modules-${++runs}.txt`);
  const env = { ...process.env, NO_COLOR: '1', FLEETSPEC_RECORD_MODULES: file };
  let code = 0;
  let stderr = '';
  try {
    ({ stderr } = await promisify(execFile)(process.execPath, ['--import', join(dir, 'record.mjs'), BIN, ...args], { cwd: ROOT, env }));
  } catch (err) {
    const e = err as { code?: number; stderr?: string };
    if (typeof e.code !== 'number') throw err;
    code = e.code;
    stderr = e.stderr ?? '';
  }
  const packages = new Set<string>();
  const own = new Set<string>();
  const dist = join(ROOT, 'dist') + '/';
  for (const url of (await readFile(file, 'utf8')).split('\n')) {
    if (!url.startsWith('file:')) continue;
    const path = fileURLToPath(url);
    // The last node_modules/ in the path names the package (a nested dependency is its own).
    const inModules = [...path.matchAll(/\/node_modules\/((?:@[^/]+\/)?[^/]+)\//g)].at(-1);
    if (inModules) packages.add(inModules[1]!);
    else if (path.startsWith(dist)) own.add(path.slice(dist.length));
  }
  return { code, stderr, packages, own };
}

const matching = (packages: Set<string>, names: readonly string[]) =>
  [...packages].filter((p) => names.some((n) => (n.endsWith('/') ? p.startsWith(n) : p === n))).sort();

describe('start-up: each command loads only what it uses', () => {
  it('fleetspec --help loads no command and no heavy library', async () => {
    const run = await loaded('--help');
    expect(run.code).toBe(0);
    // Sanity: the recording works (commander parses the arguments; the CLI's own entry point is there).
    expect(run.packages).toContain('commander');
    expect(run.own).toContain('reconciler/cli.js');
    expect(matching(run.packages, [...HEAVY, ...VALIDATING])).toEqual([]);
    expect([...run.own].filter((m) => m.startsWith('reconciler/commands/') && m !== 'reconciler/commands/output.js')).toEqual([]);
  });

  it("a command's own --help does not load that command either", async () => {
    const run = await loaded('daemon', '--help');
    expect(run.code).toBe(0);
    expect(matching(run.packages, [...HEAVY, ...VALIDATING])).toEqual([]);
    expect([...run.own].filter((m) => /^reconciler\/(commands\/(?!output\.js)|loop\/(?!schedule\.js)|state\/db|git\/|github\/)/.test(m))).toEqual([]);
  });

  it('fleetspec validate specs loads what validating needs and nothing of git, GitHub, the LLM, SSH, the store or terraform', async () => {
    const run = await loaded('validate', 'specs');
    expect(run.stderr).toMatch(/^specs: \d+ files, \d+ resources, \d+ policies checked, 0 errors/m);
    expect(run.code).toBe(0);
    for (const needed of VALIDATING) expect(run.packages).toContain(needed);
    expect(matching(run.packages, HEAVY)).toEqual([]);
    const commands = [...run.own].filter((m) => m.startsWith('reconciler/commands/')).sort();
    expect(commands).toEqual(['reconciler/commands/output.js', 'reconciler/commands/policy.js', 'reconciler/commands/validate.js']);
    expect([...run.own].filter((m) => /^reconciler\/(state\/db|git\/|github\/|narrative\/|ssh\/pool|plan\/engine|kinds\/drivers|stacks\/(synth|terraform))/.test(m))).toEqual([]);
  });

  // Commands that share modules with the store's commands (printTable, actor) or the loop's
  // (policies, plan rendering) but need no store, network or LLM themselves.
  it.each(['secrets keygen', 'policy rules', 'diagrams specs --check'])('fleetspec %s loads no heavy library', async (command) => {
    const run = await loaded(...command.split(' '));
    expect(run.code, run.stderr).toBeLessThan(2);
    expect(matching(run.packages, HEAVY)).toEqual([]);
  });
});

describe('the fleetspec command', () => {
  it('runs through its #! line, which gives Node --liftoff-only (Node 24 takes it only there)', async () => {
    // As npm's bin link and the release run it: the file itself, executable.
    const copy = join(await mkdtemp(join(tmpdir(), 'fleetspec-shebang-')), 'fleetspec');
    try {
      // A probe with cli.js's own first line: it prints the flags Node was started with.
      const [shebang] = (await readFile(BIN, 'utf8')).split('\n', 1);
      await writeFile(copy, `${shebang}\nconsole.log(JSON.stringify(process.execArgv));\n`, { mode: 0o755 });
      const { stdout } = await promisify(execFile)(copy);
      expect(JSON.parse(stdout)).toEqual(['--liftoff-only']);
      const { stdout: version } = await promisify(execFile)(process.execPath, [BIN, '--version']);
      expect(version.trim()).toMatch(/^\d+\.\d+\.\d+/);
    } finally {
      await rm(join(copy, '..'), { recursive: true, force: true });
    }
  });
});

describe("fleetspec's schemas", () => {
  // specs/schema.ts compiles them with validateSchema off (checking them against the meta-schema at
  // every start was half of validate's schema cost), so they are checked against it here.
  const ajv = new Ajv2020({ strict: true, allowUnionTypes: true });
  const schemas: [string, object][] = [
    ...KINDS.map((k): [string, object] => [`kind ${k.folder}`, k.schema]),
    ['the policy file', POLICY_SCHEMA],
    ...RULES.map((r): [string, object] => [`rule ${r.name}'s params`, r.params]),
  ];
  it.each(schemas)('%s conforms to JSON Schema draft 2020-12 and compiles in strict mode', (_, schema) => {
    expect(ajv.validateSchema(schema), ajv.errorsText(ajv.errors)).toBe(true);
    expect(() => ajv.compile(schema)).not.toThrow();
  });
});
