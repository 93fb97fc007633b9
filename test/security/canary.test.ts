// Canaries: secret values in fleetspec's environment (its secret key, the GitHub tokens, the LLM
// key, DATABASE_URL's password, an unrelated variable), secrets planted in the store and a private
// key in $HOME never come out of it. The built CLI runs `plan --live` (text, markdown, json),
// `apply` of a saved plan, `reconcile` (one tick) and `daemon` as child processes against the
// real `git http-backend`, the GitHub stand-in, the LLM stand-in and real PostgreSQL (a role with
// a password), with hostile spec lines on branches: a VM purpose and a DNS target that would make
// terraform read /proc/self/environ and ~/.ssh/id_ed25519, and a zone naming fleetspec's own
// GitHub token. Terraform is the stand-in CLI behind a wrapper that records its whole environment
// and its output. Then every stdout and stderr, every request GitHub received, every commit of
// the bare repository, every LLM prompt, the ledger, and terraform's environment and output are
// searched for every canary; terraform may see only its own stack's secret and PG_CONN_STR.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { cp, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import pg from 'pg';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIAGRAMS_DIR, writeDiagrams } from '../../reconciler/diagrams/index.js';
import { loadSpecs } from '../../reconciler/specs/load.js';
import { synthesiseAll } from '../../reconciler/stacks/files.js';
import { NARRATIVE_HEADING } from '../../reconciler/loop/pr-text.js';
import { pushRecorder, syncPullHeads } from '../git/activity.js';
import { startGitServer, type GitTestServer } from '../git/http-backend.js';
import { startGitHubServer, type GitHubTestServer } from '../github/server.js';
import { startLlmServer, type LlmTestServer } from '../llm/server.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'dist', 'reconciler', 'cli.js');
const FAKE_TERRAFORM = join(ROOT, 'test', 'stacks', 'fake-terraform.mjs');
const OWNER = 'acme';
const REPO = 'fleet';
const MODEL = 'fleetspec-test';
const admin = process.env.TEST_DATABASE_URL;

const tag = () => randomBytes(9).toString('hex');
/** Every value that must never come out; the secret key is filled in by `fleetspec secrets keygen`. */
const CANARY = {
  secretKey: '',
  githubToken: `ghp_CANARYgithub${tag()}`,
  otherGithubToken: `ghp_CANARYother${tag()}`,
  llmKey: `sk-CANARYllm${tag()}`,
  dbPassword: `CANARYdb${tag()}`,
  unrelated: `CANARYunrelated${tag()}`,
  cloudflare: `CANARYcloudflare${tag()}`,
  gcloud: `{"type":"service_account","private_key":"CANARYgcloud${tag()}"}`,
  sshKey: `CANARYsshkey${tag()}`,
};
type CanaryName = keyof typeof CANARY;
const ROLE = `canary_${tag()}`;

// Hostile spec lines: with a terraform that evaluated them, the plan would carry its environment and our private key.
const PURPOSE = '${file("/proc/self/environ")}';
const TARGET = '${file(pathexpand("~/.ssh/id_ed25519"))}.example';
const hostileFiles = (vm: string, purpose = PURPOSE): Record<string, string> => ({
  'specs/vms/supervisor-vm.yaml': `${vm.trimEnd()}\npurpose: '${purpose}'\n`,
  'specs/dns/evil.153.se.yaml': stringify({ kind: 'DnsRecord', name: 'evil.153.se', zone: '153.se', type: 'CNAME', target: TARGET }),
});
/** A zone whose API token is fleetspec's own GitHub token (the loop reads it from meta/github/token when the environment has none). */
const STEAL_ZONE = { 'specs/zones/steal.se.yaml': stringify({ kind: 'DnsZone', name: 'steal.se', provider: 'cloudflare', apiToken: 'secret:meta/github/token' }) };

