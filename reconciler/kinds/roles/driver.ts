// Roles on their hosts: the role user's authorized_keys and the LLM lines of its .env, read and
// written over the role's own SSH endpoint (seeds 000/001: ssh-manager on 2202 and so on).
// Writes are atomic (temp file + rename) and keep the previous version beside the file for
// rollback. Secret values are resolved only here, go to the host on stdin, and never appear
// in a plan, a command line or a message.
import type { NotRead, PlanFinding, ResourceChange } from '../../plan/plan.js';
import { remoteExcerpt, remoteField, remoteOf, RemoteTextError } from '../../remote-text.js';
import { fingerprint } from '../../ssh/keys.js';
import type { ExecResult, SshSession, SshTarget } from '../../ssh/pool.js';
import { sh, shellQuote } from '../../ssh/quote.js';
import { defineDriver, readEach, type LiveContext, type Rollback } from '../driver.js';
import { specLocation, unreachable } from '../hosts/driver.js';
import type { Host } from '../hosts/index.js';
import type { Resource } from '../kind.js';
import { AUTHORIZED_KEYS, DEFAULT_ENV_FILE, desiredEnv, envFileOf, mergeEnv, parseAuthorizedKeys, parseEnv, renderAuthorizedKeys } from './files.js';
import type { Role } from './index.js';

/** The saved previous version of a file written by apply, beside it. */
export const PREVIOUS_SUFFIX = '.fleetspec-prev';

/** The role's SSH endpoint: its host's address, the role's own port, user and host key. */
export function roleTarget(resource: Resource<Role>, ctx: Pick<LiveContext, 'index'>): SshTarget | string {
  const role = resource.value;
  if (!role.host) return `no host set in ${specLocation(resource, ['name'])}`;
  const host = ctx.index.get('hosts', role.host) as Resource<Host> | undefined;
  if (!host) return `host ${role.host} is not in specs`;
  return {
    label: resource.label,
    host: host.value.address,
    port: role.ssh.port,
    user: role.ssh.user,
    ...(role.ssh.hostKey ? { hostKey: role.ssh.hostKey } : {}),
    where: specLocation(resource, role.ssh.hostKey ? ['ssh', 'hostKey'] : ['ssh']),
  };
}

/** Files a role manages, relative to the role user's home. */
function managedFiles(role: Role): string[] {
  return [...(role.authorizedKeys ? [AUTHORIZED_KEYS] : []), ...(role.llm ? [envFileOf(role.llm)] : [])];
}

/** A remote command that failed, quoting what it printed on stderr only as a short excerpt. */
function failed(what: string, code: number, stderr: string): RemoteTextError {
  const remote = remoteExcerpt(stderr);
  return new RemoteTextError(`${what} failed (exit ${code}): ${remote}`, remote);
}

/** Reads files relative to $HOME in one command; base64 keeps any byte intact. */
async function readFiles(session: SshSession, files: readonly string[]): Promise<Map<string, string | undefined>> {
  const script = files
    .map((f) => sh`if [ -f ${f} ]; then printf '@@file %s\n' ${f}; base64 < ${f}; else printf '@@missing %s\n' ${f}; fi`)
    .join('; ');
  const result = await session.exec(`cd "$HOME" && { ${script}; }`);
  if (result.code !== 0) throw failed(`reading ${files.join(', ')}`, result.code, result.stderr.trim().split('\n')[0] ?? '');
  const out = new Map<string, string | undefined>();
  let current: string | undefined;
  let chunks: string[] = [];
  const flush = () => current !== undefined && out.set(current, Buffer.from(chunks.join(''), 'base64').toString('utf8'));
  for (const line of result.stdout.split('\n')) {
    const file = /^@@file (.*)$/.exec(line);
    const missing = /^@@missing (.*)$/.exec(line);
    if (file || missing) {
      flush();
      current = file ? file[1]! : undefined;
      chunks = [];
      if (missing) out.set(missing[1]!, undefined);
    } else chunks.push(line.trim());
  }
  flush();
  return out;
}

