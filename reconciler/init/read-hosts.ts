// Reading hosts for `init --from-hosts`: connect (trust on first use, to see the key), show the
// host key's fingerprint, pin it only once confirmed, then run the hosts kind's facts script over
// the same connection, now checked against the confirmed key, and write the spec.
import { logLine } from '../escape.js';
import { FACTS_SCRIPT, parseFacts } from '../kinds/hosts/facts.js';
import { remoteExcerpt } from '../remote-text.js';
import { fingerprint } from '../ssh/keys.js';
import type { SshTarget } from '../ssh/pool.js';
import type { InitPrompt } from '../commands/init.js';
import type { FileStatus, InitFile } from './files.js';
import { hostFileName, hostSpecFromFacts, hostSpecText, type HostTarget } from './hosts.js';

export interface HostRead {
  target: HostTarget;
  /** written or kept: the spec file; refused: key not confirmed, nothing written; failed: not read. */
  status: FileStatus | 'refused' | 'failed';
  name?: string;
  file?: string;
  hostKey?: string;
  fingerprint?: string;
  error?: string;
}

export interface ReadHostsOptions {
  privateKey: Buffer;
  /** Pin without asking (--yes). */
  yes: boolean;
  connectTimeoutMs: number;
  prompt: InitPrompt;
  /** A line for stderr, already safe for a terminal. */
  progress(line: string): void;
  /** Writes a new file, never replacing one. */
  write(file: InitFile): Promise<FileStatus>;
}

const sshTarget = (t: HostTarget, hostKey?: string): SshTarget => ({
  label: t.text,
  host: t.address,
  port: t.port,
  user: t.user,
  ...(hostKey ? { hostKey } : {}),
});

const messageOf = (error: unknown) => {
  if (!(error instanceof Error)) return String(error);
  const hint = (error as { hint?: unknown }).hint;
  return typeof hint === 'string' && hint ? `${error.message} (${hint})` : error.message;
};

export async function readHosts(targets: readonly HostTarget[], o: ReadHostsOptions): Promise<HostRead[]> {
  // Loaded only for --from-hosts: node-ssh and ssh2 are a tenth of a second of start-up.
  const { SshPool } = await import('../ssh/pool.js');
  // Trust on first use only to see the key: nothing runs on a host before its key is confirmed.
  const pool = new SshPool({ privateKey: o.privateKey, trustOnFirstUse: true, connectTimeoutMs: o.connectTimeoutMs, concurrency: 4 });
  const names = new Set<string>();
  const results: HostRead[] = [];
  try {
    // Every host is connected at once, so slow ones overlap; questions are asked in order.
    const keys = targets.map((t) => pool.run(sshTarget(t), async (session) => session.presentedHostKey));
    for (const k of keys) k.catch(() => {});
    for (const [i, target] of targets.entries()) {
      const label = logLine(target.text);
      let hostKey: string;
      try {
        hostKey = await keys[i]!;
      } catch (error) {
        o.progress(`${label}: ${logLine(messageOf(error))}`);
        results.push({ target, status: 'failed', error: messageOf(error) });
        continue;
      }
      const print = fingerprint(hostKey);
      const type = hostKey.split(' ')[0]!;
      o.progress(`${label} offers the host key ${logLine(type)} ${print}`);
      let confirmed = o.yes;
      if (!confirmed && o.prompt.interactive) {
        const answer = await o.prompt.ask(`Pin this key for ${label}? Check it first on the host: ssh-keygen -lf /etc/ssh/ssh_host_${logLine(type.replace(/^ssh-|-sha2-nistp\d+$/g, ''))}_key.pub [y/N] `);
        confirmed = /^y(es)?$/i.test(answer?.trim() ?? '');
      }
      if (!confirmed) {
        const why = o.prompt.interactive ? 'not confirmed' : 'not confirmed (no terminal to ask on)';
        o.progress(`${label}: host key ${print} ${why}; nothing written for this host. Check the fingerprint out of band, then re-run with --yes`);
        results.push({ target, status: 'refused', hostKey, fingerprint: print, error: `host key ${why}` });
        continue;
      }
      try {
        // Over the same connection, now with the confirmed key pinned: a different key is refused.
        const result = await pool.run(sshTarget(target, hostKey), (session) => session.exec(FACTS_SCRIPT));
        if (result.code !== 0) throw new Error(`the facts script exited ${result.code}: ${remoteExcerpt(result.stderr.trim().split('\n')[0] ?? '')}`);
        const spec = hostSpecFromFacts(parseFacts(result.stdout), target, hostKey, new Date());
        // Two hosts calling themselves the same get distinct names within one run.
        const base = spec.name;
        for (let n = 2; names.has(spec.name); n++) spec.name = `${base.slice(0, 60)}-${n}`;
        names.add(spec.name);
        const file = hostFileName(spec.name);
        const status = await o.write({ path: file, text: hostSpecText(spec, print) });
        results.push({ target, status, name: spec.name, file, hostKey, fingerprint: print });
      } catch (error) {
        o.progress(`${label}: ${logLine(messageOf(error))}`);
        results.push({ target, status: 'failed', hostKey, fingerprint: print, error: messageOf(error) });
      }
    }
  } finally {
    await pool.close();
  }
  return results;
}