interface Ran {
  label: string;
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Where each canary occurs in `text` (as written, URL-encoded, JSON-escaped, or just its random core), with a little context. */
function leaksIn(surface: string, text: string, names: readonly CanaryName[] = Object.keys(CANARY) as CanaryName[]): string[] {
  const found: string[] = [];
  for (const name of names) {
    const value = CANARY[name];
    if (!value) continue;
    const forms = new Set([value, encodeURIComponent(value), JSON.stringify(value).slice(1, -1), ...(value.match(/CANARY[a-z]+[0-9a-f]{18}/g) ?? [])]);
    for (const form of forms) {
      const at = text.indexOf(form);
      if (at < 0) continue;
      found.push(`${surface}: ${name} at …${text.slice(Math.max(0, at - 60), at + form.length + 20).replace(/\n/g, '⏎')}…`);
      break; // once per canary
    }
  }
  return found;
}

/** Polls `check` until it holds; fails saying what it waited for when `budgetMs` runs out. */
async function waitFor(what: string, check: () => boolean, budgetMs: number): Promise<void> {
  const end = Date.now() + budgetMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`waited ${budgetMs / 1000} s for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Terraform invocations as the wrapper recorded them, one file each: the stack (its working folder), the command, and the environment or the output. */
async function invocations(folder: string): Promise<{ stack: string; command: string; body: string }[]> {
  const names = (await readdir(folder)).sort();
  return Promise.all(
    names.map(async (name) => {
      const [head, ...rest] = (await readFile(join(folder, name), 'utf8')).split('\n');
      const [pwd, ...command] = head!.replace(/^=== /, '').split(' ');
      return { stack: pwd!.split('/').pop()!, command: command.join(' '), body: rest.join('\n') };
    }),
  );
}

describe.skipIf(!admin)('canaries never leave fleetspec: plan, apply, reconcile and daemon', () => {
  let dir: string;
  let local: string;
  let databaseUrl: string;
  let env: NodeJS.ProcessEnv;
  let gitServer: GitTestServer;
  let gh: GitHubTestServer;
  let llm: LlmTestServer;
  let recordPushes: ReturnType<typeof pushRecorder>;
  let tfEnvDir: string;
  let tfOutDir: string;
  const ran: Ran[] = [];

  const adminQuery = async (url: string, sql: string[]) => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      const rows: unknown[] = [];
      for (const q of sql) rows.push(...(await c.query(q)).rows);
      return rows;
    } finally {
      await c.end();
    }
  };

  /** The built CLI as a child process; its output is kept for the leak checks (`secret: true` keeps stdout out: keygen prints the key). */
  const fleetspec = (label: string, args: string[], opts: { input?: string; cwd?: string; budgetMs?: number; secret?: boolean } = {}) =>
    new Promise<Ran>((done, fail) => {
      const child = spawn(process.execPath, [BIN, ...args], { cwd: opts.cwd ?? local, env, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.stdin.end(opts.input ?? '');
      const budget = opts.budgetMs ?? 90_000;
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        fail(new Error(`fleetspec ${label}: no exit within ${budget / 1000} s\n${stderr}`));
      }, budget);
      child.on('close', (code) => {
        clearTimeout(timer);
        const r = { label, code, stdout, stderr };
        ran.push(opts.secret ? { ...r, stdout: '' } : r);
        done(r);
      });
    });

  /** GitHub's side of a push: activity and PR heads follow the bare repository (as in the e2e test). */
  const syncHeads = () => {
    syncPullHeads(gh, recordPushes(() => 'dave'));
  };
  const pullFor = (branch: string) => [...gh.repo().pulls.values()].find((p) => p.head.ref === branch && p.state === 'open');
  const commentsOn = (n: number) => gh.repo().issueComments.filter((c) => c.issue === n).map((c) => c.body);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleetspec-canary-'));
    local = join(dir, 'local');
    tfEnvDir = join(dir, 'terraform-env');
    tfOutDir = join(dir, 'terraform-out');
    mkdirSync(tfEnvDir);
    mkdirSync(tfOutDir);

    // A database owned by a role with a password: DATABASE_URL carries a canary that really connects.
    const db = `${ROLE}_db`;
    await adminQuery(admin!, [`create role ${ROLE} login password '${CANARY.dbPassword}'`, `create database ${db} owner ${ROLE}`]);
    const url = new URL(admin!);
    url.username = ROLE;
    url.password = CANARY.dbPassword;
    url.pathname = `/${db}`;
    databaseUrl = url.toString();

    // $HOME holds a private key that a terraform evaluating `file(pathexpand("~/.ssh/id_ed25519"))` would read.
    const home = join(dir, 'home');
    mkdirSync(join(home, '.ssh'), { recursive: true, mode: 0o700 });
    writeFileSync(join(home, '.ssh', 'id_ed25519'), `-----BEGIN OPENSSH PRIVATE KEY-----\n${CANARY.sshKey}\n-----END OPENSSH PRIVATE KEY-----\n`, { mode: 0o600 });

    // terraform: the stand-in behind a wrapper that writes its whole environment and its output, one file
    // per invocation (the two stacks run at the same time).
    const wrapper = join(dir, 'terraform');
    writeFileSync(
      wrapper,
      [
        '#!/bin/sh',
        'n="$(date +%s%N)-$$"',
        `{ printf '=== %s %s\\n' "$PWD" "$*"; env; } > '${tfEnvDir}'/"$n"`,
        'out=$(mktemp) err=$(mktemp)',
        `'${process.execPath}' '${FAKE_TERRAFORM}' "$@" > "$out" 2> "$err"`,
        'rc=$?',
        `{ printf '=== %s %s (exit %s)\\n' "$PWD" "$*" "$rc"; cat "$out" "$err"; } > '${tfOutDir}'/"$n"`,
        'cat "$out"; cat "$err" >&2; rm -f "$out" "$err"',
        'exit $rc',
        '',
      ].join('\n'),
    );
    chmodSync(wrapper, 0o755);

    llm = await startLlmServer({ mode: 'good', models: [MODEL], apiKey: CANARY.llmKey });
    gitServer = await startGitServer({ token: CANARY.githubToken });
    gh = await startGitHubServer({
      owner: OWNER,
      repo: REPO,
      token: CANARY.githubToken,
      defaultBranch: 'main',
      login: 'fleetspec-bot',
      resolveBranch: (branch) => gitServer.git(REPO, 'rev-parse', `refs/heads/${branch}`),
    });

    // main: this repository's committed specs and policies, with their stacks and diagrams as synth and diagrams leave them.
    const seed = join(dir, 'seed');
    mkdirSync(seed);
    execFileSync('tar', ['-x', '-C', seed], { input: execFileSync('git', ['-C', ROOT, 'archive', '--format=tar', 'HEAD', 'specs', 'policies'], { maxBuffer: 64 << 20 }) });
    const loaded = await loadSpecs(join(seed, 'specs'));
    expect(loaded.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    await synthesiseAll(loaded.index, join(seed, 'stacks'));
    await writeDiagrams(loaded.index, join(seed, DIAGRAMS_DIR));
    const files: Record<string, string> = {};
    for (const folder of ['specs', 'policies', 'stacks', DIAGRAMS_DIR]) {
      for (const name of await readdir(join(seed, folder), { recursive: true })) {
        const path = join(seed, folder, name);
        if (/\.(json|mmd|ya?ml|md)$/.test(name)) files[relative(seed, path)] = await readFile(path, 'utf8');
      }
    }
    await gitServer.createBare(REPO, files);
    recordPushes = pushRecorder(gitServer, REPO, gh);
    recordPushes();

    // The local copy `plan` and `apply` run on; the hostile lines are added as the first test goes.
    await cp(seed, local, { recursive: true });

    const { DATABASE_URL: _d, PG_CONN_STR: _p, GITHUB_TOKEN: _g, ...rest } = process.env;
    const base = Object.fromEntries(Object.entries(rest).filter(([k]) => !k.startsWith('FLEETSPEC_') && !k.startsWith('TF_VAR_') && !k.startsWith('TF_FAKE_')));
    env = {
      ...base,
      HOME: home,
      NO_COLOR: '1',
      CANARY_UNRELATED: CANARY.unrelated,
      DATABASE_URL: databaseUrl,
      FLEETSPEC_GITHUB_TOKEN: CANARY.githubToken,
      GITHUB_TOKEN: CANARY.otherGithubToken,
      FLEETSPEC_LLM_API_KEY: CANARY.llmKey,
      FLEETSPEC_LLM_BASE_URL: llm.baseUrl,
      FLEETSPEC_LLM_MODEL: MODEL,
      FLEETSPEC_GITHUB_REPO: `${OWNER}/${REPO}`,
      FLEETSPEC_GITHUB_API: gh.url,
      FLEETSPEC_GIT_URL: gitServer.url(REPO),
      FLEETSPEC_REPO_DIR: join(dir, 'repo'),
      FLEETSPEC_WORK_DIR: join(dir, 'work'),
      // No SSH: the fleet's hosts are real machines elsewhere. Named, so that fleetspec does not take ~/.ssh/id_ed25519 as its key.
      FLEETSPEC_SSH_KEY: join(dir, 'no-ssh-key'),
      FLEETSPEC_TERRAFORM: wrapper,
    };
    const key = await fleetspec('secrets keygen', ['secrets', 'keygen'], { secret: true });
    expect(key.code, key.stderr).toBe(0);
    CANARY.secretKey = key.stdout.trim();
    expect(CANARY.secretKey).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    env.FLEETSPEC_SECRET_KEY = CANARY.secretKey;
    const set = async (path: string, value: string, allow: string[]) => {
      const r = await fleetspec(`secrets set ${path}`, ['secrets', 'set', path, ...allow.flatMap((a) => ['--allow', a])], { input: value });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout + r.stderr).toContain(`stored ${path}`);
    };
    await set('meta/cloudflare/api_token', CANARY.cloudflare, ['zones/153.se']);
    await set('meta/gcloud/vm_host_key', CANARY.gcloud, ['vms/*']);
    // Where the loop keeps its GitHub token when the environment has none: for fleetspec's own use only.
    await set('meta/github/token', CANARY.githubToken, []);
  }, 180_000);

  afterAll(async () => {
    await Promise.all([llm?.close(), gitServer?.close(), gh?.close()]);
    if (admin) await adminQuery(admin, [`drop database if exists ${ROLE}_db with (force)`, `drop role if exists ${ROLE}`]).catch(() => {});
    // CANARY_KEEP=1 keeps the folder (terraform's environments and output, the clone) to look into a failure.
    if (dir && !process.env.CANARY_KEEP) await rm(dir, { recursive: true, force: true });
  });

  it('plan --live in text, markdown and json, and apply of the saved plan', async () => {
    // The hostile VM purpose alone passes the policies: planned, saved, and applied through terraform.
    const hostile = hostileFiles(await readFile(join(local, 'specs/vms/supervisor-vm.yaml'), 'utf8'));
    const dnsPath = 'specs/dns/evil.153.se.yaml';
    writeFileSync(join(local, 'specs/vms/supervisor-vm.yaml'), hostile['specs/vms/supervisor-vm.yaml']!);
    const planFile = join(dir, 'plan.json');
    const text = await fleetspec('plan --live --out', ['plan', 'specs', '--live', '--out', planFile]);
    expect(text.code, text.stdout + text.stderr).toBe(2);
    expect(text.stdout).toContain('vms/google_compute_instance.supervisor-vm (create: terraform plan)');
    const applied = await fleetspec('apply', ['apply', planFile, 'specs']);
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    expect(applied.stdout).toContain('✓ vms/google_compute_instance.supervisor-vm create');
    expect(await readFile(join(local, 'stacks', 'vms', 'cdk.tf.json'), 'utf8')).toContain('$${file(');

    // The hostile DNS target: the dns-routes policy refuses an unrouted record (only a routed one's target
    // is fixed, to the tunnel), so this plan is not applicable; terraform still plans it, and it renders.
    writeFileSync(join(local, dnsPath), hostile[dnsPath]!);
    const markdown = await fleetspec('plan --live --format markdown', ['plan', 'specs', '--live', '--format', 'markdown']);
    expect(markdown.code, markdown.stdout + markdown.stderr).toBe(1);
    expect(markdown.stdout).toContain('### Plan:');
    expect(markdown.stdout).toContain('evil_153_se');

    // The zone naming fleetspec's own token: an error at its line, and a plan that still renders.
    for (const [path, yaml] of Object.entries(STEAL_ZONE)) writeFileSync(join(local, path), yaml);
    const json = await fleetspec('plan --live --format json', ['plan', 'specs', '--live', '--format', 'json']);
    expect(json.code, json.stderr).toBe(1);
    const plan = JSON.parse(json.stdout) as { findings: { code: string; message: string }[] };
    expect(plan.findings.find((f) => f.code === 'secret.out-of-scope')?.message).toContain('secret:meta/github/token');
  }, 150_000);

  it('reconcile: one tick opens a PR per hostile branch, with the plan comment and the narrative', async () => {
    const vm = gitServer.git(REPO, 'show', 'main:specs/vms/supervisor-vm.yaml');
    // A purpose other than the one applied above, so that the VM is a change on this branch too.
    gitServer.commit(REPO, 'hostile', hostileFiles(vm, `${PURPOSE} on the branch`), 'Describe the VM and add evil.153.se');
    gitServer.commit(REPO, 'steal-token', STEAL_ZONE, 'Add the steal.se zone');
    syncHeads();
    const r = await fleetspec('reconcile', ['reconcile', '--format', 'json'], { budgetMs: 150_000 });
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { state: string; branches: { branch: string; action: string; status: string }[]; errors: string[] };
    expect(report.errors).toEqual([]);
    expect(report.branches.map((b) => [b.branch, b.action])).toEqual([
      ['hostile', 'opened'],
      ['steal-token', 'opened'],
    ]);

    const hostile = pullFor('hostile')!;
    const [comment] = commentsOn(hostile.number);
    expect(comment).toContain('<!-- fleetspec:plan -->');
    expect(comment).toContain('vms/google_compute_instance.supervisor-vm');
    expect(comment).toContain('dns/cloudflare_dns_record.evil_153_se');
    expect(comment).toContain(NARRATIVE_HEADING);
    expect(comment).toMatch(/This live plan touches \d+ resources?/); // the LLM stand-in's narrative
    const steal = pullFor('steal-token')!;
    expect(commentsOn(steal.number).join('\n')).toContain('secret:meta/github/token');
    expect(gh.repo().statuses.find((s) => s.sha === steal.head.sha && s.context === 'fleetspec/plan')?.state).toBe('failure');

    // The bot committed the stacks: every spec string in them is escaped for Terraform's templates.
    for (const stack of ['vms', 'dns']) {
      const json = gitServer.git(REPO, 'show', `hostile:stacks/${stack}/cdk.tf.json`);
      expect(json).toContain('$${file(');
      expect(json, `stacks/${stack}/cdk.tf.json on hostile`).not.toMatch(/(^|[^$])\$\{file\(/);
    }
  }, 180_000);

  it('daemon: ticks until SIGTERM', async () => {
    syncHeads();
    const child = spawn(process.execPath, [BIN, 'daemon', '--schedule', '*/1 * * * * *', '--immediately', '--log-format', 'json'], { cwd: local, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    let code: number | null | undefined;
    child.on('exit', (c) => (code = c));
    try {
      await waitFor('the daemon to log its first tick', () => stdout.includes('\n') || code !== undefined, 120_000);
      child.kill('SIGTERM');
      await waitFor('the daemon to stop after SIGTERM', () => code !== undefined, 90_000);
    } finally {
      if (code === undefined) child.kill('SIGKILL');
      ran.push({ label: 'daemon', code: code ?? null, stdout, stderr });
    }
    expect(code, stderr).toBe(0);
    const ticks = stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { level: string; state: string });
    expect(ticks.length).toBeGreaterThanOrEqual(1);
    expect(ticks[0]).toMatchObject({ level: 'info' });
    expect(stderr).toMatch(/stopped after \d+ ticks?/);
  }, 240_000);

  it('no canary in any stdout or stderr of plan, apply, reconcile, daemon or secrets', () => {
    // The search itself finds a canary in every form it looks for.
    expect(leaksIn('self-test', `x ${encodeURIComponent(CANARY.secretKey)} ${JSON.stringify(CANARY.gcloud)} ${CANARY.llmKey.slice(3)}`).length).toBe(3);
    expect(ran.map((r) => r.label)).toEqual(expect.arrayContaining(['plan --live --out', 'apply', 'reconcile', 'daemon']));
    expect(ran.flatMap((r) => [...leaksIn(`${r.label} stdout`, r.stdout), ...leaksIn(`${r.label} stderr`, r.stderr)])).toEqual([]);
  });

  it('no canary in anything GitHub received: PRs, comments, issues, statuses, every request body', () => {
    const repo = gh.repo();
    expect(repo.pulls.size).toBeGreaterThanOrEqual(2);
    expect(gh.requests.some((q) => q.method === 'POST' && /\/issues\/\d+\/comments$/.test(q.path))).toBe(true);
    const surfaces: [string, unknown][] = [
      ['requests', gh.requests],
      ['pulls', [...repo.pulls.values()]],
      ['issues', [...repo.issues.values()]],
      ['comments', repo.issueComments],
      ['statuses', repo.statuses],
      ['commit comments', repo.commitComments],
      ['reviews', repo.reviews],
    ];
    expect(surfaces.flatMap(([name, value]) => leaksIn(`GitHub ${name}`, JSON.stringify(value)))).toEqual([]);
    expect(gh.violations).toEqual([]);
  });

  it('no canary in any commit of the bare repository, messages and contents', () => {
    const log = gitServer.git(REPO, 'log', '-p', '--all', '--format=fuller', '--no-ext-diff', '--text');
    expect(log).toContain('purpose:'); // the hostile branch is in it
    expect(gitServer.git(REPO, 'log', '--all', '--format=%an %s').split('\n').some((l) => l.startsWith('fleetspec[bot]'))).toBe(true);
    expect(leaksIn('git log -p --all', log)).toEqual([]);
  });

  it('no canary in any prompt the LLM received', () => {
    const prompts = llm.requests.filter((q) => q.path === '/v1/chat/completions');
    expect(prompts.length).toBeGreaterThanOrEqual(1);
    expect(prompts.every((q) => q.bearer === 'matched')).toBe(true); // the key was sent, as a header only
    expect(JSON.stringify(prompts)).toContain('supervisor-vm');
    expect(leaksIn('LLM requests', JSON.stringify(llm.requests))).toEqual([]);
  });

  it('no canary in the ledger (runs, transitions, loop records, secret audit, report outbox)', async () => {
    const rows = await adminQuery(databaseUrl, ['select * from runs', 'select * from run_transitions', 'select * from main_commits', 'select * from planned_commits', 'select * from secret_audit', 'select * from outbox']);
    expect(rows.length).toBeGreaterThan(0);
    expect(leaksIn('ledger', JSON.stringify(rows))).toEqual([]);
  });

  it("terraform's environment holds only its own stack's secret and PG_CONN_STR: no fleetspec key, token, LLM key, DATABASE_URL or unrelated variable", async () => {
    const calls = await invocations(tfEnvDir);
    const commands = new Set(calls.map((c) => c.command.split(' ')[0]));
    for (const command of ['init', 'plan', 'show', 'apply']) expect(commands, 'terraform was invoked').toContain(command);
    expect(new Set(calls.map((c) => c.stack))).toEqual(new Set(['dns', 'vms']));
    const problems: string[] = [];
    const sawOwnSecret = new Set<string>();
    for (const call of calls) {
      const where = `terraform ${call.command} in ${call.stack}`;
      for (const line of call.body.split('\n').filter(Boolean)) {
        const name = line.slice(0, line.indexOf('='));
        if (/^(FLEETSPEC_|DATABASE_URL$|GITHUB_TOKEN$|CANARY_|TF_VAR_(?!secret__))/.test(name)) problems.push(`${where}: ${name} is set`);
        const own: CanaryName | undefined =
          name === 'PG_CONN_STR' ? 'dbPassword' : call.stack === 'dns' && name === 'TF_VAR_secret__meta__cloudflare__api_token' ? 'cloudflare' : call.stack === 'vms' && name === 'TF_VAR_secret__meta__gcloud__vm_host_key' ? 'gcloud' : undefined;
        if (own && line === `${name}=${CANARY[own]}`) sawOwnSecret.add(`${call.stack} ${own}`);
        problems.push(...leaksIn(`${where}: ${name}`, line, (Object.keys(CANARY) as CanaryName[]).filter((c) => c !== own)));
      }
    }
    expect(problems).toEqual([]);
    // Positive control: each stack did get its own secret, so a leak into this environment would have been seen.
    expect(sawOwnSecret).toEqual(new Set(['dns cloudflare', 'vms gcloud']));
    const dnsPlan = calls.find((c) => c.stack === 'dns' && c.command.startsWith('plan'))!;
    expect(dnsPlan.body).toMatch(new RegExp(`^PG_CONN_STR=postgres://${ROLE}:${CANARY.dbPassword}@`, 'm'));
  });

  it("terraform's output holds no canary beyond its own stack's variables in show -json", async () => {
    const calls = await invocations(tfOutDir);
    expect(calls.some((c) => c.command.startsWith('apply') && c.body.includes('Apply complete'))).toBe(true);
    const problems = calls.flatMap((c) => {
      // `terraform show -json` prints the plan's variables in plain text (real terraform does too): the stack's own secret may be there.
      const own: CanaryName[] = c.command.startsWith('show') ? (c.stack === 'dns' ? ['cloudflare'] : ['gcloud']) : [];
      return leaksIn(`terraform ${c.command} in ${c.stack}`, c.body, (Object.keys(CANARY) as CanaryName[]).filter((n) => !own.includes(n)));
    });
    expect(problems).toEqual([]);
  });
});