/**
 * Writes `content` (sent on stdin) to `file` under $HOME: temp file, previous version saved
 * as file.fleetspec-prev, rename. Prints "had" or "new" so rollback knows what to restore.
 * Every command that takes a path ends its options with `--`. The temp file holds the resolved
 * API key: a failed write removes it, from the remote shell (a trap, which also runs on a
 * hang-up, such as a dropped connection) and from here (a command killed on timeout runs no trap).
 */
export async function writeFileAtomic(session: SshSession, file: string, content: string): Promise<'had' | 'new'> {
  const prev = file + PREVIOUS_SUFFIX;
  const tmp = `${file}.fleetspec-tmp`;
  const command = [
    'set -e',
    'cd "$HOME"',
    'umask 077',
    sh`trap ${`rm -f -- ${shellQuote(tmp)}`} EXIT`,
    "trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 143' TERM",
    sh`mkdir -p -- "$(dirname -- ${file})"`,
    sh`rm -f -- ${tmp}`,
    sh`cat > ${tmp}`,
    sh`if [ -e ${file} ]; then cp -p -- ${file} ${prev}; echo had; else rm -f -- ${prev}; echo new; fi`,
    sh`mv -f -- ${tmp} ${file}`,
    'trap - EXIT',
  ].join('\n');
  let result: ExecResult | undefined;
  try {
    result = await session.exec(command, { stdin: content });
  } finally {
    if (result?.code !== 0) await session.exec(sh`cd "$HOME" && rm -f -- ${tmp}`).catch(() => {});
  }
  if (result.code !== 0) {
    throw failed(`writing ~/${file}`, result.code, result.stderr.trim().split('\n').pop() ?? '');
  }
  return result.stdout.includes('had') ? 'had' : 'new';
}

export async function restoreFile(session: SshSession, file: string, was: 'had' | 'new'): Promise<void> {
  const command =
    was === 'had' ? sh`cd "$HOME" && mv -f -- ${file + PREVIOUS_SUFFIX} ${file}` : sh`cd "$HOME" && rm -f -- ${file}`;
  const result = await session.exec(command);
  if (result.code !== 0) throw failed(`restoring ~/${file}`, result.code, result.stderr.trim());
}

/** True when writing the role's authorized_keys would shut out the key fleetspec connects with. */
function locksOut(role: Role, clientKey: string | undefined): boolean {
  if (!role.authorizedKeys || !clientKey) return false;
  const blob = clientKey.split(' ')[1];
  return !role.authorizedKeys.some((k) => k.trim().split(/\s+/)[1] === blob);
}

/** How a key shows in a plan: its fingerprint and comment, not the long base64. */
const showKey = (line: string) => {
  const [type, blob, ...comment] = line.split(' ');
  return `${fingerprint(`${type} ${blob}`)}${comment.length ? ` ${comment.join(' ')}` : ''}`;
};

interface RoleLive {
  files: Map<string, string | undefined>;
  /** The spec's authorized_keys leaves out the key fleetspec logs in with. */
  locksOut: boolean;
  /** For each secret-backed variable: does the live value equal the resolved secret? undefined: cannot tell. */
  secretMatches: Map<string, boolean | undefined>;
  /** Why a secret could not be compared. */
  secretProblems: string[];
}

type RoleRead = { live: RoleLive } | { unknown: string; remote?: string };

const unavailable = (ref: string) => `${ref} is not available (no FLEETSPEC_SECRET_KEY, or no such secret: fleetspec secrets set ${ref.replace(/^secret:/, '')})`;

