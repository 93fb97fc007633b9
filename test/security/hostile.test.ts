// The hostile corpus (test/fixtures/hostile/README.md) through every command that renders specs,
// in process: each case is added to a copy of the base fleet and run through validate, plan
// (text, Markdown, JSON), policy check, diagrams (the .mmd source only) and stacks synth, and its
// plan or diagnostics through the PR comment. Every output is checked for what a hostile value
// must never do there. One state store serves every plan (opening PGlite is seconds; planning
// offline only reads it).
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { bufferOutput } from '../../reconciler/commands/output.js';
import type { Diagnostic } from '../../reconciler/diagnostics.js';
import { logLine } from '../../reconciler/escape.js';
import { EXIT } from '../../reconciler/exit-codes.js';
import { appliedComment, directPushComment, driftBody, invalidComment, linksComment, PLAN_MARKER, planComment, refusedComment, staleComment, staleRulesComment, tamperedComment, untrustedComment, verdictText } from '../../reconciler/loop/pr-text.js';
import type { ApplyReport } from '../../reconciler/plan/engine.js';
import type { Plan } from '../../reconciler/plan/plan.js';
import { run } from '../../reconciler/program.js';
import { desiredIssue } from '../../reconciler/kinds/tickets/issue.js';
import type { Ticket } from '../../reconciler/kinds/tickets/index.js';
import { loadSpecs } from '../../reconciler/specs/load.js';
import type { Db } from '../../reconciler/state/db.js';

