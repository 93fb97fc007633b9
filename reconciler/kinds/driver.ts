// The contract of a kind that reaches a live system: read live, diff, list actions, apply.
// Level-based (controller-runtime's lesson): a driver never trusts what it did before; it
// reads live afresh and acts on the difference, so running it twice is safe. The engine,
// not the driver, owns ordering, stopping at the first failure and rolling back.
import type { NotRead, PlanFinding, PlanMode, ResourceChange } from '../plan/plan.js';
import type { SshPool } from '../ssh/pool.js';
import type { StacksContext } from '../stacks/driver.js';
import type { Queryable } from '../state/db.js';
import type { Resource, SpecIndex } from './kind.js';
import type { IssueTracker } from './tickets/issue.js';

export interface LiveContext {
  mode: PlanMode;
  /** The state store (ports, secrets). */
  db: Queryable;
  /** Every valid desired resource, for drivers that need other kinds (models need their host). */
  index: SpecIndex;
  /** Present in live mode with a client key: the one SSH pool of this run. */
  ssh?: SshPool;
  /** Why SSH targets are not read when `ssh` is absent ("offline (plan with --live to read it)"). */
  noSsh: string;
  /** The public half of the client key ("ssh-ed25519 AAAA..."), so a role's authorized_keys cannot lock fleetspec out. */
  sshPublicKey?: string;
  /**
   * Resolves a `secret:` reference for `user` (kind/name of the resource whose spec names it)
   * from the store: undefined when there is no secret key or no such secret; throws when `user`
   * is outside the secret's scope. Values stay inside drivers: they never enter a plan, a log or
   * a message.
   */
  secret(ref: string, user: string): Promise<string | undefined>;
  /** One line of progress for a person watching (stderr); never a secret. */
  progress(message: string): void;
  /**
   * Planning a branch (a pull request): the trusted commit's specs. A read that sends a spec value
   * to a live system (a health probe's request, a backup folder's listing, the port or address an
   * API is asked at) is made only when these specs make the same read already: a change nobody
   * approved chooses no request. Absent on the default branch, whose specs are the trusted ones.
   */
  trusted?: SpecIndex;
  /** Terraform stacks (dns, vms): the committed output folder and how to run terraform. */
  stacks: StacksContext;
  /** GitHub issues, for tickets: present in live mode when a repository and token are configured. */
  issues?: IssueTracker;
  /** Why issues are not read when `issues` is absent. */
  noIssues?: string;
}

/** What a driver found: the changes, what it could not read, and findings that are not changes. */
export interface DriverPlan {
  changes: ResourceChange[];
  unknown: NotRead[];
  findings: PlanFinding[];
  /** What was read live, by resource name, for the policies (hosts: their facts). */
  facts?: ReadonlyMap<string, unknown>;
}

/** How to put back what one applied change altered, from the version saved before it. */
export interface Rollback {
  /** What the rollback restores, e.g. "restored ~/.env from ~/.env.fleetspec-prev on roles/manager". */
  description: string;
  run(): Promise<void>;
}

export interface Driver<Live = unknown> {
  /** The kind folder this driver reconciles, e.g. `roles`. */
  folder: string;
  /** Reads the live state behind the desired resources; never throws for one unreachable target (it becomes unknown). */
  readLive(desired: Resource[], ctx: LiveContext): Promise<Live>;
  /**
   * Optional: starts, before the store is open, the read-only SSH commands readLive will run
   * (SshPool.prefetch), so that a live plan's hosts work while the store opens. Never throws.
   */
  prefetch?(desired: Resource[], ssh: SshPool): void;
  /** Desired against live: pure, deterministic, no I/O. */
  diff(desired: Resource[], live: Live, ctx: Pick<LiveContext, 'index' | 'mode'>): DriverPlan;
  /** The concrete steps apply takes for one change, for people reading a plan ("write ~/.env"). */
  actions(change: ResourceChange): string[];
  /**
   * Carries out one change of this kind. Returns how to roll it back, or undefined when there is
   * nothing to undo (drift is reported, not applied). Throws on failure, leaving live as it was.
   */
  apply(change: ResourceChange, ctx: LiveContext): Promise<Rollback | undefined>;
}

/** Declares a driver with its live type inferred. */
export function defineDriver<Live>(driver: Driver<Live>): Driver<Live> {
  return driver;
}

/** Reads every desired resource at once (the SSH pool bounds the concurrency), by name. */
export async function readEach<T, V>(desired: readonly Resource[], read: (resource: Resource<V>) => Promise<T>): Promise<Map<string, T>> {
  return new Map(await Promise.all(desired.map(async (r) => [r.name, await read(r as Resource<V>)] as const)));
}

/** The NotRead entries for every desired resource of a kind, with one reason (and the remote excerpt it quotes, if any). */
export function notRead(desired: readonly Resource[], reason: string, remote?: string): NotRead[] {
  return desired.map((r) => ({ kind: r.kind.folder, name: r.name, reason, ...(remote === undefined ? {} : { remote }) }));
}

/** Why a branch's read is not made: it is not one the trusted specs make (LiveContext.trusted). */
export const UNTRUSTED_READ = 'new in this change: read once it is approved and merged (a pull request\'s plan sends no request the trusted specs do not)';
