// Public keys and SSH errors: what the drivers need without loading node-ssh (offline plans).
import { createHash } from 'node:crypto';

export type SshErrorCode =
  | 'unreachable'
  | 'host-key-unknown'
  | 'host-key-mismatch'
  | 'auth'
  | 'timeout'
  | 'command'
  | 'closed';

/** An SSH problem for one target, with what to do about it. The message starts with the target's label. */
export class SshError extends Error {
  override name = 'SshError';
  constructor(
    readonly code: SshErrorCode,
    /** The target's label. */
    readonly target: string,
    message: string,
    readonly hint?: string,
  ) {
    super(`${target}: ${message}`);
  }
}

export interface PublicKey {
  type: string;
  blob: Buffer;
}

/** Parses "type base64 [comment]" and checks that the type written matches the key's own. */
export function parsePublicKey(text: string): PublicKey {
  const [type, base64] = text.trim().split(/\s+/);
  if (!type || !base64) throw new Error('expected the key type and its base64, separated by a space');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) throw new Error('the second field is not base64');
  const blob = Buffer.from(base64, 'base64');
  const inner = keyTypeOf(blob);
  if (inner !== type) throw new Error(`the key says it is ${inner || 'nothing readable'}, not ${type}`);
  return { type, blob };
}

/** The algorithm name that starts an SSH public key blob (a uint32 length, then the name). */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) return '';
  const length = blob.readUInt32BE(0);
  if (length > 64 || 4 + length > blob.length) return '';
  return blob.subarray(4, 4 + length).toString('latin1');
}

export function formatPublicKey(key: PublicKey): string {
  return `${key.type} ${key.blob.toString('base64')}`;
}

export function fingerprintOf(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** "SHA256:..." as ssh-keygen -lf prints it, for "type base64 [comment]" or the bare base64. */
export function fingerprint(publicKey: string): string {
  const fields = publicKey.trim().split(/\s+/);
  const blob = fields.length === 1 ? Buffer.from(fields[0] ?? '', 'base64') : parsePublicKey(publicKey).blob;
  if (blob.length === 0) throw new Error('fingerprint: expected a public key like "ssh-ed25519 AAAA..."');
  return fingerprintOf(blob);
}