async function readRole(resource: Resource<Role>, ctx: LiveContext): Promise<RoleRead> {
  const role = resource.value;
  const files = managedFiles(role);
  if (files.length === 0) return { live: { files: new Map(), locksOut: false, secretMatches: new Map(), secretProblems: [] } };
  if (!ctx.ssh) return { unknown: ctx.noSsh };
  const target = roleTarget(resource, ctx);
  if (typeof target === 'string') return { unknown: target };
  try {
    const read = await ctx.ssh.run(target, (s) => readFiles(s, files));
    const secretMatches = new Map<string, boolean | undefined>();
    const secretProblems: string[] = [];
    if (role.llm) {
      const liveEnv = parseEnv(read.get(role.llm.envFile ?? DEFAULT_ENV_FILE) ?? '');
      for (const [variable, ref] of Object.entries(desiredEnv(role.llm).secrets)) {
        const have = liveEnv.get(variable);
        const want = await ctx.secret(ref, `roles/${resource.name}`);
        if (have === undefined) secretMatches.set(variable, false);
        else if (want === undefined) (secretMatches.set(variable, undefined), secretProblems.push(unavailable(ref)));
        else secretMatches.set(variable, have === want);
      }
    }
    return { live: { files: read, locksOut: locksOut(role, ctx.sshPublicKey), secretMatches, secretProblems } };
  } catch (err) {
    return { unknown: unreachable(err), ...remoteField(remoteOf(err)) };
  }
}

/** The role's managed state as a plan shows it: keys by fingerprint, secrets by reference only. */
function describe(role: Role, live: RoleLive | undefined) {
  const before: Record<string, unknown> = {};
  const after: Record<string, unknown> = {};
  const differs: string[] = [];
  if (role.authorizedKeys) {
    const want = role.authorizedKeys.map((k) => k.trim().replace(/\s+/g, ' '));
    const text = live?.files.get(AUTHORIZED_KEYS);
    const have = text === undefined ? undefined : parseAuthorizedKeys(text);
    after.authorizedKeys = want.map(showKey);
    before.authorizedKeys = have?.map((k) => (/^\S+ [A-Za-z0-9+/=]+( |$)/.test(k) ? showKey(k) : k)) ?? null;
    if (!have || have.length !== want.length || [...have].sort().join('\n') !== [...want].sort().join('\n')) differs.push(AUTHORIZED_KEYS);
  }
  if (role.llm) {
    const file = role.llm.envFile ?? DEFAULT_ENV_FILE;
    const text = live?.files.get(file);
    const liveEnv = parseEnv(text ?? '');
    const { values, secrets } = desiredEnv(role.llm);
    const wantEnv: Record<string, string> = { ...values };
    const haveEnv: Record<string, string | null> = {};
    let envDiffers = text === undefined;
    for (const [variable, value] of Object.entries(values)) {
      haveEnv[variable] = liveEnv.get(variable) ?? null;
      if (liveEnv.get(variable) !== value) envDiffers = true;
    }
    for (const [variable, ref] of Object.entries(secrets)) {
      wantEnv[variable] = ref;
      const match = live?.secretMatches.get(variable);
      haveEnv[variable] = !liveEnv.has(variable) ? null : match === true ? ref : match === false ? '(a different value)' : '(set; not compared)';
      if (match === false) envDiffers = true;
    }
    // Managed variables the spec no longer sets are removed.
    for (const variable of ['LLM_MODEL', 'LLM_BASE_URL', 'OPENROUTER_API_KEY', 'OPENAI_API_KEY']) {
      if (liveEnv.has(variable) && !(variable in wantEnv)) {
        haveEnv[variable] = variable.endsWith('_API_KEY') ? '(set)' : liveEnv.get(variable)!;
        envDiffers = true;
      }
    }
    before.env = text === undefined ? null : { file, ...haveEnv };
    after.env = { file, ...wantEnv };
    if (envDiffers) differs.push(file);
  }
  return { before, after, differs };
}

