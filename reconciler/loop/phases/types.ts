// What the tick and its phases share: the services a phase calls, the report it adds to, the stop signal.
import type { GitHub } from '../../github/client.js';
import type { SpecIndex } from '../../kinds/kind.js';
import type { SpecRepo } from '../../git/repo.js';
import type { StackName } from '../../stacks/model.js';
import type { NarrativeConfig } from '../../narrative/narrate.js';
import type { NarrativeBudget } from '../../narrative/budget.js';
import type { EngineOptions } from '../../plan/engine.js';
import type { Db } from '../../state/db.js';
import type { RunState } from '../../state/ledger.js';
import type { MainOutcome } from '../../state/loop.js';
import type { PolicyContext } from '../../policies/index.js';
import type { Approvers } from '../approval.js';
import type { FindingAction } from '../findings.js';
import type { ScaleAction } from '../scale.js';
import type { PulledTicket } from '../tickets.js';
import type { TickWatch } from '../watchdog.js';
import type { DashboardResult } from '../dashboard.js';
import type { Held } from './windows.js';

/** fleetspec's drift branches, one per kind: fleetspec/drift-<kind>. */
export const DRIFT_PREFIX = 'fleetspec/drift-';

/** The services every phase may call; the facts a phase decides on are its parameters. */
export interface Services {
  db: Db;
  /** owner/repo: the ledger's and the leader lock's key. */
  repoKey: string;
  git: SpecRepo;
  github: GitHub;
  specsPath: string;
  llm?: NarrativeConfig;
  llmProblem?: string;
  /** Engine options for live plans (store, SSH pool, secrets, terraform); specs and stacks folders are the checkout's. */
  engine: EngineOptions;
  /** SIGTERM or the tick's budget: no new work starts, an apply in progress finishes. The reason is a TickAbandoned. */
  signal?: AbortSignal;
  /** The tick's watchdog (loop/watchdog.ts): its phase, its waits, and the start of an apply. */
  watch?: TickWatch;
  /** The narratives' shared budget and breaker for this tick; absent: each narrative on its own timeout. */
  narratives?: NarrativeBudget;
  progress(message: string): void;
  /** The clock: the real one unless a test gives its own (sync windows, the rollback's times). */
  now?: () => Date;
}

/** The rules of the trusted base: who may approve and which policies judge, from the last commit fleetspec accepted. */
export interface TrustedRules {
  /** The trusted commit. */
  sha: string;
  approvers: Approvers;
  policy: PolicyContext;
  /** Digest of approvers and policies, recorded with each plan and compared at apply. */
  digest: string;
  /** The secret references each stack gets from the trusted specs: a branch's plan hands terraform no other. */
  stackSecrets: Partial<Record<StackName, readonly string[]>>;
  /** The trusted commit's specs: a branch's plan makes only the live reads these make (LiveContext.trusted). */
  index: SpecIndex;
}

export interface TickReport {
  run: number;
  state: RunState;
  reason: string;
  /** Runs and applies a dead process left unfinished; reports (phases/report.ts) delivered at the start of the tick, when there were any. */
  recovered: { runs: number[]; applies: string[]; reports?: { delivered: number; waiting: number; abandoned: string[] } };
  branches: { branch: string; sha: string; pr: number; action: 'opened' | 'updated' | 'unchanged'; status: string }[];
  main: { sha: string; outcome: MainOutcome; pr: number | null; detail: string | null }[];
  /** `rollback` after a failed apply: whether everything done was undone. */
  applied?: { sha: string; pr: number; changes: number; status: string; rollback?: 'complete' | 'incomplete' };
  drift: { kind: string; pr: number; action: 'opened' | 'updated' | 'unchanged' | 'closed' }[];
  /** Issues opened on GitHub with the ticket label that became pull requests this tick. */
  pulled: PulledTicket[];
  /** What the findings' tickets needed this tick: PRs proposing or closing a ticket, and PRs withdrawn. */
  findings: FindingAction[];
  /** The /fleetspec commands (and `fleetspec rollback`) acted on this tick. */
  commands: { id: number; command: string; pr: number; by: string; state: 'done' | 'refused'; detail: string; resultPr?: number }[];
  /** The VM resize proposals the vm-scale rule needed this tick (loop/scale.ts), when there were any. */
  scale?: ScaleAction[];
  /** What sync windows hold this tick (an approved merge, drift PRs): which window and when it goes (phases/windows.ts). */
  held?: Held[];
  /** What is suspended, by the trusted commit's specs and policies, one line each (policies/suspend.ts). */
  suspended?: string[];
  /** Default-branch commits left for the next tick. */
  waiting: number;
  /** Branches that could not be planned this tick (the others were); the run ends FAILED. */
  errors: string[];
  /** The dashboard issue this tick, when the tick keeps one. */
  dashboard?: DashboardResult;
  durationMs: number;
}

/** Thrown when a stop was asked for before the tick reached the point of no return. */
export class TickAbandoned extends Error {}
