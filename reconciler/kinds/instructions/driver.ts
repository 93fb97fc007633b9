// Agent instructions on the fleet: each meta or project layer that lists targets owns those
// files (CLAUDE.md, AGENTS.md in a folder of a role user's home) and is one change in a plan;
// the file's fleetspec section is assembled from every core layer plus the layers of its scope,
// so one edit to a core layer is one plan that updates every target, approved once.
// Files are read over the role's SSH endpoint (bounded, untrusted: only hashes and line counts
// reach the plan) and written the way the roles driver writes .env: temp file, previous version
// kept beside it as .fleetspec-prev, rename (roles/driver.ts writeFileAtomic, restoreFile).
import { createHash } from 'node:crypto';
import { diffLines } from 'diff';
import type { NotRead, PlanFinding, ResourceChange } from '../../plan/plan.js';
import { remoteExcerpt, remoteField, remoteOf, RemoteTextError } from '../../remote-text.js';
import type { SshSession, SshTarget } from '../../ssh/pool.js';
import { sh } from '../../ssh/quote.js';
import { defineDriver, readEach, type LiveContext, type Rollback } from '../driver.js';
import { specLocation, unreachable } from '../hosts/driver.js';
import type { Resource } from '../kind.js';
import { PREVIOUS_SUFFIX, restoreFile, roleTarget, writeFileAtomic } from '../roles/driver.js';
import type { Role } from '../roles/index.js';
import { mergeInstructions, sortLayers, type Layer } from './assemble.js';
import { DEFAULT_ORDER, scopeOf, targetFiles, type Instructions } from './index.js';

/** The largest live file fleetspec reads and rewrites, in bytes. */
export const MAX_LIVE_BYTES = 256 * 1024;

/** One file a layer owns: the role whose home holds it and its path relative to that home. */
export interface OwnedFile {
  role: string;
  file: string;
}

/** A live file as read: absent, its text, or why fleetspec leaves it alone. */
export type LiveFile = { state: 'missing' } | { state: 'file'; text: string } | { state: 'refused'; why: string };

type OwnerRead = { files: Map<string, LiveFile> } | { unknown: string; remote?: string };

const fileKey = (f: OwnedFile) => `${f.role}\0${f.file}`;
const show = (f: OwnedFile) => `~/${f.file} of roles/${f.role}`;
const sha = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 16);

/** The files a resource owns, in spec order. */
export function ownedFiles(value: Instructions): OwnedFile[] {
  return (value.targets ?? []).flatMap((t) => targetFiles(t).map((file) => ({ role: t.role, file })));
}

/** The layers that make the files of `owner`, in assembly order: every core layer and the layers of its scope. */
export function layersFor(owner: Instructions, all: readonly Resource[]): Layer[] {
  const scope = scopeOf(owner);
  return sortLayers(all
    .map((r) => r.value as Instructions)
    .filter((i) => i.layer === 'core' || (scope !== undefined && scopeOf(i) === scope))
    .map((i) => ({ name: i.name, layer: i.layer, order: i.order ?? DEFAULT_ORDER, text: i.text })));
}

const strict = new TextDecoder('utf-8', { fatal: true });

/**
 * Reads files relative to $HOME in one command. A symbolic link, something that is not a
 * regular file, a file the login user does not own, one over MAX_LIVE_BYTES or one that is not
 * UTF-8 is refused (never rewritten). Files are named by index in the output, base64 in between.
 */
export async function readInstructionFiles(session: SshSession, files: readonly string[]): Promise<LiveFile[]> {
  const script = files
    .map(
      (f, i) =>
        sh`if [ -L ${f} ]; then echo ${`@@link ${i}`}; elif [ ! -e ${f} ]; then echo ${`@@missing ${i}`}; ` +
        sh`elif [ ! -f ${f} ]; then echo ${`@@notfile ${i}`}; elif [ ! -O ${f} ]; then echo ${`@@notowned ${i}`}; ` +
        sh`else echo ${`@@file ${i}`}; head -c ${MAX_LIVE_BYTES + 1} -- ${f} | base64; fi`,
    )
    .join('\n');
  const result = await session.exec(`cd "$HOME" || exit 1\n${script}`);
  if (result.code !== 0) {
    const remote = remoteExcerpt(result.stderr.trim().split('\n')[0] ?? '');
    throw new RemoteTextError(`reading ${files.map((f) => `~/${f}`).join(', ')} failed (exit ${result.code}): ${remote}`, remote);
  }
  const out: (LiveFile | undefined)[] = files.map(() => undefined);
  let current: number | undefined;
  let chunks: string[] = [];
  const flush = () => {
    if (current === undefined) return;
    const bytes = Buffer.from(chunks.join(''), 'base64');
    if (bytes.length > MAX_LIVE_BYTES) out[current] = { state: 'refused', why: `is larger than ${MAX_LIVE_BYTES / 1024} KiB` };
    else {
      try {
        out[current] = { state: 'file', text: strict.decode(bytes) };
      } catch {
        out[current] = { state: 'refused', why: 'is not UTF-8 text' };
      }
    }
    current = undefined;
    chunks = [];
  };
  const WHY: Record<string, string> = { link: 'is a symbolic link (fleetspec does not follow it)', notfile: 'is not a regular file', notowned: 'is not owned by the login user' };
  for (const line of result.stdout.split('\n')) {
    const m = /^@@(link|missing|notfile|notowned|file) (\d+)$/.exec(line);
    if (!m) {
      if (current !== undefined) chunks.push(line.trim());
      continue;
    }
    flush();
    const i = Number(m[2]);
    if (i >= files.length) continue;
    if (m[1] === 'file') current = i;
    else out[i] = m[1] === 'missing' ? { state: 'missing' } : { state: 'refused', why: WHY[m[1]!]! };
  }
  flush();
  return out.map((f, i) => f ?? { state: 'refused', why: `was not in the reply for ~/${files[i]}` });
}

