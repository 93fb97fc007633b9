// Versioned schema migrations, the same SQL on PostgreSQL and PGlite. Applied on open,
// in order, each recorded with a checksum; applying them twice changes nothing.
import { createHash } from 'node:crypto';
import type { Db } from './db.js';
import { StateError } from './errors.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'run ledger',
    sql: `
create table run_states (
  state text primary key,
  terminal boolean not null
);
insert into run_states (state, terminal) values
  ('PENDING', false), ('PLANNING', false), ('WAIT_FOR_APPROVE', false), ('APPLYING', false),
  ('ROLLBACK', false), ('DONE', true), ('BLOCKED', true), ('FAILED', true);

create table run_state_edges (
  from_state text not null references run_states (state),
  to_state text not null references run_states (state),
  primary key (from_state, to_state)
);
insert into run_state_edges (from_state, to_state) values
  ('PENDING', 'PLANNING'), ('PENDING', 'FAILED'),
  ('PLANNING', 'WAIT_FOR_APPROVE'), ('PLANNING', 'DONE'), ('PLANNING', 'BLOCKED'), ('PLANNING', 'FAILED'),
  ('WAIT_FOR_APPROVE', 'APPLYING'), ('WAIT_FOR_APPROVE', 'FAILED'),
  ('APPLYING', 'DONE'), ('APPLYING', 'ROLLBACK'), ('APPLYING', 'FAILED'),
  ('ROLLBACK', 'DONE'), ('ROLLBACK', 'FAILED');

create table runs (
  id bigint generated always as identity primary key,
  repo text not null,
  trigger text not null check (trigger in ('cron', 'manual', 'push', 'pull_request', 'merge', 'drift')),
  git_sha text check (git_sha ~ '^[0-9a-f]{40}$'),
  plan_hash text check (plan_hash ~ '^[0-9a-f]{64}$'),
  state text not null default 'PENDING' references run_states (state),
  reason text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  finished_at timestamptz
);
create index runs_repo_created on runs (repo, created_at);

create table run_transitions (
  id bigint generated always as identity primary key,
  run_id bigint not null references runs (id) on delete cascade,
  from_state text references run_states (state),
  to_state text not null references run_states (state),
  reason text,
  at timestamptz not null default now()
);
create index run_transitions_run on run_transitions (run_id, id);

-- The database refuses an illegal transition even when the code is bypassed.
create function fleetspec_check_run_state() returns trigger language plpgsql as $$
begin
  if tg_op = 'INSERT' then
    if new.state <> 'PENDING' then
      raise exception 'a run starts in PENDING, not %', new.state using errcode = 'FS422';
    end if;
  elsif new.state is distinct from old.state then
    if not exists (select 1 from run_state_edges where from_state = old.state and to_state = new.state) then
      raise exception 'illegal run transition % -> %', old.state, new.state using errcode = 'FS422';
    end if;
    new.updated_at := now();
    if (select terminal from run_states where state = new.state) then
      new.finished_at := now();
    end if;
  end if;
  return new;
end $$;
create trigger runs_check_state before insert or update of state on runs
  for each row execute function fleetspec_check_run_state();

create function fleetspec_record_run_transition() returns trigger language plpgsql as $$
begin
  if tg_op = 'INSERT' or new.state is distinct from old.state then
    insert into run_transitions (run_id, from_state, to_state, reason)
      values (new.id, case when tg_op = 'INSERT' then null else old.state end, new.state, new.reason);
  end if;
  return null;
end $$;
create trigger runs_record_transition after insert or update of state on runs
  for each row execute function fleetspec_record_run_transition();
`,
  },
  {
    version: 2,
    name: 'port allocation',
    sql: `
create table port_ranges (
  project text primary key check (project ~ '^[a-z0-9]([a-z0-9-]*[a-z0-9])?$'),
  start_port integer not null check (start_port between 1 and 65535),
  end_port integer not null check (end_port between 1 and 65535),
  check (start_port <= end_port),
  -- Seed 003: project ranges never overlap, so services of two projects never collide.
  constraint port_ranges_no_overlap exclude using gist (int4range(start_port, end_port, '[]') with &&)
);

create table port_allocations (
  port integer primary key,
  project text not null references port_ranges (project),
  service text not null check (service ~ '^[a-z0-9]([a-z0-9-]*[a-z0-9])?$'),
  created_at timestamptz not null default now(),
  unique (project, service)
);

create function fleetspec_check_allocation() returns trigger language plpgsql as $$
declare r record;
begin
  select start_port, end_port into r from port_ranges where project = new.project;
  if new.port < r.start_port or new.port > r.end_port then
    raise exception 'port % is outside project %''s range %-%', new.port, new.project, r.start_port, r.end_port
      using errcode = 'FS422';
  end if;
  return new;
end $$;
create trigger port_allocations_in_range before insert or update on port_allocations
  for each row execute function fleetspec_check_allocation();

create function fleetspec_check_range() returns trigger language plpgsql as $$
begin
  if exists (select 1 from port_allocations
             where project = new.project and (port < new.start_port or port > new.end_port)) then
    raise exception 'project % has allocations outside %-%', new.project, new.start_port, new.end_port
      using errcode = 'FS422';
  end if;
  return new;
end $$;
create trigger port_ranges_keep_allocations before update on port_ranges
  for each row execute function fleetspec_check_range();

create index port_allocations_project_port on port_allocations (project, port);

-- One round trip per allocation; the project row lock serialises allocators of one project.
-- A new service gets the port after the project's highest, so a port released a moment ago
-- (maybe still in a tunnel route or a stopped service's config) is not handed out again
-- until the range has been used up to its end; then the lowest free port is reused.
create function fleetspec_allocate_port(p_project text, p_service text) returns integer language plpgsql as $$
declare
  r record;
  v_port integer;
begin
  select port into v_port from port_allocations where project = p_project and service = p_service;
  if found then return v_port; end if;
  select start_port, end_port into r from port_ranges where project = p_project for update;
  if not found then
    raise exception 'unknown project %', p_project using errcode = 'FS404';
  end if;
  select port into v_port from port_allocations where project = p_project and service = p_service;
  if found then return v_port; end if;
  select coalesce(max(port) + 1, r.start_port) into v_port from port_allocations where project = p_project;
  if v_port > r.end_port then
    select c.p into v_port
      from (select r.start_port as p
            union all
            select a.port + 1 from port_allocations a where a.project = p_project and a.port < r.end_port) c
     where not exists (select 1 from port_allocations b where b.port = c.p)
     order by c.p
     limit 1;
  end if;
  if v_port is null then
    raise exception 'project % has no free port in %-%', p_project, r.start_port, r.end_port using errcode = 'FS409';
  end if;
  insert into port_allocations (port, project, service) values (v_port, p_project, p_service);
  return v_port;
end $$;
`,
  },
  {
    version: 3,
    name: 'secrets',
    sql: `
create table secrets (
  path text primary key check (path ~ '^[a-z0-9][a-z0-9_.-]*(/[a-z0-9][a-z0-9_.-]*)+$'),
  key_id text not null,
  nonce bytea not null check (length(nonce) = 12),
  ciphertext bytea not null,
  tag bytea not null check (length(tag) = 16),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create table secret_audit (
  id bigint generated always as identity primary key,
  path text not null,
  action text not null check (action in ('set', 'get', 'list', 'delete', 'rotate')),
  actor text not null,
  ok boolean not null default true,
  at timestamptz not null default now()
);
create index secret_audit_path on secret_audit (path, at);
`,
  },
  {
    version: 4,
    name: 'gitops loop',
    sql: `
create table planned_commits (
  repo text not null,
  sha text not null,
  scope text not null,
  pr integer,
  plan_hash text,
  plan jsonb,
  problem text,
  run_id bigint references runs (id),
  created_at timestamptz not null default now(),
  primary key (repo, sha, scope)
);

create table main_commits (
  repo text not null,
  sha text not null,
  outcome text not null check (outcome in ('baseline', 'applying', 'applied', 'failed', 'abandoned', 'not-approved', 'stale', 'blocked', 'invalid', 'no-changes')),
  pr integer,
  run_id bigint references runs (id),
  detail text,
  at timestamptz not null default now(),
  primary key (repo, sha)
);
`,
  },
  {
    version: 5,
    name: 'trusted base',
    sql: `
-- The default-branch commits fleetspec accepted, in order: approvers and policies come from the last one.
create table trusted_commits (
  repo text not null,
  seq bigserial,
  sha text not null,
  via text not null,
  pr integer,
  at timestamptz not null default now(),
  primary key (repo, seq)
);
create index trusted_commits_sha on trusted_commits (repo, sha);
-- Earlier stores: their last baseline or applied commit is where trust starts.
insert into trusted_commits (repo, sha, via, pr, at)
  select distinct on (repo) repo, sha, outcome, pr, at from main_commits
   where outcome in ('baseline', 'applied', 'failed', 'abandoned') order by repo, at desc;

-- Every commit fleetspec wrote to a branch it owns: any other head there is someone else's push.
create table bot_commits (
  repo text not null,
  branch text not null,
  sha text not null,
  at timestamptz not null default now(),
  primary key (repo, branch, sha)
);

-- The GitHub account behind each approver login, as first seen: a login that later names another account is not that approver.
create table approver_accounts (
  repo text not null,
  login text not null,
  account_id bigint not null,
  at timestamptz not null default now(),
  primary key (repo, login)
);

-- What a plan was judged under: the trusted commit, and a digest of its approvers and policies.
alter table planned_commits add column trusted_sha text;
alter table planned_commits add column rules_digest text;
-- Refused default-branch commits the head contained, as its plan comment listed them for the reviewer.
alter table planned_commits add column carries jsonb;

alter table main_commits drop constraint main_commits_outcome_check;
alter table main_commits add constraint main_commits_outcome_check check (outcome in
  ('baseline', 'applying', 'applied', 'failed', 'abandoned', 'not-approved', 'stale', 'blocked', 'invalid', 'no-changes', 'reverted', 'untrusted'));
`,
  },
  {
    version: 6,
    name: 'secret scope',
    sql: `
-- The resources (kind/name patterns, JSON array) a secret may be handed to; sealed into the
-- ciphertext's associated data, so only someone holding the key can change it. Null: none, only
-- fleetspec's own use (its LLM key, its GitHub token), as for every secret stored before.
alter table secrets add column scope text;
-- Scope changes and refusals are audited too, with what was asked (never a value).
alter table secret_audit drop constraint secret_audit_action_check;
alter table secret_audit add constraint secret_audit_action_check check (action in ('set', 'get', 'list', 'delete', 'rotate', 'scope', 'deny'));
alter table secret_audit add column detail text;
`,
  },
  {
    version: 7,
    name: 'report outbox',
    sql: `
-- What the loop has to say on GitHub about an outcome it recorded (a result comment, a commit status),
-- written in the transaction that records the outcome and delivered after it: a report GitHub did not
-- take is sent again by the next tick, once (the client looks for its marker before sending again).
create table outbox (
  id bigint generated always as identity primary key,
  repo text not null,
  -- One report per key (result:<sha>:comment, …): recording an outcome twice queues it once.
  key text not null,
  kind text not null check (kind in ('comment', 'commit-comment', 'status')),
  -- The PR or issue number (comment), or the commit (commit-comment, status).
  target text not null,
  -- comment: {body, marker}; status: {state, description, context}.
  payload jsonb not null,
  run_id bigint,
  attempts integer not null default 0,
  last_error text,
  created_at timestamptz not null default now(),
  delivered_at timestamptz,
  -- GitHub refused it for good (a 4xx other than a rate limit): kept, with the error, and not sent again.
  abandoned_at timestamptz,
  unique (repo, key)
);
create index outbox_pending on outbox (repo, id) where delivered_at is null and abandoned_at is null;
`,
  },
  {
    version: 8,
    name: 'run holders',
    sql: `
-- Who runs each run, and when it last said it was alive. The leader lock is tied to one database
-- connection: when that connection is lost (a restart, a network cut) the lock goes with it while
-- the process may still be applying. A reconciler that gets the lock next leaves an unfinished run
-- alone while its holder is alive: on the same host, its process (pid and start time) exists; on
-- another, it renewed alive_at within the lease.
alter table runs add column holder jsonb;
alter table runs add column alive_at timestamptz;
`,
  },
  {
    version: 9,
    name: 'narrative usage',
    sql: `
-- The tokens each narrative used, as the LLM's API reported them (usage.prompt_tokens and
-- usage.completion_tokens), under the run that asked for it: what the LLM costs, per run and model.
create table narrative_usage (
  id bigint generated always as identity primary key,
  run_id bigint not null references runs (id) on delete cascade,
  model text not null,
  prompt_tokens integer not null check (prompt_tokens >= 0),
  completion_tokens integer not null check (completion_tokens >= 0),
  created_at timestamptz not null default now()
);
create index narrative_usage_run on narrative_usage (run_id);
`,
  },
  {
    version: 10,
    name: 'run records',
    sql: `
-- What a run did beyond its states, for fleetspec runs show and fleetspec status. apply: an approved
-- apply (its PR and commit, who approved, what was applied, failed, not done and rolled back), written
-- with its outcome. report: a tick's report (the PRs it planned and their verdicts, the commits of the
-- default branch, drift per kind, findings, errors, how long it took), written when the tick ends.
alter table runs add column apply jsonb;
alter table runs add column report jsonb;
`,
  },
  {
    version: 11,
    name: 'commands',
    sql: `
-- What asked for a run: also a GitHub webhook delivery that is no push or pull request event
-- (issues, reviews, checks) and a command (a /fleetspec comment, fleetspec rollback).
alter table runs drop constraint runs_trigger_check;
alter table runs add constraint runs_trigger_check
  check (trigger in ('cron', 'manual', 'push', 'pull_request', 'merge', 'drift', 'webhook', 'command'));

-- Commands people gave fleetspec: a /fleetspec comment on a pull request (comment_id: GitHub's id,
-- so a comment is acted on once) or the CLI (fleetspec rollback). pr: the pull request it names.
-- state: pending until a tick acts on it; done, refused (who asked may not, or it cannot be done:
-- detail says why) or failed. result_pr/result_branch: the revert pull request a rollback opened.
-- requested_at: when the person asked (the comment's creation on GitHub); opened_at: when the revert
-- PR existed; planned_at: when its plan was published (the rollback SLA is measured from these).
create table commands (
  id bigint generated always as identity primary key,
  repo text not null,
  source text not null check (source in ('comment', 'cli')),
  comment_id bigint,
  pr integer not null check (pr > 0),
  command text not null check (command in ('rollback', 'plan')),
  requested_by text,
  requested_by_id bigint,
  requested_at timestamptz not null,
  state text not null default 'pending' check (state in ('pending', 'done', 'refused', 'failed')),
  detail text,
  result_pr integer,
  result_branch text,
  notes jsonb,
  run_id bigint references runs (id) on delete set null,
  opened_at timestamptz,
  planned_at timestamptz,
  created_at timestamptz not null default now(),
  unique (repo, comment_id)
);
create index commands_pending on commands (repo, state) where state = 'pending';
create index commands_branch on commands (repo, result_branch);

-- How far the loop has read a GitHub list it pages through by time (the repository's comments).
create table loop_cursors (
  repo text not null,
  name text not null,
  at timestamptz not null,
  primary key (repo, name)
);
`,
  },
  {
    version: 12,
    name: 'agents',
    sql: `
-- Changes agents proposed (the MCP server's propose tools, fleetspec propose): who asked (an MCP
-- role, or the command line) and why, and the people behind it (the role's GitHub users), who
-- count as authors of the change under the two-person rule and so cannot approve it.
create table proposals (
  id bigint generated always as identity primary key,
  repo text not null,
  branch text not null,
  pr integer,
  role text,
  via text not null check (via in ('mcp', 'cli')),
  reason text not null,
  authors text[] not null default '{}',
  created_at timestamptz not null default now()
);
create index proposals_branch on proposals (repo, branch);

-- Tokens of role agents for fleetspec mcp: only a SHA-256 of each is kept; revoked ones stay for the audit.
create table mcp_tokens (
  id bigint generated always as identity primary key,
  role text not null,
  token_sha256 text not null unique check (token_sha256 ~ '^[0-9a-f]{64}$'),
  label text,
  created_at timestamptz not null default now(),
  last_used_at timestamptz,
  revoked_at timestamptz
);

-- Every tool call of the MCP server: which role, which tool, what it was asked (secret values never),
-- and what came of it.
create table mcp_audit (
  id bigint generated always as identity primary key,
  role text,
  token_id bigint references mcp_tokens (id) on delete set null,
  tool text not null,
  args jsonb,
  outcome text not null check (outcome in ('ok', 'refused', 'invalid', 'error')),
  detail text,
  at timestamptz not null default now()
);
create index mcp_audit_at on mcp_audit (at);
`,
  },
];

