// Secrets (seed 003): hierarchical paths, AES-256-GCM with a fresh random 96-bit nonce per
// write and the path bound as associated data (a ciphertext moved to another path fails),
// key from FLEETSPEC_SECRET_KEY. Every access is audited; values never are.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import type { Queryable } from './db.js';
import { StateError } from './errors.js';

export const SECRET_PATH = /^[a-z0-9][a-z0-9_.-]*(\/[a-z0-9][a-z0-9_.-]*)+$/;

export interface SecretKey {
  key: Buffer;
  /** Short fingerprint, stored beside each secret to name the key it needs. */
  id: string;
}

const KEY_HINT = 'set FLEETSPEC_SECRET_KEY to 32 random bytes as base64 or hex; `fleetspec secrets keygen` prints a new one';

/** Parses a key given as 64 hex digits or base64 (standard or URL-safe) of 32 bytes. */
export function parseKey(text: string | undefined, name = 'FLEETSPEC_SECRET_KEY'): SecretKey {
  if (!text || !text.trim()) throw new StateError(`${name} is not set`, KEY_HINT);
  const t = text.trim();
  let key: Buffer | undefined;
  if (/^[0-9a-fA-F]{64}$/.test(t)) key = Buffer.from(t, 'hex');
  else if (/^[A-Za-z0-9+/_-]{43}=?$/.test(t)) key = Buffer.from(t.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  if (!key || key.length !== 32) throw new StateError(`${name} is not a 256-bit key (expected 64 hex digits or 44 base64 characters)`, KEY_HINT);
  return { key, id: createHash('sha256').update(key).digest('hex').slice(0, 16) };
}

export function generateKey(): string {
  return randomBytes(32).toString('base64');
}

export function checkPath(path: string): void {
  if (!SECRET_PATH.test(path)) {
    throw new StateError(`invalid secret path ${JSON.stringify(path)}`, 'use two or more lowercase segments separated by /, e.g. meta/cloudflare/api_token');
  }
}

interface Sealed {
  nonce: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}

export function seal(key: SecretKey, path: string, value: Buffer): Sealed {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key.key, nonce);
  cipher.setAAD(Buffer.from(path, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(value), cipher.final()]);
  return { nonce, ciphertext, tag: cipher.getAuthTag() };
}

export function open(key: SecretKey, path: string, sealed: Sealed): Buffer {
  const decipher = createDecipheriv('aes-256-gcm', key.key, sealed.nonce);
  decipher.setAAD(Buffer.from(path, 'utf8'));
  decipher.setAuthTag(sealed.tag);
  return Buffer.concat([decipher.update(sealed.ciphertext), decipher.final()]);
}

const bytes = (v: unknown) => Buffer.from(v as Uint8Array);

async function audit(db: Queryable, path: string, action: string, actor: string, ok = true): Promise<void> {
  await db.query('insert into secret_audit (path, action, actor, ok) values ($1, $2, $3, $4)', [path, action, actor, ok]);
}

export async function setSecret(db: Queryable, key: SecretKey, path: string, value: Buffer, actor: string): Promise<void> {
  checkPath(path);
  if (value.length === 0) throw new StateError(`refusing to store an empty value at ${path}`, 'pipe the value on standard input');
  const s = seal(key, path, value);
  await db.query(
    `insert into secrets (path, key_id, nonce, ciphertext, tag) values ($1, $2, $3, $4, $5)
     on conflict (path) do update set key_id = excluded.key_id, nonce = excluded.nonce,
       ciphertext = excluded.ciphertext, tag = excluded.tag, updated_at = now()`,
    [path, key.id, s.nonce, s.ciphertext, s.tag],
  );
  await audit(db, path, 'set', actor);
}

export async function getSecret(db: Queryable, key: SecretKey, path: string, actor: string): Promise<Buffer | undefined> {
  checkPath(path);
  const [row] = await db.query<{ key_id: string; nonce: unknown; ciphertext: unknown; tag: unknown }>(
    'select key_id, nonce, ciphertext, tag from secrets where path = $1',
    [path],
  );
  if (!row) {
    await audit(db, path, 'get', actor, false);
    return undefined;
  }
  try {
    const value = open(key, path, { nonce: bytes(row.nonce), ciphertext: bytes(row.ciphertext), tag: bytes(row.tag) });
    await audit(db, path, 'get', actor);
    return value;
  } catch {
    await audit(db, path, 'get', actor, false);
    throw new StateError(
      row.key_id === key.id
        ? `secret ${path} failed authentication: its ciphertext was altered or moved from another path`
        : `secret ${path} was sealed with key ${row.key_id}, and FLEETSPEC_SECRET_KEY is key ${key.id}`,
      row.key_id === key.id ? 'set it again from its source' : 'use the key it was written with, or rotate the store to the new key with the old one',
    );
  }
}

export interface SecretInfo {
  path: string;
  keyId: string;
  updatedAt: Date;
}

export async function listSecrets(db: Queryable, actor: string, prefix = ''): Promise<SecretInfo[]> {
  const rows = await db.query<SecretInfo>(
    `select path, key_id as "keyId", updated_at as "updatedAt" from secrets where path like $1 || '%' order by path`,
    [prefix],
  );
  await audit(db, prefix || '*', 'list', actor);
  return rows;
}

export async function deleteSecret(db: Queryable, path: string, actor: string): Promise<boolean> {
  checkPath(path);
  const gone = (await db.query('delete from secrets where path = $1 returning path', [path])).length > 0;
  await audit(db, path, 'delete', actor, gone);
  return gone;
}

/** Re-encrypts every secret under `next`; call inside one transaction so it is all or nothing. */
export async function rotateKey(db: Queryable, current: SecretKey, next: SecretKey, actor: string): Promise<number> {
  const rows = await db.query<{ path: string; key_id: string; nonce: unknown; ciphertext: unknown; tag: unknown }>(
    'select path, key_id, nonce, ciphertext, tag from secrets order by path for update',
  );
  for (const row of rows) {
    let value: Buffer;
    try {
      value = open(current, row.path, { nonce: bytes(row.nonce), ciphertext: bytes(row.ciphertext), tag: bytes(row.tag) });
    } catch {
      throw new StateError(`cannot rotate: secret ${row.path} does not open with the current key (it needs key ${row.key_id})`, 'nothing was changed');
    }
    const s = seal(next, row.path, value);
    await db.query('update secrets set key_id = $2, nonce = $3, ciphertext = $4, tag = $5, updated_at = now() where path = $1', [
      row.path,
      next.id,
      s.nonce,
      s.ciphertext,
      s.tag,
    ]);
    await audit(db, row.path, 'rotate', actor);
  }
  return rows.length;
}