export const rolesDriver = defineDriver<Map<string, RoleRead>>({
  folder: 'roles',
  readLive: (desired, ctx) => readEach<RoleRead, Role>(desired, (r) => readRole(r, ctx)),
  diff(desired, live) {
    const plan = { changes: [] as ResourceChange[], unknown: [] as NotRead[], findings: [] as PlanFinding[] };
    for (const resource of desired as Resource<Role>[]) {
      const role = resource.value;
      if (managedFiles(role).length === 0) continue;
      const read = live.get(resource.name);
      if (!read || 'unknown' in read) {
        plan.unknown.push({ kind: 'roles', name: resource.name, reason: read && 'unknown' in read ? read.unknown : 'not read', ...remoteField(read && 'unknown' in read ? read.remote : undefined) });
        continue;
      }
      if (read.live.locksOut) {
        plan.findings.push({
          kind: 'roles',
          name: resource.name,
          code: 'roles.lockout',
          severity: 'error',
          message: "authorizedKeys leaves out the key fleetspec connects with; writing it would lock fleetspec out of this role",
          hint: `add fleetspec's public key to authorizedKeys in ${specLocation(resource, ['authorizedKeys'])}`,
        });
      }
      for (const problem of read.live.secretProblems) {
        plan.findings.push({ kind: 'roles', name: resource.name, code: 'secret.unavailable', severity: 'warning', message: `cannot compare the live API key: ${problem}`, hint: 'set FLEETSPEC_SECRET_KEY and store the secret, then plan again' });
      }
      const { before, after, differs } = describe(role, read.live);
      const created = [...read.live.files.values()].every((t) => t === undefined);
      plan.changes.push({
        kind: 'roles',
        name: resource.name,
        action: differs.length === 0 ? 'no-op' : created ? 'create' : 'update',
        before: created ? null : before,
        after,
        reason: differs.length === 0 ? 'files match the spec' : `${differs.map((f) => `~/${f}`).join(' and ')} ${created ? 'missing' : 'differ from the spec'}`,
      });
    }
    return plan;
  },
  actions(change) {
    if (change.action !== 'create' && change.action !== 'update') return [];
    const after = change.after as { authorizedKeys?: unknown; env?: { file: string } };
    return [
      ...(after.authorizedKeys ? [`write ~/${AUTHORIZED_KEYS} (previous version kept as ~/${AUTHORIZED_KEYS}${PREVIOUS_SUFFIX})`] : []),
      ...(after.env ? [`set the LLM lines of ~/${after.env.file}, secrets resolved at apply (previous version kept as ~/${after.env.file}${PREVIOUS_SUFFIX})`] : []),
    ];
  },
  async apply(change, ctx) {
    if (change.action !== 'create' && change.action !== 'update') return undefined;
    const resource = ctx.index.get('roles', change.name) as Resource<Role> | undefined;
    if (!resource) throw new Error(`roles/${change.name} is not in specs any more`);
    const role = resource.value;
    const target = roleTarget(resource, ctx);
    if (!ctx.ssh || typeof target === 'string') throw new Error(`roles/${change.name} cannot be reached: ${typeof target === 'string' ? target : ctx.noSsh}`);
    if (locksOut(role, ctx.sshPublicKey)) throw new Error(`roles/${change.name}: authorizedKeys leaves out fleetspec's own key; refusing to lock it out`);
    // Resolve every secret before touching the host, so a missing one changes nothing.
    const secretValues: Record<string, string> = {};
    if (role.llm) {
      for (const [variable, ref] of Object.entries(desiredEnv(role.llm).secrets)) {
        const value = await ctx.secret(ref, `roles/${change.name}`);
        if (value === undefined) throw new Error(`roles/${change.name}: ${unavailable(ref)}`);
        secretValues[variable] = value;
      }
    }
    return ctx.ssh.run(target, async (session) => {
      const files = managedFiles(role);
      const current = await readFiles(session, files);
      const written: { file: string; was: 'had' | 'new' }[] = [];
      const restoreAll = async () => {
        for (const w of [...written].reverse()) await restoreFile(session, w.file, w.was);
      };
      try {
        if (role.authorizedKeys) {
          written.push({ file: AUTHORIZED_KEYS, was: await writeFileAtomic(session, AUTHORIZED_KEYS, renderAuthorizedKeys(role.authorizedKeys, resource.doc.source.file)) });
        }
        if (role.llm) {
          const file = role.llm.envFile ?? DEFAULT_ENV_FILE;
          const content = mergeEnv(current.get(file), { ...desiredEnv(role.llm).values, ...secretValues });
          written.push({ file, was: await writeFileAtomic(session, file, content) });
        }
      } catch (err) {
        await restoreAll();
        throw err;
      }
      const rollback: Rollback = {
        description: `restored ${written.map((w) => `~/${w.file}`).join(' and ')} on ${resource.label} from the saved versions`,
        run: () => ctx.ssh!.run(target, () => restoreAll()),
      };
      return rollback;
    });
  },
});