const checksum = (m: Migration) => createHash('sha256').update(m.sql).digest('hex');

/** Applies the migrations not yet applied, all in one transaction; returns the versions applied. */
export async function migrate(db: Db, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  return db.transaction(async (tx) => {
    // Two instances starting at once: the second waits here, then finds nothing to do.
    await tx.query(`select pg_advisory_xact_lock(hashtextextended('fleetspec:migrate', 0))`);
    await tx.exec(`create table if not exists fleetspec_migrations (
      version integer primary key,
      name text not null,
      checksum text not null,
      applied_at timestamptz not null default now()
    )`);
    const applied = await tx.query<{ version: number; name: string; checksum: string }>(
      'select version, name, checksum from fleetspec_migrations order by version',
    );
    const known = new Map(migrations.map((m) => [m.version, m]));
    for (const row of applied) {
      const m = known.get(row.version);
      if (!m) {
        throw new StateError(
          `the state store has migration ${row.version} (${row.name}), which this fleetspec does not know`,
          'a newer fleetspec has used this store; upgrade fleetspec',
        );
      }
      if (checksum(m) !== row.checksum) {
        throw new StateError(
          `migration ${m.version} (${m.name}) changed after it was applied`,
          'applied migrations are immutable; add a new migration instead of editing an old one',
        );
      }
    }
    const done = new Set(applied.map((r) => r.version));
    const pending = migrations.filter((m) => !done.has(m.version)).sort((a, b) => a.version - b.version);
    for (const m of pending) {
      await tx.exec(m.sql);
      await tx.query('insert into fleetspec_migrations (version, name, checksum) values ($1, $2, $3)', [m.version, m.name, checksum(m)]);
    }
    return pending.map((m) => m.version);
  });
}