/** Groups a resource's files by role, with each role's SSH target (or why there is none). */
function byRole(files: readonly OwnedFile[], ctx: Pick<LiveContext, 'index'>): Map<string, { target: SshTarget | string; files: OwnedFile[] }> {
  const out = new Map<string, { target: SshTarget | string; files: OwnedFile[] }>();
  for (const f of files) {
    let group = out.get(f.role);
    if (!group) {
      const role = ctx.index.get('roles', f.role) as Resource<Role> | undefined;
      group = { target: role ? roleTarget(role, ctx) : `role ${f.role} is not in specs`, files: [] };
      out.set(f.role, group);
    }
    group.files.push(f);
  }
  return out;
}

async function readOwner(resource: Resource<Instructions>, ctx: LiveContext): Promise<OwnerRead> {
  const files = ownedFiles(resource.value);
  if (files.length === 0) return { files: new Map() };
  if (!ctx.ssh) return { unknown: ctx.noSsh };
  const groups = byRole(files, ctx);
  for (const [role, g] of groups) if (typeof g.target === 'string') return { unknown: `roles/${role}: ${g.target}` };
  try {
    const read = new Map<string, LiveFile>();
    await Promise.all(
      [...groups.values()].map(async (g) => {
        const got = await ctx.ssh!.run(g.target as SshTarget, (s) => readInstructionFiles(s, g.files.map((f) => f.file)));
        g.files.forEach((f, i) => read.set(fileKey(f), got[i]!));
      }),
    );
    return { files: read };
  } catch (err) {
    return { unknown: unreachable(err), ...remoteField(remoteOf(err)) };
  }
}

/** What one file becomes: its new content and how it differs, or why it is left alone. */
export interface FilePlan {
  file: OwnedFile;
  change: 'create' | 'update' | 'no-op';
  content: string;
  /** sha256 (16 hex) of the live file's fleetspec section, or null when it has none (or no file). */
  before: string | null;
  /** sha256 (16 hex) of the section written. */
  after: string;
  /** "+3 -1 lines" in fleetspec's section. */
  diff: string;
}

/** Plans one file from its live state; a conflict or a refused file is a string: why it is left alone. */
export function planFile(file: OwnedFile, live: LiveFile, layers: readonly Layer[]): FilePlan | string {
  if (live.state === 'refused') return `${show(file)} ${live.why}`;
  const text = live.state === 'file' ? live.text : undefined;
  const merged = mergeInstructions(text, layers);
  if ('conflict' in merged) return `${show(file)} has ${merged.conflict}: fleetspec does not guess which section is its own; leave one begin and one end marker, or none`;
  const { section } = merged;
  const liveSection = merged.live.kind === 'section' ? merged.live.body : '';
  let added = 0;
  let removed = 0;
  for (const part of diffLines(liveSection, section)) {
    if (part.added) added += part.count;
    if (part.removed) removed += part.count;
  }
  return {
    file,
    change: text === undefined ? 'create' : merged.content === text ? 'no-op' : 'update',
    content: merged.content,
    before: merged.live.kind === 'section' ? sha(liveSection) : null,
    after: sha(section),
    diff: `+${added} -${removed} lines`,
  };
}

interface ChangeFile {
  role: string;
  file: string;
  change: 'create' | 'update' | 'no-op';
  /** sha256 (16 hex) of the section written. */
  sha256: string;
  diff: string;
}

