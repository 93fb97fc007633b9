// SSH: the client key is readable by fleetspec and by nobody else, and every spec fleetspec would
// connect to pins its host key. Read from the specs only: doctor never connects to a host.
import { readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Host } from '../kinds/hosts/index.js';
import type { Role } from '../kinds/roles/index.js';
import type { Resource } from '../kinds/kind.js';
import { shellQuote } from '../ssh/quote.js';
import { positionOf } from '../specs/source.js';
import { fail, ok, warn, type CheckGroup, type CheckResult } from './check.js';

/** The key the live commands and the loop use: --ssh-key, FLEETSPEC_SSH_KEY, else ~/.ssh/id_ed25519. */
export function sshKeyPath(explicit: string | undefined, env: NodeJS.ProcessEnv): string {
  return explicit ?? env.FLEETSPEC_SSH_KEY ?? join(homedir(), '.ssh', 'id_ed25519');
}

async function checkKey(path: string, needed: boolean): Promise<CheckResult> {
  const make = `make one for fleetspec: ssh-keygen -t ed25519 -N '' -f ${shellQuote(path)} (or pass --ssh-key / set FLEETSPEC_SSH_KEY), and add its .pub to each host's authorized_keys`;
  const info = await stat(path).catch((err: NodeJS.ErrnoException) => err);
  if (info instanceof Error) {
    const why = (info as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : info.message;
    return needed ? fail('ssh.key', `no SSH key at ${path} (${why})`, make) : warn('ssh.key', `no SSH key at ${path} (${why}); no spec needs one yet`, make);
  }
  if (!info.isFile()) return fail('ssh.key', `${path} is not a file`, make);
  const uid = process.getuid?.();
  if (uid !== undefined && info.uid !== uid) return fail('ssh.key', `${path} belongs to uid ${info.uid}, not to this user (uid ${uid})`, `chown $(id -u): ${shellQuote(path)}`);
  const mode = info.mode & 0o777;
  const octal = mode.toString(8).padStart(4, '0');
  if (mode & 0o077) return fail('ssh.key', `${path} is open to ${[mode & 0o070 ? 'its group' : '', mode & 0o007 ? 'all users' : ''].filter(Boolean).join(' and ')} (mode ${octal}); ssh refuses such a key, and anyone who reads it reaches every host`, `chmod 600 ${shellQuote(path)}`);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    return fail('ssh.key', `cannot read ${path}: ${(err as Error).message}`, 'run doctor as the user fleetspec runs as (sudo -u fleetspec)');
  }
  // Only the header line is looked at; the key itself is never shown.
  if (!/^-----BEGIN [A-Z ]*PRIVATE KEY-----/m.test(text)) return fail('ssh.key', `${path} is not a private key`, make);
  return ok('ssh.key', `${path} (mode ${octal}, yours)`);
}

const where = (r: Resource, path: (string | number)[]) => {
  const { line, col } = positionOf(r.doc, path, { key: true });
  return `${r.doc.source.file}:${line}:${col}`;
};

export const ssh: CheckGroup = {
  name: 'ssh',
  async run(ctx) {
    const { loadSpecs } = await import('../specs/load.js');
    const loaded = await loadSpecs(ctx.settings.specs);
    const results: CheckResult[] = [];
    const missing = loaded.diagnostics.find((d) => d.code === 'path.missing' || d.code === 'path.no-specs');
    if (missing) {
      results.push(fail('specs', `${ctx.settings.specs}: ${missing.message}`, 'pass --specs with the specs folder of a clone of the spec repository'));
    } else {
      const errors = loaded.diagnostics.filter((d) => d.severity === 'error').length;
      if (errors) results.push(warn('specs', `${errors} error(s) in ${ctx.settings.specs}; their resources were left out of these checks`, `fleetspec validate ${shellQuote(ctx.settings.specs)} says what and where`));
    }
    // What fleetspec connects to: hosts with ssh settings, and roles whose files it manages (keys, .env, instructions).
    const instructed = new Set(loaded.index.all('instructions').flatMap((i) => ((i.value as { targets?: { role: string }[] }).targets ?? []).map((t) => t.role)));
    const targets = loaded.resources.filter((r) => {
      if (r.kind.folder === 'hosts') return Boolean((r.value as Host).ssh);
      if (r.kind.folder === 'roles') return Boolean((r.value as Role).authorizedKeys || (r.value as Role).llm || instructed.has(r.name));
      return false;
    });
    const unpinned = targets.filter((r) => !(r.value as { ssh?: { hostKey?: string } }).ssh?.hostKey);
    results.unshift(await checkKey(sshKeyPath(ctx.settings.sshKey, ctx.env), targets.length > 0));
    if (unpinned.length) {
      results.push(
        fail(
          'ssh.hostkeys',
          `${unpinned.length} of ${targets.length} SSH endpoint(s) pin no host key: ${unpinned.map((r) => `${r.label} (${where(r, ['ssh'])})`).join(', ')}`,
          'read each key on the host itself (cat /etc/ssh/ssh_host_ed25519_key.pub) and set it as ssh.hostKey in the spec; doctor never connects to hosts',
        ),
      );
    } else if (targets.length) {
      results.push(ok('ssh.hostkeys', `all ${targets.length} SSH endpoint(s) pin their host key`));
    } else if (!missing) {
      results.push(ok('ssh.hostkeys', 'no spec has ssh settings: fleetspec contacts no host'));
    }
    return results;
  },
};
