// Before an agent's change becomes a proposal (the MCP server's propose tools, `fleetspec propose`),
// it is checked as a reviewer would want it checked: only spec files, no secret values, valid
// against the kinds' schemas and references, judged by the trusted commit's policies, and planned
// offline. What fails comes back as located diagnostics, so the agent can correct it. The edits
// are applied to a copy of the trusted commit's specs, stacks and policies in a scratch folder:
// the checkout itself is never changed.
import { cp, lstat, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { countBySeverity, type Diagnostic } from '../diagnostics.js';
import { planFleet } from '../plan/engine.js';
import { findingProblem, type Plan } from '../plan/plan.js';
import { loadPolicies } from '../policies/index.js';
import { loadSpecs } from '../specs/load.js';
import { findSecretLiterals } from '../specs/secrets.js';
import type { Queryable } from '../state/db.js';

/** One file of an agent's change: its path under specs/ ("ports/consilio.yaml"), and its new content (null: delete it). */
export interface SpecEdit {
  path: string;
  content: string | null;
}

export const MAX_EDITS = 20;
export const MAX_EDIT_BYTES = 256 * 1024;

export interface Checked {
  /** True when nothing is an error: the change may be proposed. */
  ok: boolean;
  /** Every problem, located (file paths under specs/ as the agent gave them). */
  diagnostics: Diagnostic[];
  /** The offline plan, when the specs are valid. */
  plan?: Plan;
  /** Repository-relative paths and contents, for openProposal. */
  files: Record<string, string | null>;
}

const problem = (file: string, code: string, message: string, hint?: string, line = 1, col = 1): Diagnostic => ({ severity: 'error', code, file, line, col, message, ...(hint ? { hint } : {}) });

/** Why `path` may not be edited by an agent, or undefined. Only YAML files in a kind's folder under specs/. */
export function editPathProblem(path: string): string | undefined {
  if (typeof path !== 'string' || path === '') return 'the path is empty';
  if (path.length > 200) return 'the path is longer than 200 characters';
  if (/[\0-\x1f\\]/.test(path)) return 'the path holds control characters or backslashes';
  if (path.startsWith('/')) return 'the path is absolute; give it relative to specs/ (ports/consilio.yaml)';
  const normal = posix.normalize(path);
  if (normal !== path || normal.split('/').includes('..')) return 'the path is not in its plain form (no ., .. or doubled slashes)';
  const parts = normal.split('/');
  if (parts.length !== 2) return 'a spec file is <kind folder>/<name>.yaml, such as ports/consilio.yaml';
  if (parts[0] === 'schemas') return 'specs/schemas holds generated JSON schemas, not specs';
  if (!/^[a-z]+$/.test(parts[0]!)) return `"${parts[0]}" is not a kind folder`;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*\.ya?ml$/.test(parts[1]!)) return 'the file name is letters, digits, dots, dashes and underscores, ending in .yaml';
  return undefined;
}

export interface CheckOptions {
  /** The checkout of the trusted commit (its specs, stacks and policies are copied). */
  checkout: string;
  /** The specs folder inside the repository, such as `specs`. */
  specsPath: string;
  edits: readonly SpecEdit[];
  db: Queryable;
}