vi.mock(import('../../reconciler/state/db.js'), async (original) => {
  const db = await original();
  let shared: Promise<Db> | undefined;
  return {
    ...db,
    // The first command opens the store; the others get it back, and their close() leaves it open.
    openDb: async (opts) => {
      shared ??= db.openDb(opts);
      const open = await shared;
      return new Proxy(open, {
        get: (target, key) => {
          if (key === 'close') return async () => {};
          const value = Reflect.get(target, key);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
    },
  };
});

const ROOT = resolve(import.meta.dirname, '..', '..');
const HOSTILE = join(ROOT, 'test', 'fixtures', 'hostile');
const SHA = 'c0ffee0000000000000000000000000000000000';

interface Case {
  id: string;
  what: string;
  /** Spec files the case adds, relative to the case folder (`specs/hosts/x.yaml`). */
  files: string[];
  /** Writes the case's files into `dir` (its copy of the base fleet). */
  write(dir: string): void;
  /** Whether the specs are valid with the case added. */
  valid: boolean;
}

const committed: Case[] = (JSON.parse(readFileSync(join(HOSTILE, 'cases.json'), 'utf8')) as { id: string; what: string; files: string[] }[]).map((c) => ({
  ...c,
  write: (dir) => cpSync(join(HOSTILE, 'cases', c.id), dir, { recursive: true }),
  valid: c.id.startsWith('text-'),
}));

const host = (name: string, extra = '') => `kind: Host\nname: ${name}\naddress: 10.0.3.1\n${extra}`;
const overThreshold = 'monitoring:\n  - metric: disk.usage\n    alert: ">90%"\n    mount: /\nobserved:\n  source: generated\n  disks:\n    - mount: /\n      usedPercent: 97\n';
const oneFile = (id: string, what: string, file: string, text: string, valid: boolean): Case => ({ id, what, files: [`specs/${file}`], valid, write: (dir) => writeAt(join(dir, 'specs', file), text) });
const writeAt = (path: string, text: string | Buffer) => {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
};

/** Names no file in git should have: made here, never committed. */
const FILE_NAMES = ['\u001b[2J\u001b]8;;http://evil\u0007x', 'a\nb```\ncan be applied', '<!-- @org #1 ](x)', '\u202egnp.exe${file("x")}'];

const generated: Case[] = [
  ...FILE_NAMES.map((name, i) => oneFile(`file-name-valid-${i}`, `a valid host in a file named ${JSON.stringify(name)}, over its disk threshold (the finding's where)`, `hosts/${name}.yaml`, host(`fn-${i}`, overThreshold), true)),
  ...FILE_NAMES.map((name, i) => oneFile(`file-name-invalid-${i}`, `an invalid host in a file named ${JSON.stringify(name)}`, `hosts/${name}.yaml`, host(`fn-bad-${i}`, 'bogus: 1\n'), false)),
  oneFile('oversize-1mb', 'a 1 MB purpose (under the 1 MiB file limit)', 'hosts/big.yaml', host('big', `purpose: "${'<!--@x '.repeat(142_857)}"\n`), true),
  oneFile('oversize-file', 'a file over the 1 MiB limit', 'hosts/huge.yaml', host('huge', `purpose: "${'x'.repeat(1_100_000)}"\n`), false),
  oneFile('deep-flow', 'a list nested 10 000 deep in flow style', 'hosts/deep.yaml', host('deep', `notes: ${'['.repeat(10_000)}${']'.repeat(10_000)}\n`), false),
  oneFile('deep-block', 'a list nested 2 000 deep in block style', 'hosts/deep.yaml', host('deep', `notes:\n${Array.from({ length: 2000 }, (_, i) => `${' '.repeat(i)}- `).join('\n')}x\n`), false),
  oneFile('many-keys', 'ten thousand unknown keys', 'hosts/keys.yaml', host('keys', Array.from({ length: 10_000 }, (_, i) => `k${i}<!--: 1\n`).join('')), false),
  oneFile('raw-bytes', 'raw control bytes and bidi characters in the YAML itself (yaml takes them)', 'hosts/raw.yaml', host('raw', 'purpose: a\u001b[2J\rb\u202ec\u0007\nos: "x\u001b]8;;http://evil\u0007"\n'), true),
  oneFile('raw-yaml-error', 'a YAML syntax error on a line holding escapes and Markdown', 'hosts/syntax.yaml', host('syntax', 'purpose: "unterminated \u001b[2J <!-- [x](y) @org\n'), false),
];

const CASES = [...committed, ...generated];

interface Result {
  code: number | 'threw';
  stdout: string;
  stderr: string;
}

async function fleetspec(args: string[]): Promise<Result> {
  const out = bufferOutput();
  let code: Result['code'];
  const started = Date.now();
  try {
    code = await run(args, out);
  } catch (err) {
    code = 'threw';
    out.err.push(`threw: ${err instanceof Error ? err.stack : String(err)}`);
  }
  if (process.env.HOSTILE_TIMING) console.log(args[0], args[1], Date.now() - started, "ms");
  return { code, stdout: out.out.join('\n'), stderr: out.err.join('\n') };
}

/** Characters a terminal obeys or hides (newline and tab are the text's own). */
const RAW = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;
const rawIn = (text: string) => RAW.exec(text.replace(/[\n\t]/g, ''));

/** Markdown with its code blocks and code spans blanked: what GitHub reads as Markdown and HTML. */
function outsideCode(md: string): string {
  const lines = md.split('\n');
  const out: string[] = [];
  let fence: { char: string; length: number } | undefined;
  for (const line of lines) {
    if (fence) {
      const close = /^ {0,3}(`+|~+)\s*$/.exec(line);
      if (close && close[1]![0] === fence.char && close[1]!.length >= fence.length) fence = undefined;
      out.push('');
      continue;
    }
    const open = /^ {0,3}(`{3,}|~{3,})/.exec(line);
    if (open && !(open[1]![0] === '`' && line.slice(open[0].length).includes('`'))) {
      fence = { char: open[1]![0]!, length: open[1]!.length };
      out.push('');
      continue;
    }
    let text = '';
    for (let i = 0; i < line.length; ) {
      if (line[i] === '\\') {
        text += line.slice(i, i + 2);
        i += 2;
        continue;
      }
      if (line[i] !== '`') {
        text += line[i++];
        continue;
      }
      const run = /^`+/.exec(line.slice(i))![0];
      const close = new RegExp(`(?<!\`)${run}(?!\`)`).exec(line.slice(i + run.length));
      if (!close) {
        text += run;
        i += run.length;
        continue;
      }
      text += ' ';
      i += run.length + close.index + run.length;
    }
    out.push(text);
  }
  return out.join('\n');
}

/** What GitHub would turn into markup, a link, a mention or a reference, outside code. */
const MARKUP: [string, RegExp][] = [
  ['HTML', /<[A-Za-z!/?]/],
  ['a link or image', /\]\(/],
  ['a mention', /(^|[^\w`])@[A-Za-z0-9]/m],
  ['an issue reference', /(^|[^&\w])#\d/m],
  ['an autolink', /https?:\/\/|www\.|mailto:/i],
];

/** Checks one Markdown document: no raw control characters anywhere, no markup outside code, table rows that keep their cells. */
function expectSafeMarkdown(md: string, what: string, allowedMentions: string[] = []): void {
  expect(rawIn(md), `${what}: raw control character`).toBeNull();
  // fleetspec's own HTML: the plan comment's marker and the small print.
  let outside = outsideCode(md).split(PLAN_MARKER).join('').replace(/<\/?sub>/g, '');
  for (const login of allowedMentions) outside = outside.split(`@${login}`).join('');
  for (const [name, pattern] of MARKUP) expect(outside, `${what}: ${name}`).not.toMatch(pattern);
  let cells: number | undefined;
  for (const line of md.split('\n')) {
    if (!line.startsWith('|')) {
      cells = undefined;
      continue;
    }
    const count = line.split(/(?<!\\)\|/).length;
    cells ??= count;
    expect(count, `${what}: a table row with ${count - 2} cells: ${line.slice(0, 200)}`).toBe(cells);
  }
}

/** Fleetspec's Mermaid: labels and messages as entity codes; no HTML but its own <br/>, no directive, no click. */
function expectSafeMermaid(mmd: string, what: string): void {
  expect(rawIn(mmd), `${what}: raw control character`).toBeNull();
  const body = mmd.split('\n').filter((l) => !/^(---|title: "[^"]*"|%% Generated by)/.test(l));
  for (const line of body) {
    expect(line.replace(/<br\/>/g, ''), `${what}: HTML`).not.toMatch(/</);
    expect(line, `${what}: a directive or click`).not.toMatch(/%%|^\s*click\b/);
    for (const [, label] of line.matchAll(/"([^"]*)"/g)) expect(label!.replace(/#\d+;|<br\/>/g, ''), `${what}: label ${label}`).not.toMatch(/[<>`;{}|[\]#%]/);
  }
}

/** Terraform reads `${` (not `$${`) as interpolation and `%{` (not `%%{`) as a directive: only fleetspec's own references may be either. */
function templatesIn(json: string): string[] {
  const found: string[] = [];
  const walk = (v: unknown): void => {
    if (typeof v === 'string') {
      for (const m of v.matchAll(/(?<!\$)\$\{(?!(data|var|local)\.[A-Za-z0-9_.-]+\})|(?<!%)%\{/g)) found.push(v.slice(Math.max(0, m.index - 20), m.index + 40));
    } else if (v && typeof v === 'object') for (const x of Object.values(v)) walk(x);
  };
  walk(JSON.parse(json));
  return found;
}

let tmp: string;
/** The repository's policies, with the corpus's unrouted DNS names exempt from dns-routes (their targets are the hostile values). */
let POLICIES: string;
const saved = { ...process.env };

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'fleetspec-hostile-'));
  for (const name of ['DATABASE_URL', 'PG_CONN_STR', 'FLEETSPEC_SECRET_KEY', 'FLEETSPEC_GITHUB_REPO', 'FLEETSPEC_GITHUB_TOKEN', 'FLEETSPEC_DEBUG']) delete process.env[name];
  Object.assign(process.env, { NO_COLOR: '1', FLEETSPEC_STATE_DIR: join(tmp, 'state'), FLEETSPEC_TERRAFORM: join(tmp, 'no-terraform'), FLEETSPEC_WORK_DIR: join(tmp, 'work'), FLEETSPEC_ACTOR: 'hostile-test' });
  POLICIES = join(tmp, 'policies');
  cpSync(join(ROOT, 'policies'), POLICIES, { recursive: true });
  const unrouted = committed.filter((c) => c.id.startsWith('text-dns-')).map((c) => `${c.id.slice('text-dns-'.length)}.example.com`);
  writeFileSync(join(POLICIES, 'dns.yaml'), `${readFileSync(join(POLICIES, 'dns.yaml'), 'utf8')}params:\n  unrouted: [${unrouted.join(', ')}]\n`);
  // Opens the shared store (PGlite's first start is the slow part) and proves the base fleet plans.
  const base = join(tmp, 'base');
  cpSync(join(HOSTILE, 'base'), base, { recursive: true });
  const r = await fleetspec(['plan', join(base, 'specs'), '--policies', POLICIES]);
  expect(r.code, r.stderr).toBe(EXIT.CHANGES);
});

afterAll(() => {
  for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
  Object.assign(process.env, saved);
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('the hostile corpus', () => {
  it('has at least 60 cases, each with its files', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(60);
    for (const c of committed) for (const f of c.files) expect(existsSync(join(HOSTILE, 'cases', c.id, f)), `${c.id}: ${f}`).toBe(true);
  });

  it.each(CASES.map((c) => [c.id, c] as const))('%s', async (_, c) => {
    const dir = join(tmp, 'cases', c.id);
    cpSync(join(HOSTILE, 'base'), dir, { recursive: true });
    c.write(dir);
    const specs = join(dir, 'specs');
    const r = {
      validate: await fleetspec(['validate', specs, '--policies', POLICIES]),
      validateJson: await fleetspec(['validate', specs, '--policies', POLICIES, '--format', 'json']),
      policy: await fleetspec(['policy', 'check', '--specs', specs, '--policies', POLICIES]),
      plan: await fleetspec(['plan', specs, '--policies', POLICIES]),
      planMarkdown: await fleetspec(['plan', specs, '--policies', POLICIES, '--format', 'markdown']),
      planJson: await fleetspec(['plan', specs, '--policies', POLICIES, '--format', 'json']),
      diagrams: await fleetspec(['diagrams', specs, '--out', join(dir, 'mmd')]),
      synth: await fleetspec(['stacks', 'synth', '--specs', specs, '--stacks-dir', join(dir, 'stacks')]),
      tickets: await fleetspec(['tickets', 'list', '--specs', specs]),
    };

    // Documented exit codes only, and never an exception out of a command.
    const allowed = { validate: [0, 1], validateJson: [0, 1], policy: [0, 1], plan: [0, 1, 2], planMarkdown: [0, 1, 2], planJson: [0, 1, 2], diagrams: [0, 1], synth: [0, 1], tickets: [0, 1] };
    for (const [name, result] of Object.entries(r)) expect(allowed[name as keyof typeof r], `${name}: ${result.stderr.slice(0, 2000)}`).toContain(result.code);
    expect(r.planMarkdown.code).toBe(r.plan.code);
    expect(r.planJson.code).toBe(r.plan.code);

    // No stack trace and no stack exhaustion anywhere.
    for (const [name, result] of Object.entries(r)) {
      for (const text of [result.stdout, result.stderr]) {
        expect(text, `${name}: stack trace`).not.toMatch(/^ {4}at \S/m);
        expect(text, `${name}: stack exhaustion`).not.toContain('Maximum call stack');
      }
    }

    // Valid or not as the case means; invalid input is located at file:line:col in the case's own files.
    expect(r.validate.code, r.validate.stdout.slice(0, 3000)).toBe(c.valid ? EXIT.OK : EXIT.INVALID);
    const diagnostics = (JSON.parse(r.validateJson.stdout) as { diagnostics: Diagnostic[] }).diagnostics;
    if (!c.valid) {
      const own = new Set(c.files.map((f) => resolve(dir, f)));
      const located = diagnostics.filter((d) => d.severity === 'error' && own.has(resolve(d.file)));
      expect(located.length, `no error in ${c.files.join(', ')}: ${r.validate.stdout.slice(0, 2000)}`).toBeGreaterThan(0);
      const printed = new Set(r.validate.stdout.split('\n').map((l) => /^(.*?:\d+:\d+)[: ]/.exec(l)?.[1]));
      for (const d of located) {
        expect(d.line).toBeGreaterThanOrEqual(1);
        expect(d.col).toBeGreaterThanOrEqual(1);
        expect(printed.has(`${logLine(d.file)}:${d.line}:${d.col}`), `${d.file}:${d.line}:${d.col} not printed`).toBe(true);
      }
      expect(r.validate.stdout).toMatch(new RegExp(`^${escapeRegExp(logLine(resolve(dir, c.files[0]!)))}:\\d+:\\d+`, 'm'));
      expect(r.plan.code).toBe(EXIT.INVALID);
    }

    // Terminal text: every hostile character shown as an escape.
    for (const [name, result] of Object.entries(r)) {
      const texts = name === 'planJson' || name === 'validateJson' ? [result.stderr] : [result.stdout, result.stderr];
      for (const text of texts) expect(rawIn(text), `${name}: raw ${JSON.stringify(rawIn(text)?.[0])} in ${JSON.stringify(text.slice(Math.max(0, (rawIn(text)?.index ?? 0) - 80), (rawIn(text)?.index ?? 0) + 40))}`).toBeNull();
    }

    // Markdown: the plan, and the PR comment made of it or of the diagnostics.
    if (c.valid) {
      const plan = JSON.parse(r.planJson.stdout) as Plan;
      expectSafeMarkdown(r.planMarkdown.stdout, 'plan --format markdown');
      const rows = r.planMarkdown.stdout.split('\n').filter((l) => /^\| [^ |] \| /.test(l));
      expect(rows).toHaveLength(plan.changes.filter((ch) => ch.action !== 'no-op').length);
      expect(r.planMarkdown.stdout.split('\n').filter((l) => /^- (❌|⚠️) /.test(l))).toHaveLength(plan.findings.length);
      const comment = planComment({ plan, sha: SHA, narrative: { status: 'withheld', reason: 'no model configured' }, approvers: ['alice'] });
      expectSafeMarkdown(comment, 'plan comment', ['alice']);
      // One verdict line, fleetspec's: a value saying "can be applied" stays inside its own line, escaped.
      expect(outsideCode(comment).split('\n').filter((l) => /^\s*(\*\*)?Verdict/.test(l))).toEqual([verdictText(plan).split('\n')[0]]);
      // The GitHub issue each ticket becomes: a body of escaped Markdown, a title of one escaped line.
      for (const t of (await loadSpecs(specs)).index.all('tickets')) {
        const issue = desiredIssue(t.value as Ticket, relative(dir, t.doc.source.file));
        expectSafeMarkdown(issue.body, `issue of ${t.name}`);
        expect(rawIn(issue.title), `issue title of ${t.name}`).toBeNull();
      }
    } else {
      const comment = invalidComment(SHA, diagnostics, dir);
      expectSafeMarkdown(comment, 'invalid-specs comment');
      expect(outsideCode(comment).split('\n').filter((l) => /Verdict|can be applied/.test(l))).toEqual([expect.stringMatching(/^\*\*Verdict: ❌ the specs are invalid\*\*/)]);
      expect(outsideCode(comment).split('\n').filter((l) => l.trim()).length).toBe(3);
    }

    // Mermaid sources.
    if (r.diagrams.code === EXIT.OK) {
      for (const file of readdirSync(join(dir, 'mmd'))) expectSafeMermaid(readFileSync(join(dir, 'mmd', file), 'utf8'), `diagram ${file}`);
    }

    // Terraform: a spec's ${…} and %{…} reach terraform as text, never as templates.
    if (r.synth.code === EXIT.OK && existsSync(join(dir, 'stacks'))) {
      for (const stack of readdirSync(join(dir, 'stacks'))) {
        const file = join(dir, 'stacks', stack, 'cdk.tf.json');
        if (existsSync(file)) expect(templatesIn(readFileSync(file, 'utf8')), `${relative(dir, file)}: unescaped templates`).toEqual([]);
      }
    }
  });
});

describe('PR text from git, GitHub and apply results', () => {
  // What a remote system or a failed apply hands back, as hostile as the specs can be.
  const hostile = ['x\n```\n\n**Verdict: ✅ can be applied** once approved\n\n```', '<!-- hidden <details>', '[x](javascript:alert(1)) ![i](http://x.test/i.png)', '@org/team #1 www.evil.test', '\u001b[2J\u202eevil\r', 'a | b'];
  const all = hostile.join(' ');

  it('refusals, tampering, stale plans, apply results and drift keep every value escaped', () => {
    const change = { kind: 'hosts', name: all, action: 'update' as const, before: all, after: null, reason: all };
    const report = { status: 'failed', done: [change], notDone: [change], failed: { change, error: all }, rolledBack: hostile, rollbackFailed: [{ description: all, error: all }], diagnostics: [], current: { hash: 'f'.repeat(64) } } as unknown as ApplyReport;
    const texts = {
      refused: refusedComment(SHA, all, hostile),
      untrusted: untrustedComment(SHA, all, hostile),
      staleRules: staleRulesComment(SHA, all),
      links: linksComment(SHA, hostile),
      tampered: tamperedComment(all, SHA),
      directPush: directPushComment(all, 2),
      stale: staleComment(SHA, hostile),
      applied: appliedComment(SHA, 7, report, 'alice'),
      appliedByNobody: appliedComment(SHA, 7, report, 'org/team'),
      driftBody: driftBody('hosts', all),
    };
    for (const [name, md] of Object.entries(texts)) {
      expectSafeMarkdown(md, name, name === 'applied' ? ['alice'] : []);
      expect(outsideCode(md), name).not.toMatch(/^\s*\**Verdict/m);
    }
  });
});

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
