// The fleetspec command line: subcommands, options and help, parsed by commander.
// Commands return an exit code; only cli.ts touches process.exit.
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
// Only types come from the commands: each command's module (and the libraries it needs: git,
// GitHub, the LLM, the state store) is imported when that command runs, so that --help costs
// little and validate loads only what validating needs. test/startup.test.ts holds this.
import type { ApplyCommandOptions, PlanCommandOptions } from './commands/plan.js';
import type { DaemonCommandOptions, ReconcileOptions } from './commands/loop.js';
import type { TicketsListOptions, TicketsPushOptions } from './commands/tickets.js';
import type { StacksPlanOptions, SynthOptions } from './commands/stacks.js';
import type { DiagramsOptions } from './commands/diagrams.js';
import type { PolicyCheckOptions } from './commands/policy.js';
import type { Output } from './commands/output.js';
import type { InitOptions } from './commands/init.js';
import type { ImportOptions } from './commands/import.js';
import type { RunsOptions } from './commands/runs.js';
import type { StatusOptions } from './commands/status.js';
import type { DoctorOptions } from './commands/doctor.js';
import type { McpOptions, McpTokenOptions } from './commands/mcp.js';
import { DIAGRAMS } from './diagrams/index.js';
import { EXIT, type ExitCode } from './exit-codes.js';
import { terminal } from './escape.js';
import { KINDS } from './kinds/index.js';
import { STACK_NAMES } from './stacks/model.js';
import { DEFAULT_SCHEDULE } from './loop/schedule.js';

/** fleetspec's version from its package.json, found from the source (reconciler/) or the build (dist/reconciler/). */
function packageVersion(): string {
  for (const up of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'fleetspec' && pkg.version) return pkg.version;
    } catch {
      // not at this level
    }
  }
  return 'unknown';
}

const version = packageVersion();

const EXIT_CODES_HELP = `
Exit codes:
  0  success (plan: no changes)
  1  invalid input or policy failure
  2  plan has changes
  3  internal or connection error`;