export const instructionsDriver = defineDriver<Map<string, OwnerRead>>({
  folder: 'instructions',
  readLive: (desired, ctx) =>
    readEach<OwnerRead, Instructions>(
      desired.filter((r) => ownedFiles(r.value as Instructions).length > 0),
      (r) => readOwner(r, ctx),
    ),
  diff(desired, live) {
    const plan = { changes: [] as ResourceChange[], unknown: [] as NotRead[], findings: [] as PlanFinding[] };
    const scopes = new Set(desired.map((r) => scopeOf(r.value as Instructions)));
    const owned = new Set(desired.filter((r) => ownedFiles(r.value as Instructions).length > 0).map((r) => scopeOf(r.value as Instructions)));
    for (const resource of desired as Resource<Instructions>[]) {
      const scope = scopeOf(resource.value);
      if (scope !== undefined && scopes.has(scope) && !owned.has(scope)) {
        plan.findings.push({
          kind: 'instructions',
          name: resource.name,
          code: 'instructions.no-target',
          severity: 'warning',
          message: `no ${resource.value.layer === 'meta' ? 'meta' : `${resource.value.project} project`} layer lists targets: this layer is written nowhere`,
          hint: 'add targets: (a role and a folder in its home) to one layer of this scope',
          where: specLocation(resource, ['layer']),
        });
      }
      const files = ownedFiles(resource.value);
      if (files.length === 0) continue;
      const read = live.get(resource.name);
      if (!read || 'unknown' in read) {
        plan.unknown.push({ kind: 'instructions', name: resource.name, reason: read && 'unknown' in read ? read.unknown : 'not read', ...remoteField(read && 'unknown' in read ? read.remote : undefined) });
        continue;
      }
      const layers = layersFor(resource.value, desired);
      const planned = files.map((f) => planFile(f, read.files.get(fileKey(f)) ?? { state: 'refused', why: 'was not read' }, layers));
      const refused = planned.filter((p): p is string => typeof p === 'string');
      if (refused.length) {
        plan.unknown.push({ kind: 'instructions', name: resource.name, reason: `left alone: ${refused.join('; ')}` });
        continue;
      }
      const ok = planned as FilePlan[];
      const changed = ok.filter((p) => p.change !== 'no-op');
      const layerNames = layers.map((l) => `${l.layer}/${l.name}`);
      plan.changes.push({
        kind: 'instructions',
        name: resource.name,
        action: changed.length === 0 ? 'no-op' : ok.every((p) => p.change === 'create') ? 'create' : 'update',
        before: ok.every((p) => p.change === 'create') ? null : { files: ok.map((p) => ({ role: p.file.role, file: p.file.file, sha256: p.before })) },
        after: { layers: layerNames, files: ok.map((p): ChangeFile => ({ role: p.file.role, file: p.file.file, change: p.change, sha256: p.after, diff: p.diff })) },
        reason: changed.length === 0 ? 'every file holds the assembled section' : changed.map((p) => `${show(p.file)}: ${p.change === 'create' ? 'missing' : `section ${p.diff}`}`).join('; '),
      });
    }
    return plan;
  },
  actions(change) {
    if (change.action !== 'create' && change.action !== 'update') return [];
    const files = (change.after as { files: ChangeFile[] }).files.filter((f) => f.change !== 'no-op');
    return files.map((f) => `write fleetspec's section of ~/${f.file} on roles/${f.role} (${f.diff}; the rest of the file kept; previous version kept as ~/${f.file}${PREVIOUS_SUFFIX})`);
  },
  async apply(change, ctx) {
    if (change.action !== 'create' && change.action !== 'update') return undefined;
    const resource = ctx.index.get('instructions', change.name) as Resource<Instructions> | undefined;
    if (!resource) throw new Error(`instructions/${change.name} is not in specs any more`);
    if (!ctx.ssh) throw new Error(`instructions/${change.name} cannot be reached: ${ctx.noSsh}`);
    const ssh = ctx.ssh;
    const layers = layersFor(resource.value, ctx.index.all('instructions'));
    const groups = [...byRole(ownedFiles(resource.value), ctx)];
    for (const [role, g] of groups) if (typeof g.target === 'string') throw new Error(`instructions/${change.name}: roles/${role} cannot be reached: ${g.target}`);
    const written: { target: SshTarget; file: string; was: 'had' | 'new' }[] = [];
    const restore = async (items: typeof written) => {
      for (const w of [...items].reverse()) await ssh.run(w.target, (s) => restoreFile(s, w.file, w.was));
    };
    try {
      for (const [, g] of groups) {
        const target = g.target as SshTarget;
        await ssh.run(target, async (session) => {
          // Read again right before writing: what the project changed outside the section since the plan is kept.
          const live = await readInstructionFiles(session, g.files.map((f) => f.file));
          const planned = g.files.map((f, i) => planFile(f, live[i]!, layers));
          const refused = planned.find((p): p is string => typeof p === 'string');
          if (refused) throw new Error(`instructions/${change.name}: ${refused}`);
          for (const p of planned as FilePlan[]) {
            if (p.change === 'no-op') continue;
            written.push({ target, file: p.file.file, was: await writeFileAtomic(session, p.file.file, p.content) });
          }
        });
      }
    } catch (err) {
      await restore(written);
      throw err;
    }
    const done = [...written];
    const rollback: Rollback = {
      description: `restored ${done.map((w) => `~/${w.file} on ${w.target.label}`).join(', ')} from the saved versions`,
      run: () => restore(done),
    };
    return done.length ? rollback : undefined;
  },
});