/** Checks an agent's edits against the trusted commit's specs and policies, and plans them offline. */
export async function checkEdits(o: CheckOptions): Promise<Checked> {
  const diagnostics: Diagnostic[] = [];
  const files: Record<string, string | null> = {};
  if (!o.edits.length) diagnostics.push(problem('specs/', 'proposal.empty', 'the change edits no file', 'give at least one file under specs/'));
  if (o.edits.length > MAX_EDITS) diagnostics.push(problem('specs/', 'proposal.too-many', `the change edits ${o.edits.length} files; at most ${MAX_EDITS}`, 'split it into several proposals'));
  const seen = new Set<string>();
  for (const edit of o.edits.slice(0, MAX_EDITS)) {
    const where = `specs/${String(edit.path)}`;
    const bad = editPathProblem(edit.path);
    if (bad) {
      diagnostics.push(problem(where, 'proposal.path', bad, 'an agent may change only spec files under specs/'));
      continue;
    }
    if (seen.has(edit.path)) diagnostics.push(problem(where, 'proposal.duplicate', 'the file is edited twice', 'give each file once'));
    seen.add(edit.path);
    if (edit.content !== null) {
      if (typeof edit.content !== 'string') {
        diagnostics.push(problem(where, 'proposal.content', 'the content is not text'));
        continue;
      }
      if (Buffer.byteLength(edit.content) > MAX_EDIT_BYTES) {
        diagnostics.push(problem(where, 'proposal.too-large', `the file is larger than ${MAX_EDIT_BYTES / 1024} KiB`));
        continue;
      }
      // A secret value in git is there forever: refused before anything is written, the value never repeated.
      for (const doc of parseAllDocuments(edit.content)) {
        if (doc.errors.length) continue; // the spec loader reports syntax, located
        for (const s of findSecretLiterals(doc.toJS())) diagnostics.push(problem(where, 'proposal.secret', s.message, 'write secret:path/to/key and store the value with fleetspec secrets set; a proposal never carries a secret value'));
      }
    }
    files[posix.join(o.specsPath, edit.path)] = edit.content;
  }
  if (countBySeverity(diagnostics).errors) return { ok: false, diagnostics, files };

  const scratch = await mkdtemp(join(tmpdir(), 'fleetspec-proposal-'));
  try {
    const root = join(scratch, 'repo');
    const specs = join(root, 'specs');
    await mkdir(root, { recursive: true });
    await cp(join(o.checkout, o.specsPath), specs, { recursive: true, verbatimSymlinks: true }).catch(() => mkdir(specs, { recursive: true }));
    for (const folder of ['stacks', 'policies']) {
      await cp(join(o.checkout, o.specsPath, '..', folder), join(root, folder), { recursive: true, verbatimSymlinks: true }).catch(() => undefined);
    }
    for (const edit of o.edits) {
      const path = join(specs, edit.path);
      // The copy keeps links as links: one in the way (the trusted commit's own, or its kind folder) is never written through.
      const linked = await Promise.all([dirname(path), path].map((p) => lstat(p).then((s) => s.isSymbolicLink(), () => false)));
      if (linked.some(Boolean)) {
        diagnostics.push(problem(`specs/${edit.path}`, 'proposal.link', 'the file or its folder is a symlink in the trusted commit', 'fleetspec reads and writes only plain files in specs/'));
        return { ok: false, diagnostics, files };
      }
      if (edit.content === null) await rm(path, { force: true });
      else {
        await mkdir(dirname(path), { recursive: true });
        await writeFile(path, edit.content);
      }
    }
    const loaded = await loadSpecs(specs);
    // Locations as the agent knows them: specs/<path>, not the scratch folder.
    const located = (d: Diagnostic): Diagnostic => ({ ...d, file: d.file.startsWith(specs) ? `specs${d.file.slice(specs.length)}` : d.file });
    diagnostics.push(...loaded.diagnostics.map(located));
    if (countBySeverity(loaded.diagnostics).errors) return { ok: false, diagnostics, files };
    const { set, diagnostics: policyProblems } = await loadPolicies(join(root, 'policies'));
    const planned = await planFleet({
      specs,
      mode: 'offline',
      db: o.db,
      noSsh: 'offline: a proposal is planned live by the loop once it is a pull request',
      secret: async () => undefined,
      progress: () => {},
      loaded: Promise.resolve(loaded),
      stacks: { dir: join(root, 'stacks'), workDir: join(scratch, 'terraform'), noTerraform: 'a proposal is planned offline; the loop plans it with terraform' },
      policy: { set: policyProblems.some((d) => d.severity === 'error') ? { policies: [] } : set, root, ...(policyProblems.some((d) => d.severity === 'error') ? { problems: policyProblems } : {}) },
    });
    diagnostics.push(...planned.diagnostics.filter((d) => !loaded.diagnostics.includes(d)).map(located));
    const plan = planned.plan;
    // Blocking policy findings are errors for the agent, with where and why.
    for (const f of plan?.findings ?? []) {
      if (f.severity !== 'error') continue;
      const p = findingProblem(f);
      diagnostics.push(located({ ...problem(p.file ?? `specs/${f.kind}`, p.code, p.message, p.hint, p.line ?? 1, p.col ?? 1), resource: `${f.kind}/${f.name}` }));
    }
    return { ok: countBySeverity(diagnostics).errors === 0 && Boolean(plan), diagnostics, files, ...(plan ? { plan } : {}) };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