/** A commander parser for options that take a positive number. */
const positiveNumber = (name: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive number`);
  return n;
};

/**
 * The whole command line as commander's tree, with each action's exit code going to `result`.
 * run() parses with it; docs/reference.md is generated from it (reference.ts), so the reference
 * is the commands' own help.
 */
export function buildProgram(out: Output, result: { code: ExitCode } = { code: EXIT.OK }): Command {
  const program = new Command('fleetspec')
    .description('GitOps reconciler for a small fleet: desired state as YAML in git, plans as pull requests, apply on approved merge.')
    .version(version, '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    // Each command's options are its own: "runs show --format json" is show's --format, not runs'.
    .enablePositionalOptions()
    .addHelpText('after', EXIT_CODES_HELP)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => out.stdout(terminal(s.replace(/\n$/, ''))),
      writeErr: (s) => out.stderr(terminal(s.replace(/\n$/, ''))),
    });

  program
    .command('validate')
    .description('check spec files: YAML syntax, each kind\'s schema, cross-references and secret literals; reports every problem in one run')
    .argument('[path]', 'a specs folder or one spec file', 'specs')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .option('--policies <dir>', 'the policy files (default: policies/ beside the specs folder)')
    .addHelpText(
      'after',
      `
Each problem prints as "file:line:col kind/name: message" with a hint below it.
The policies that need only the specs (port ranges, role matrix, DNS routes,
model memory, host thresholds as observed, the budget brake) are checked too.
Exit codes: 0 valid, 1 invalid, 3 internal error.`,
    )
    .action(async (path: string, opts: { format: 'text' | 'json'; policies?: string }) => {
      const { validateCommand } = await import('./commands/validate.js');
      result.code = await validateCommand(path, opts, out);
    });

  // ---- init (reconciler/commands/init.ts) ----
  program
    .command('init')
    .description('start a spec repository: specs/ with a commented example per kind, policies/, schemas, GitHub workflows, README')
    .argument('[dir]', 'the folder to create or fill', '.')
    .option('--from-hosts <target...>', 'read these hosts over SSH (user@address[:port]) into specs/hosts/<name>.yaml, pinning their host keys')
    .option('--ssh-key <path>', 'private key for --from-hosts (default: FLEETSPEC_SSH_KEY, else ~/.ssh/id_ed25519)')
    .option('--yes', 'pin the host keys --from-hosts sees without asking (default: ask on a terminal, refuse without one)')
    .option('--connect-timeout <seconds>', 'per host: TCP connect and SSH handshake', positiveNumber('--connect-timeout'), 10)
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .addHelpText(
      'after',
      `
A file that exists is never overwritten: it is kept and listed as such, so init
can be run again to add what is missing.
Exit codes: 0 written, 1 bad arguments or a host key not confirmed, 3 a host could not be read or error.`,
    )
    .action(async (dir: string, opts: InitOptions) => {
      const { initCommand } = await import('./commands/init.js');
      result.code = await initCommand(dir, opts, out);
    });
  // ---- end init ----

  // ---- import (reconciler/commands/import.ts) ----
  program
    .command('import')
    .description('write specs for what already exists (DNS records and tunnel routes, listening ports, Ollama models, ticket issues); changes nothing live')
    .argument('[path]', 'the specs folder', 'specs')
    .addOption(new Option('--only <source...>', 'only these sources').choices(['dns', 'ports', 'models', 'tickets']))
    .option('--dry-run', 'write nothing; print what would be written')
    .option('--ssh-key <path>', 'private key for SSH (default: FLEETSPEC_SSH_KEY, else ~/.ssh/id_ed25519)')
    .option('--trust-on-first-use', 'accept hosts without a pinned ssh.hostKey (a changed key is always refused)')
    .option('--connect-timeout <seconds>', 'per host: TCP connect and SSH handshake', positiveNumber('--connect-timeout'), 10)
    .option('--command-timeout <seconds>', 'per remote command', positiveNumber('--command-timeout'), 30)
    .option('--cloudflare-api <url>', 'Cloudflare API root (default: FLEETSPEC_CLOUDFLARE_API, else https://api.cloudflare.com/client/v4)')
    .option('--github-repo <owner/name>', 'where ticket issues are read (default: FLEETSPEC_GITHUB_REPO)')
    .option('--github-api <url>', 'GitHub REST API root (default: FLEETSPEC_GITHUB_API, else https://api.github.com)')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .addHelpText(
      'after',
      `
Sources: dns (each zone spec's Cloudflare records and tunnel routes), ports (each
host's listening TCP ports, as allocations in the project ranges), models (each
host's Ollama models), tickets (open issues labelled "ticket").
Exit codes: 0 imported (or nothing new), 1 invalid specs or settings, 3 a source could not be read.`,
    )
    .action(async (path: string, opts: ImportOptions) => {
      const { importCommand } = await import('./commands/import.js');
      result.code = await importCommand(path, opts, out);
    });
  // ---- end import ----

  program
    .command('schema')
    .description('print or write the JSON Schema (draft 2020-12) of each kind, for editors and CI')
    .option('--out <dir>', 'write <kind>.schema.json files into this folder instead of printing')
    .addOption(new Option('--kind <kind>', 'only this kind').choices(KINDS.flatMap((k) => [k.folder, k.kind])))
    .addHelpText(
      'after',
      `
Spec files name their schema for editors on their first line:
  # yaml-language-server: $schema=../schemas/hosts.schema.json`,
    )
    .action(async (opts: { out?: string; kind?: string }) => {
      const { schemaCommand } = await import('./commands/schema.js');
      result.code = await schemaCommand(opts, out);
    });

  const format = () => new Option('--format <format>', 'output format').choices(['text', 'json']).default('text');
  const positive = positiveNumber;
  const TERRAFORM_OPTION = ['--terraform <binary>', 'terraform or tofu to run for the dns and vms stacks (default: FLEETSPEC_TERRAFORM, else terraform, then tofu on PATH)'] as const;
  const POLICIES_OPTION = ['--policies <dir>', 'the policy files (default: policies/ beside the specs folder; none there: no policies)'] as const;
  const OVERRIDE_OPTION = ['--override <word...>', "lift the policies whose override: is this word (as the PR label fleetspec/<word> does)"] as const;
  const STACKS_DIR_OPTION = ['--stacks-dir <dir>', 'the synthesised stacks folder (default: stacks/ beside the specs folder)'] as const;
  // How a command reaches hosts and runs terraform (plan, apply and the loop).
  const reachOptions = (cmd: Command) =>
    cmd
      .option('--ssh-key <path>', 'private key for SSH (default: FLEETSPEC_SSH_KEY, else ~/.ssh/id_ed25519)')
      .option('--trust-on-first-use', 'accept hosts without a pinned ssh.hostKey (a changed key is always refused)')
      .option('--concurrency <n>', 'SSH operations in flight across hosts', positive('--concurrency'), 8)
      .option('--connect-timeout <seconds>', 'per host: TCP connect and SSH handshake', positive('--connect-timeout'), 10)
      .option('--command-timeout <seconds>', 'per remote command', positive('--command-timeout'), 30)
      .option(...TERRAFORM_OPTION);
  // plan and apply on a local checkout: the folders beside the specs and the overrides given by hand.
  // The loop takes none of these: it uses the repository's own folders and the trusted policies,
  // and overrides come from approvers on the pull request.
  const connectOptions = (cmd: Command) => reachOptions(cmd).option(...STACKS_DIR_OPTION).option(...POLICIES_OPTION).option(...OVERRIDE_OPTION);
  const PLAN_HELP = `
Offline (the default) reads only the state store: hosts, models and roles are
listed as "not read", and the dns and vms stacks show their configuration diff
against stacks/<name>/cdk.tf.json. --live contacts each host that has ssh
settings in specs, checking its pinned host key (an unreachable host is "not
read", never planned as a deletion), and runs terraform plan for the stacks
when terraform or tofu is on PATH and DATABASE_URL names PostgreSQL.
Every plan carries the verdict of the policies in policies/ (fleetspec policy
rules lists the built-in ones): findings of severity error mean apply refuses it.
--target KIND/NAME narrows the plan to that resource (ports/consilio: the range
and its allocations; dns/api.consilio.153.se, vms/NAME, zones/NAME: their
Terraform resources, planned with terraform -target=). The plan file records
its targets and apply plans exactly those again. fleetspec knows no
dependencies between resources and adds none (terraform adds what a stack
resource depends on): name every resource you need. Targeting is for
exceptional use, recovering from a mistake or working around a limitation;
routine changes should be planned whole. An unknown kind or name exits 1.
Exit codes: 0 no changes, 1 invalid specs or policies, or a failing verdict, 2 changes, 3 error.`;

  connectOptions(
    program
      .command('plan')
      .description('compare specs with live state and print what apply would change')
      .argument('[path]', 'the specs folder', 'specs')
      .option('--live', 'read hosts, models and roles over SSH (default: offline)')
      .option('--out <file>', 'also write the plan as JSON, for fleetspec apply')
      .addOption(new Option('--format <format>', 'output format').choices(['text', 'markdown', 'json']).default('text'))
      .option('--show-unchanged', 'list resources that need no change too')
      .option('--target <kind/name>', 'plan only this resource (repeatable), as terraform -target: for exceptional use only', (value: string, previous: string[] = []) => [...previous, value]),
  )
    .addHelpText('after', PLAN_HELP)
    .action(async (path: string, opts: PlanCommandOptions) => {
      const { planCommand } = await import('./commands/plan.js');
      result.code = await planCommand(path, opts, out);
    });

  connectOptions(
    program
      .command('apply')
      .description('apply a plan file: plan again, refuse if anything changed since, then apply in order')
      .argument('<plan>', 'a plan written by fleetspec plan --out')
      .argument('[path]', 'the specs folder', 'specs')
      .addOption(format()),
  )
    .addHelpText(
      'after',
      `
apply stops at the first change that fails and rolls back the changes it made,
from the versions it saved; the report lists what was done, not done and rolled
back. Each apply is a run in the ledger.
Exit codes: 0 applied, 1 invalid or stale plan (nothing applied), 3 apply failed or error.`,
    )
    .action(async (planPath: string, path: string, opts: ApplyCommandOptions) => {
      const { applyCommand } = await import('./commands/plan.js');
      result.code = await applyCommand(planPath, path, opts, out);
    });
  const policy = program
    .command('policy')
    .description('policies as code: the rules in policies/ that judge every plan')
    .addHelpText(
      'after',
      `
A policy file is YAML in policies/: either a built-in rule with its params
  kind: Policy
  name: budget
  severity: error          # error blocks apply; warning is shown
  rule: budget
  params: {currency: USD, monthlyBudget: 200, brakeAt: 0.8, prices: {...}}
or CEL validations (as in Kubernetes ValidatingAdmissionPolicy)
  kind: Policy
  name: bastions-hold-nothing
  severity: error
  match: {kinds: [roles], condition: "resource.type == 'bastion'"}
  validations:
    - expression: size(resource.capabilities) == 0
      message: a bastion holds no capabilities
      path: capabilities
CEL sees resource, name, kind, specs (every spec by kind), plan and params.
override: <word> lets label fleetspec/<word>, or a line "/fleetspec <word>" in an
approver's review, turn the policy's errors into warnings for that PR.`,
    );
  policy
    .command('check')
    .description('judge the specs, and a plan file when given, by the policies; prints the verdict')
    .argument('[plan]', 'a plan written by fleetspec plan --out (without it, rules that need a plan are skipped)')
    .option('--specs <path>', 'the specs folder', 'specs')
    .option(...POLICIES_OPTION)
    .option(...OVERRIDE_OPTION)
    .addOption(format())
    .addHelpText('after', '\nExit codes: 0 pass or warnings only, 1 a finding of severity error or invalid specs or policies, 3 internal error.')
    .action(async (plan: string | undefined, opts: PolicyCheckOptions) => {
      const { policyCheckCommand } = await import('./commands/policy.js');
      result.code = await policyCheckCommand(plan, opts, out);
    });
  policy
    .command('rules')
    .description('list the built-in rules a policy file can configure (--format json: with their params schemas)')
    .addOption(format())
    .action(async (opts: { format: 'text' | 'json' }) => {
      const { policyRulesCommand } = await import('./commands/policy.js');
      result.code = policyRulesCommand(opts, out);
    });

  const LOOP_HELP = `
Settings (options override the environment; the systemd unit reads them from
an EnvironmentFile):
  FLEETSPEC_GITHUB_REPO   OWNER/NAME of the spec repository (--github-repo)
  FLEETSPEC_GITHUB_TOKEN  token (or GITHUB_TOKEN, or the secret meta/github/token)
  FLEETSPEC_GIT_URL       clone URL (default https://github.com/OWNER/NAME.git)
  FLEETSPEC_GITHUB_API    REST API root (default https://api.github.com)
  FLEETSPEC_BRANCH        the default branch (default: asked of GitHub)
  FLEETSPEC_REPO_DIR      the local clone (default .fleetspec/repo)
  FLEETSPEC_LLM_MODEL, FLEETSPEC_LLM_BASE_URL, FLEETSPEC_LLM_API_KEY (or the
  secret meta/llm/api_key), FLEETSPEC_LLM_TIMEOUT (seconds, default 30): the
  narrative; without a model PRs go out without one and say so.
  FLEETSPEC_LLM_CONCURRENCY  narratives of one tick waiting on the LLM at once
                          (1 to 16, default 3)
  FLEETSPEC_FINDING_TICKETS  which findings open tickets (--finding-tickets):
                          all (default), none, or a comma list of disk, drift,
                          apply, unapproved
  FLEETSPEC_DASHBOARD     on (default) or off: keep one "fleetspec dashboard"
                          issue (waiting PRs, drift, findings, last applies,
                          trust), edited only when what it shows changes
  FLEETSPEC_NOTIFY        where apply results, findings and an untrusted default
                          branch are sent: a comma list of
                          slack|ntfy|webhook=secret:PATH (each URL stored with
                          fleetspec secrets set PATH --own)
Deadlines (durations: 240, 90s, 4m, 1h):
  FLEETSPEC_TICK_BUDGET   a tick (--tick-budget); the daemon's default is 80% of
                          its schedule's interval (4m for every 5 minutes, at
                          least 30s, at most 30m); past it the tick stops at its
                          next safe point and its run is FAILED, naming what it
                          waited for. Never during an apply.
  FLEETSPEC_APPLY_BUDGET  an apply and its report (--apply-budget, default 30m)
  FLEETSPEC_LLM_BUDGET    all narratives of one tick (default half the tick's
                          budget, at most 2m); after one LLM timeout the rest of
                          the tick's PRs go out without one, saying why
  FLEETSPEC_GIT_TIMEOUT   one git fetch or push (default 2m)
  FLEETSPEC_STILL_RUNNING_EVERY  how often a running tick says on stderr what
                          it waits for (default 1m; reconcile: not with -q)
A tick: plan every branch and open or update its PR (plan comment, narrative,
status fleetspec/plan); apply a merge on the default branch only when its PR
was approved on the planned head by a user whose role has the approve
capability, not the author, and the plan is unchanged; open one drift PR per
kind where live differs from the default branch; propose a ticket (a PR adding
specs/tickets/T-NNNN.yaml with finding: KEY) for each finding that holds, and
its closing when the finding clears.`;
  const githubOptions = (cmd: Command) =>
    cmd
      .option('--github-repo <owner/name>', 'the spec repository on GitHub (default: FLEETSPEC_GITHUB_REPO)')
      .option('--git-url <url>', 'clone URL (default: FLEETSPEC_GIT_URL, else https://github.com/OWNER/NAME.git)')
      .option('--github-api <url>', 'GitHub REST API root (default: FLEETSPEC_GITHUB_API, else https://api.github.com)')
      .option('--branch <name>', 'the default branch (default: FLEETSPEC_BRANCH, else GitHub\'s default branch)')
      .option('--repo-dir <dir>', 'the local clone (default: FLEETSPEC_REPO_DIR, else .fleetspec/repo)')
      .option('--specs-path <path>', 'the specs folder inside the repository (default: FLEETSPEC_SPECS_PATH, else specs)');
  const loopOptions = (cmd: Command) =>
    reachOptions(
      githubOptions(cmd).option('--finding-tickets <list>', 'findings that open tickets: all, none, or a comma list of disk, drift, apply, unapproved, health, backup (default: FLEETSPEC_FINDING_TICKETS, else all)'),
    );

  loopOptions(
    program
      .command('reconcile')
      .description('run one tick of the GitOps loop: plan branches into PRs, apply approved merges, report drift')
      .addOption(format())
      .option('-q, --quiet', 'no progress lines on stderr')
      .option('--tick-budget <duration>', 'stop the tick at its next safe point after this long (default: FLEETSPEC_TICK_BUDGET, else none)'),
  )
    .addHelpText('after', `${LOOP_HELP}
Exit codes: 0 tick done (including commits refused for lack of approval), 1 bad settings, 3 the tick failed.`)
    .action(async (opts: ReconcileOptions) => {
      const { reconcileCommand } = await import('./commands/loop.js');
      result.code = await reconcileCommand(opts, out);
    });

  loopOptions(
    program
      .command('daemon')
      .description('run ticks on a cron schedule until SIGTERM (the east server\'s systemd service)')
      .option('--schedule <cron>', 'when to tick, as a cron expression', DEFAULT_SCHEDULE)
      .option('--immediately', 'tick once at start too')
      .option('--tick-budget <duration>', 'a tick\'s budget (default: FLEETSPEC_TICK_BUDGET, else 80% of the schedule\'s interval)')
      .option('--apply-budget <duration>', 'an apply\'s budget (default: FLEETSPEC_APPLY_BUDGET, else 30m)')
      .addOption(new Option('--log-format <format>', 'one line per tick on stdout: text, or one JSON object').choices(['text', 'json']).default('text'))
      .option('--listen <host:port>', 'serve /metrics (Prometheus) and /healthz on this loopback address (default: FLEETSPEC_LISTEN, else off)'),
  )
    .addHelpText('after', `${LOOP_HELP}
SIGTERM or SIGINT: no new tick starts; a tick that is applying finishes (within
its apply budget), any other stops at once (within 10 s). A second signal exits
at once (the next start marks that run FAILED, abandoned, and does not retry it).
A tick still running past its budget and a grace (up to the next due time) is
wedged: the daemon logs it and exits 3, for systemd to start a fresh one.
On systemd's journal (JOURNAL_STREAM names stdout or stderr), every line starts
with its syslog priority, <3> errors, <4> warnings, <6> the rest, JSON lines
too, and text lines have no timestamp (journald adds one): journalctl -p err
-u fleetspec shows the errors.
With --listen, the server also takes GitHub webhook deliveries at POST /webhook
(push, pull_request, pull_request_review, issues, issue_comment): each verified
with its X-Hub-Signature-256, at most 1 MiB, de-duplicated by X-GitHub-Delivery,
then it asks for a tick within 2 s (a burst makes one tick, or one more after a
running one); the schedule stays the fallback. The secret is fleetspec's own
meta/github/webhook_secret (printf %s "$SECRET" | fleetspec secrets set
meta/github/webhook_secret --own); FLEETSPEC_WEBHOOK_SECRET=secret:PATH names
another. Without it webhooks are off (POST /webhook answers 404).
Exit codes: 0 stopped by a signal, 1 bad settings, 3 could not start or a tick
wedged.`)
    .action(async (opts: DaemonCommandOptions) => {
      const { daemonCommand } = await import('./commands/loop.js');
      result.code = await daemonCommand({ ...opts, format: 'text' }, out);
    });

  loopOptions(
    program
      .command('rollback')
      .description('open a pull request that rolls back an applied one (as an approver\'s /fleetspec rollback comment does)')
      .argument('[target]', 'the pull request (12 or #12), or run:N for the one run N applied')
      .option('--list', 'list the rollbacks asked for (comments and this command), with their times against the SLA')
      .addOption(format())
      .option('-q, --quiet', 'no progress lines on stderr'),
  )
    .addHelpText('after', `
The revert restores each file under specs/ and policies/ that the pull
request's merge changed to what it was before, on top of the trusted commit;
stacks and diagrams follow from the specs. A file changed again by a later
apply is not guessed at: the rollback is refused and names it. The revert PR
(branch fleetspec/rollback/pr-N, label fleetspec:rollback) is planned in the
same tick; its plan says what rolling back cannot undo (a destroyed VM's disk,
a deleted model's files). It is approved and applied like any change. Asked
for here, fleetspec cannot name who asked, so two approvers are needed; asked
for with a /fleetspec rollback comment, any approver but the one who asked.
When the daemon holds the repository, the request is recorded and its next
tick opens the pull request.
On GitHub, an approver's comment whose first line is /fleetspec rollback (on a
merged PR) or /fleetspec plan (on an open PR: plan its head again now) is a
command; anyone else's gets an answer saying why nothing happened.
The rollback SLA (begin under 5 min, finish under 15 min) is measured: from the
request to the revert PR with its plan, and from its approved merge to the
apply finished; the result comment and --list show both.
${LOOP_HELP}
Exit codes: 0 the revert PR is open (or the request waits for the running
fleetspec), 1 refused (not applied, changed since, not a PR) or bad settings,
3 the tick failed.`)
    .action(async (target: string | undefined, opts: import('./commands/rollback.js').RollbackOptions) => {
      const { rollbackCommand } = await import('./commands/rollback.js');
      result.code = await rollbackCommand(target, opts, out);
    });

  githubOptions(
    program
      .command('propose')
      .description('have the LLM draft spec edits for a goal, check them (retried twice with the problems) and open them as a pull request')
      .argument('<goal>', 'what the change should achieve, in words ("Deploy API service for Consilio at api.consilio.153.se")')
      .option('--dry-run', 'print the draft as a diff and its offline plan; write no branch, open no PR')
      .option('--timeout <seconds>', 'how long one draft may take (default: FLEETSPEC_LLM_TIMEOUT when longer, else 120)', positiveNumber('--timeout'))
      .addOption(format())
      .option('-q, --quiet', 'no progress lines on stderr'),
  )
    .addHelpText('after', `
The LLM (the narrative's settings: FLEETSPEC_LLM_MODEL, FLEETSPEC_LLM_BASE_URL,
FLEETSPEC_LLM_API_KEY) drafts spec edits as structured output; fleetspec checks
each draft against the trusted commit (spec files under specs/ only, no secret
values, the kinds' schemas and references, the trusted policies, an offline
plan). A draft that fails goes back to the model with its located problems:
3 attempts at most, then "design blocked" and the reasons, with no
branch and no PR. A draft that passes is opened as a PR by the bot (branch
fleetspec/proposal/cli-..., label fleetspec:proposal) carrying the goal, the
narrative (unverified) and the exact offline plan; the loop plans it live and
it is approved and applied like any change.
The model sees the goal, the trusted commit's spec files (secret-looking values
redacted), the kinds' JSON schemas and its previous drafts' problems; never a
secret value, the policies, or anything outside specs/.
Exit codes: 0 proposed (or, with --dry-run, the draft passed: the diff and the
plan are printed and nothing is written), 1 design blocked, no LLM configured,
no trusted commit yet or bad settings, 3 the LLM, git or GitHub failed.`)
    .action(async (goal: string, opts: import('./commands/propose.js').ProposeOptions) => {
      const { proposeCommand } = await import('./commands/propose.js');
      result.code = await proposeCommand(goal, opts, out);
    });

  const tickets = program
    .command('tickets')
    .description('tickets in specs/tickets and their GitHub issues: list, push to GitHub, pull issues in as tickets')
    .addHelpText(
      'after',
      `
Git is the source of truth. Each ticket is one GitHub issue, found by a marker
fleetspec writes at the end of its body; an issue without it is never changed.
Labels: ticket, priority:<p>, status:<s>, role:<assignee>, and the ticket's own
(created before first use). An issue edited on GitHub is drift: reported, never
overwritten. GitHub is FLEETSPEC_GITHUB_REPO with FLEETSPEC_GITHUB_TOKEN (the
token needs Issues read and write); the loop does all this on every merge.`,
    );
  tickets
    .command('list')
    .description('the tickets of the specs; with --live, each one\'s issue and whether GitHub matches')
    .option('--specs <path>', 'the specs folder', 'specs')
    .option('--live', 'read the GitHub issues too')
    .addOption(format())
    .addHelpText('after', '\nExit codes: 0 listed, 1 invalid specs or GitHub not configured, 3 error.')
    .action(async (opts: TicketsListOptions) => {
      const { ticketsList } = await import('./commands/tickets.js');
      result.code = await ticketsList(opts, out);
    });
  tickets
    .command('push')
    .description('bring GitHub\'s issues to what specs/tickets says: shows the plan; applies it with --yes')
    .option('--specs <path>', 'the specs folder', 'specs')
    .option('--yes', 'apply the plan (open, update and close issues)')
    .option(...POLICIES_OPTION)
    .addOption(format())
    .addHelpText('after', '\nExit codes: 0 GitHub matches (or applied), 1 invalid or not configured, 2 changes to apply (no --yes), 3 error.')
    .action(async (opts: TicketsPushOptions) => {
      const { ticketsPush } = await import('./commands/tickets.js');
      result.code = await ticketsPush(opts, out);
    });
  githubOptions(
    tickets
      .command('pull')
      .description('turn open issues labelled "ticket" that fleetspec did not make into pull requests adding specs/tickets/T-NNNN.yaml')
      .addOption(format())
      .option('-q, --quiet', 'no progress lines on stderr'),
  )
    .addHelpText('after', `
Each issue gets the next free id and a branch fleetspec/ticket/T-NNNN-issue-N;
the PR closes the issue when merged, and the merge opens the ticket's own issue.
An issue whose text looks like it holds a secret is not pulled (a comment says
why). Uses the loop's settings (see fleetspec reconcile --help).
Exit codes: 0 done, 1 bad settings or invalid specs on the default branch, 3 error.`)
    .action(async (opts: ReconcileOptions) => {
      const { ticketsPullCommand } = await import('./commands/loop.js');
      result.code = await ticketsPullCommand(opts, out);
    });

  const stacks = program
    .command('stacks')
    .description('the Terraform stacks synthesised from specs with CDKTF: dns (Cloudflare records, tunnel ingress) and vms (GCE)')
    .addHelpText(
      'after',
      `
Stacks: ${STACK_NAMES.join(', ')}. Output goes to stacks/<name>/cdk.tf.json (sorted keys, ids
from names), rewritten only when its bytes change; a stack whose input hash is
unchanged is not synthesised at all. Terraform state lives in the pg backend,
schema fleetspec_stack_<name>, in the PostgreSQL of DATABASE_URL. Secrets reach
terraform only as TF_VAR_secret__* environment variables, never in the JSON.`,
    );
  // Every stacks command: an optional stack name, the specs and the stacks folder.
  const stackCommand = (name: string, description: string, all = 'default all') =>
    stacks
      .command(name)
      .description(description)
      .argument('[name]', `one stack (${STACK_NAMES.join(', ')}); ${all}`)
      .option('--specs <path>', 'the specs folder', 'specs')
      .option(...STACKS_DIR_OPTION);
  stackCommand('synth', 'write stacks/<name>/cdk.tf.json from the specs')
    .option('--check', 'write nothing; exit 1 when a committed stack is out of date with the specs (for CI)')
    .option('--force', 'synthesise even when the input hash is unchanged')
    .addOption(format())
    .addHelpText('after', '\nExit codes: 0 done (or up to date with --check), 1 invalid specs or out of date, 3 error.')
    .action(async (name: string | undefined, opts: SynthOptions & { stacksDir?: string }) => {
      const { stacksSynth } = await import('./commands/stacks.js');
      result.code = await stacksSynth(name, { ...opts, stacks: opts.stacksDir }, out);
    });
  stackCommand('plan', 'terraform init, plan -out and show -json for the stacks; the saved plan file is kept for stacks apply')
    .option(...TERRAFORM_OPTION)
    .option(...POLICIES_OPTION)
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'markdown', 'json']).default('text'))
    .option('--show-unchanged', 'list resources that need no change too')
    .addHelpText(
      'after',
      `
Without terraform or tofu on PATH (or without PostgreSQL for the pg backend, or a
stack's secret), the plan says why and shows the configuration diff instead.
Exit codes: 0 no changes, 1 invalid specs or terraform failed, 2 changes, 3 error.`,
    )
    .action(async (name: string | undefined, opts: StacksPlanOptions) => {
      const { stacksPlan } = await import('./commands/stacks.js');
      result.code = await stacksPlan(name, opts, out);
    });
  stackCommand('apply', 'terraform apply of the plan file saved by the last stacks plan, and nothing else', 'default every stack with a saved plan')
    .option(...TERRAFORM_OPTION)
    .option(...POLICIES_OPTION)
    .addHelpText(
      'after',
      `
Terraform refuses a saved plan when its state moved on since; plan again then.
On success the applied configuration is written to stacks/<name>/cdk.tf.json.
Exit codes: 0 applied, 1 nothing to apply or not configured, 3 terraform failed.`,
    )
    .action(async (name: string | undefined, opts: StacksPlanOptions) => {
      const { stacksApply } = await import('./commands/stacks.js');
      result.code = await stacksApply(name, opts, out);
    });

  program
    .command('diagrams')
    .description('write the Mermaid diagrams in docs/diagrams/src/ from the specs: topology, role matrix, run states, artifact flow')
    .argument('[path]', 'the specs folder', 'specs')
    .option('--out <dir>', 'where the .mmd files go (default: docs/diagrams/src beside the specs folder)')
    .option('--only <name...>', `only these diagrams (${DIAGRAMS.map((d) => d.name).join(', ')})`)
    .option('--check', 'write nothing; exit 1 when a committed diagram is out of date with the specs (for CI)')
    .addOption(format())
    .addHelpText(
      'after',
      `
Diagrams:
${DIAGRAMS.map((d) => `  ${d.name.padEnd(9)} ${d.title}`).join('\n')}

Each file is rewritten only when its bytes change, so an unchanged fleet leaves
git clean. A .mmd file in the folder that fleetspec did not generate is left
alone. The diagrams workflow (.github/workflows/diagrams.yml) renders them to
docs/diagrams/svg/ on push; the reconciler refreshes them in the PRs it opens.
Exit codes: 0 written (or up to date with --check), 1 invalid specs or out of
date, 3 error.`,
    )
    .action(async (path: string, opts: DiagramsOptions) => {
      const { diagramsCommand } = await import('./commands/diagrams.js');
      result.code = await diagramsCommand(path, opts, out);
    });

  // ---- runs, status, doctor (reconciler/commands/runs.ts, status.ts, doctor.ts) ----
  const runs = program
    .command('runs')
    .description('the run ledger: what fleetspec planned, who approved, what it applied and rolled back')
    // runs and runs show both take --format: the parent's options only before "show".
    .enablePositionalOptions()
    .option('--limit <n>', 'at most this many runs, newest first', positiveNumber('--limit'), 20)
    .option('--state <state>', 'only runs in this state (PENDING, PLANNING, WAIT_FOR_APPROVE, APPLYING, DONE, BLOCKED, ROLLBACK, FAILED)')
    .option('--repo <owner/name>', 'only runs of this repository (default: every repository in the store)')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .addHelpText('after', '\nExit codes: 0 listed, 1 bad arguments, 3 the store could not be read.')
    .action(async (opts: RunsOptions) => {
      const { runsList } = await import('./commands/runs.js');
      result.code = await runsList(opts, out);
    });
  runs
    .command('show')
    .description('one run: every transition with its reason, the plan summary and hash, the PR, who approved, what was applied and rolled back')
    .argument('<id>', 'the run id (fleetspec runs lists them)')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .addHelpText('after', '\nExit codes: 0 shown, 1 no such run, 3 the store could not be read.')
    .action(async (id: string, opts: { format: 'text' | 'json' }) => {
      const { runsShow } = await import('./commands/runs.js');
      result.code = await runsShow(id, opts, out);
    });
  program
    .command('status')
    .description('is the fleet in sync: the last tick, the leader, PRs waiting for approval, drift, open findings, the trusted commit')
    .option('--repo <owner/name>', 'the spec repository (default: FLEETSPEC_GITHUB_REPO, else the only one in the store)')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .addHelpText('after', '\nExit codes: 0 in sync, 2 something waits or differs (PRs awaiting approval, drift, error findings, an untrusted default branch, a stale tick), 1 bad arguments, 3 the store could not be read.')
    .action(async (opts: StatusOptions) => {
      const { statusCommand } = await import('./commands/status.js');
      result.code = await statusCommand(opts, out);
    });
  program
    .command('doctor')
    .description('check a setup before the first tick: one line per check, and what to fix')
    .option('--specs <path>', 'the specs folder whose hosts and secrets are checked', 'specs')
    .option('--github-repo <owner/name>', 'the spec repository (default: FLEETSPEC_GITHUB_REPO)')
    .option('--github-api <url>', 'GitHub REST API root (default: FLEETSPEC_GITHUB_API, else https://api.github.com)')
    .option('--ssh-key <path>', 'private key for SSH (default: FLEETSPEC_SSH_KEY, else ~/.ssh/id_ed25519)')
    .option(...TERRAFORM_OPTION)
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .addHelpText('after', `
It only reads: it never connects to a host, and prints no secret. Each check
has a deadline: FLEETSPEC_DOCTOR_TIMEOUT (a duration, default 10s).
Exit codes: 0 nothing failed (warnings allowed), 1 a check failed (each failing line says what to fix), 3 doctor itself failed.`)
    .action(async (opts: DoctorOptions) => {
      const { doctorCommand } = await import('./commands/doctor.js');
      result.code = await doctorCommand(opts, out);
    });
  // ---- end runs, status, doctor ----

  const STORE_HELP = `
The state store is PostgreSQL when DATABASE_URL is set, else embedded PGlite in
.fleetspec/state (FLEETSPEC_STATE_DIR overrides the folder).`;

  const ports = program
    .command('ports')
    .description('project port ranges and allocations in the state store')
    .addHelpText('after', STORE_HELP);
  ports
    .command('list')
    .description('list ranges and allocated ports')
    .option('--project <project>', 'only this project')
    .addOption(format())
    .action(async (opts: { project?: string; format: 'text' | 'json' }) => {
      const { portsList } = await import('./commands/ports.js');
      result.code = await portsList(opts, out);
    });
  // get, allocate and release all take <project> <service> and --format.
  const serviceCommands = [
    ['get', 'print the port allocated to a service (exit 1 when it has none)', 'portsGet'],
    ['allocate', "give a service a port in its project's range; the same port on every call", 'portsAllocate'],
    ['release', "free a service's port", 'portsRelease'],
  ] as const;
  for (const [name, description, handler] of serviceCommands) {
    ports
      .command(name)
      .description(description)
      .argument('<project>')
      .argument('<service>')
      .addOption(format())
      .action(async (project: string, service: string, opts: { format: 'text' | 'json' }) => {
        const commands = await import('./commands/ports.js');
        result.code = await commands[handler](project, service, opts, out);
      });
  }
  ports
    .command('diff')
    .description('compare specs/ports with the store: what apply would change (exit 0 none, 2 changes)')
    .argument('[path]', 'the specs folder', 'specs')
    .addOption(format())
    .action(async (path: string, opts: { format: 'text' | 'json' }) => {
      const { portsDiff } = await import('./commands/ports.js');
      result.code = await portsDiff(path, opts, out);
    });
  ports
    .command('apply')
    .description('write the ranges and pinned ports of specs/ports into the store, in one transaction')
    .argument('[path]', 'the specs folder', 'specs')
    .addOption(format())
    .action(async (path: string, opts: { format: 'text' | 'json' }) => {
      const { portsApply } = await import('./commands/ports.js');
      result.code = await portsApply(path, opts, out);
    });

  const secrets = program
    .command('secrets')
    .description('encrypted secrets in the state store (AES-256-GCM, key from FLEETSPEC_SECRET_KEY)')
    .addHelpText(
      'after',
      `${STORE_HELP}
Specs refer to a secret as secret:<path>, e.g. secret:meta/cloudflare/api_token.
Each secret has a scope: the resources (kind/name) whose specs may name it. It is sealed with
the value, so only someone holding the key can change it; a spec naming a secret outside its
scope is an error in the plan, and the secret is not handed out.
Every access is recorded in the audit table (path, action, actor, time; never the value).`,
    );
  const collect = (value: string, previous: string[] = []) => [...previous, value];
  secrets
    .command('set')
    .description('store the value read from standard input (never from the command line)')
    .argument('<path>', 'e.g. meta/cloudflare/api_token')
    .option('--allow <kind/name>', 'a resource whose spec may name it (repeatable; name may be * or end in *)', collect)
    .option('--own', "fleetspec's own use only (its LLM key, its GitHub token): no spec may name it")
    .addHelpText(
      'after',
      `
Without --allow or --own, a secret stored again keeps its scope, and a new one is for fleetspec's own use.

Example: printf %s "$TOKEN" | fleetspec secrets set meta/cloudflare/api_token --allow zones/153.se`,
    )
    .action(async (path: string, opts: { allow?: string[]; own?: boolean }) => {
      const { secretsSet } = await import('./commands/secrets.js');
      result.code = await secretsSet(path, out, undefined, opts.own ? [] : opts.allow);
    });
  secrets
    .command('scope')
    .description('show or change which resources may use a secret (changing it needs the key)')
    .argument('<path>')
    .option('--allow <kind/name>', 'a resource whose spec may name it (repeatable; replaces the scope)', collect)
    .option('--own', "fleetspec's own use only: no spec may name it")
    .addOption(format())
    .addHelpText('after', '\nExample: fleetspec secrets scope meta/gcloud/vm_host_key --allow vms/supervisor-vm')
    .action(async (path: string, opts: { allow?: string[]; own?: boolean; format: 'text' | 'json' }) => {
      const { secretsScope } = await import('./commands/secrets.js');
      result.code = await secretsScope(path, opts.own ? [] : opts.allow, opts, out);
    });
  // get and delete take just <path>.
  const pathCommands = [
    ['get', "print a secret's value", 'secretsGet'],
    ['delete', 'delete a secret', 'secretsDelete'],
  ] as const;
  for (const [name, description, handler] of pathCommands) {
    secrets
      .command(name)
      .description(description)
      .argument('<path>')
      .action(async (path: string) => {
        const commands = await import('./commands/secrets.js');
        result.code = await commands[handler](path, out);
      });
  }
  secrets
    .command('list')
    .description('list secret paths (never values)')
    .argument('[prefix]', 'only paths starting with this')
    .addOption(format())
    .action(async (prefix: string | undefined, opts: { format: 'text' | 'json' }) => {
      const { secretsList } = await import('./commands/secrets.js');
      result.code = await secretsList(prefix, opts, out);
    });
  secrets
    .command('rotate')
    .description('re-encrypt every secret from FLEETSPEC_SECRET_KEY to FLEETSPEC_NEW_SECRET_KEY, in one transaction')
    .action(async () => {
      const { secretsRotate } = await import('./commands/secrets.js');
      result.code = await secretsRotate(out);
    });
  secrets
    .command('keygen')
    .description('print a new random 256-bit key (base64) for FLEETSPEC_SECRET_KEY')
    .action(async () => {
      const { secretsKeygen } = await import('./commands/secrets.js');
      result.code = secretsKeygen(out);
    });

  // ---- mcp (reconciler/commands/mcp.ts) ----
  const MCP_HELP = `
Role agents connect with a token of their role (fleetspec mcp token ROLE):
over stdio in FLEETSPEC_MCP_TOKEN, over HTTP as Authorization: Bearer <token>
on each request to /mcp. The role's capabilities in the trusted roles spec
decide which tools it may call; specs and roles are read from the trusted
commit (in a clone of its own, <repo dir>-proposals), never from a branch.
Read tools: whoami, get_port, list_ports, list_tickets, get_ticket, list_hosts,
list_models, list_dns, get_plan, get_proposal, list_runs (every role).
Propose tools open a pull request as the bot, with the role and its reason;
nothing is applied: allocate_port (code.push or deploy.production),
ticket_create (tickets.manage), ticket_work and ticket_done (tickets.work or
tickets.manage), add_dns_name, set_model, remove_model, resize_vm,
set_vm_power (deploy.production), set_role_llm (llm.configure).
get_secret: only for a role with secrets.read and mcp.secrets prefixes; needs
FLEETSPEC_SECRET_KEY. Every call is audited in mcp_audit (docs/agents.md).
Uses the loop's settings (see fleetspec reconcile --help).`;
  const mcp = githubOptions(
    program
      .command('mcp')
      .description('serve the MCP tools to role agents: read the fleet, propose changes as pull requests (stdio, or HTTP with --listen)')
      .option('--listen <host:port>', 'serve Streamable HTTP at /mcp on this loopback address instead of stdio'),
  )
    .addHelpText('after', `${MCP_HELP}
On stdio, stdout carries only the protocol; logs go to stderr. With --listen,
a request over 1 MiB is 413 and a missing or unknown token 401.
Exit codes: 0 stopped (stdin closed, SIGTERM or SIGINT), 1 bad settings or no valid token, 3 error.`)
    .action(async (opts: McpOptions) => {
      const { mcpCommand } = await import('./commands/mcp.js');
      result.code = await mcpCommand(opts, out);
    });
  githubOptions(
    mcp
      .command('token')
      .description("issue a token for a role's agent (printed once, stored only as its SHA-256), or end one with --revoke")
      .argument('[role]', 'a role of the trusted roles spec')
      .option('--label <text>', 'what the token is for (shown by fleetspec mcp tokens)')
      .option('--revoke <id>', 'revoke the token with this id instead')
      .addOption(format()),
  )
    .addHelpText('after', `
The token goes to stdout alone (with --format json: {id, role, label, token});
keep it like a password. Issuing needs the trusted commit (one loop tick).
Exit codes: 0 issued or revoked, 1 unknown role or token id, 3 error.`)
    .action(async (role: string | undefined, opts: McpTokenOptions) => {
      const { mcpTokenCommand } = await import('./commands/mcp.js');
      result.code = await mcpTokenCommand(role, opts, out);
    });
  mcp
    .command('tokens')
    .description('list the MCP tokens: id, role, label, created, last used, revoked (never the tokens)')
    .addOption(format())
    .addHelpText('after', '\nExit codes: 0 listed, 3 the store could not be read.')
    .action(async (opts: { format: 'text' | 'json' }) => {
      const { mcpTokensCommand } = await import('./commands/mcp.js');
      result.code = await mcpTokensCommand(opts, out);
    });
  // ---- end mcp ----

  // Apply exit-code conventions and the shared output to every subcommand, however deep.
  const configure = (cmd: Command): void => {
    for (const sub of cmd.commands) {
      sub.exitOverride().configureOutput(program.configureOutput()).showHelpAfterError('(run with --help for usage)');
      configure(sub);
    }
  };
  configure(program);
  return program;
}

export async function run(argv: readonly string[], out: Output): Promise<ExitCode> {
  const result: { code: ExitCode } = { code: EXIT.OK };
  const program = buildProgram(out, result);
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here with exit code 0; usage errors are invalid input.
      return err.exitCode === 0 ? EXIT.OK : EXIT.INVALID;
    }
    throw err;
  }
  return result.code;
}
