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

/**
 * Who may be handed a secret: `kind/name` patterns, where name may be `*` (any of that kind) or
 * end in `*` (a prefix): `zones/153.se`, `vms/*`, `roles/dev*`. Fleetspec's own secrets (its LLM
 * key, its GitHub token) have no scope: no spec may name them.
 */
export const SCOPE_PATTERN = /^[a-z]+\/([A-Za-z0-9][A-Za-z0-9_.-]*\*?|\*)$/;

export function checkScope(scope: readonly string[]): string[] {
  for (const p of scope) {
    if (!SCOPE_PATTERN.test(p)) throw new StateError(`invalid scope ${JSON.stringify(p)}`, 'give kind/name patterns, e.g. --allow zones/153.se or --allow vms/*');
  }
  return [...new Set(scope)].sort();
}

/** Whether `user` (kind/name) is in `scope`. */
export function inScope(scope: readonly string[], user: string): boolean {
  const [kind, name] = [user.slice(0, user.indexOf('/')), user.slice(user.indexOf('/') + 1)];
  return scope.some((p) => {
    const [pk, pn] = [p.slice(0, p.indexOf('/')), p.slice(p.indexOf('/') + 1)];
    if (pk !== kind) return false;
    if (pn === '*') return true;
    return pn.endsWith('*') ? name.startsWith(pn.slice(0, -1)) : name === pn;
  });
}

/** Associated data: the path, and the scope when there is one (secrets stored before scopes have none). */
const aad = (path: string, scope: readonly string[] | null) => (scope === null ? path : `${path}\0scope:${JSON.stringify(scope)}`);
const parseScope = (text: string | null): string[] | null => (text === null ? null : (JSON.parse(text) as string[]));

interface Sealed {
  nonce: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}

export function seal(key: SecretKey, path: string, value: Buffer, scope: readonly string[] | null = null): Sealed {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key.key, nonce);
  cipher.setAAD(Buffer.from(aad(path, scope), 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(value), cipher.final()]);
  return { nonce, ciphertext, tag: cipher.getAuthTag() };
}

export function open(key: SecretKey, path: string, sealed: Sealed, scope: readonly string[] | null = null): Buffer {
  const decipher = createDecipheriv('aes-256-gcm', key.key, sealed.nonce);
  decipher.setAAD(Buffer.from(aad(path, scope), 'utf8'));
  decipher.setAuthTag(sealed.tag);
  return Buffer.concat([decipher.update(sealed.ciphertext), decipher.final()]);
}

const bytes = (v: unknown) => Buffer.from(v as Uint8Array);

export async function audit(db: Queryable, path: string, action: 'set' | 'get' | 'list' | 'delete' | 'rotate' | 'scope' | 'deny', actor: string, ok = true, detail: string | null = null): Promise<void> {
  await db.query('insert into secret_audit (path, action, actor, ok, detail) values ($1, $2, $3, $4, $5)', [path, action, actor, ok, detail]);
}

/**
 * Stores a secret and the resources it may be handed to (`scope`; empty: fleetspec's own use
 * only). Setting it again without a scope keeps the scope it had. Returns the scope stored.
 */
export async function setSecret(db: Queryable, key: SecretKey, path: string, value: Buffer, actor: string, scope?: readonly string[]): Promise<string[]> {
  checkPath(path);
  if (value.length === 0) throw new StateError(`refusing to store an empty value at ${path}`, 'pipe the value on standard input');
  let kept: string[] | null = scope ? checkScope(scope) : null;
  if (!scope) {
    // The scope it had is kept only when it opens: a scope written into the row without the key is not.
    const [row] = await db.query<SealedRow>('select key_id, nonce, ciphertext, tag, scope from secrets where path = $1', [path]);
    if (row) {
      try {
        kept = unseal(key, path, row).scope;
      } catch (error) {
        throw new StateError(`${path} is stored already and does not open with this key, so the scope it had cannot be kept`, `give the scope with the value: fleetspec secrets set ${path} --allow kind/name (or --own for fleetspec's own use)`, error instanceof StateError ? error.exitCode : 1);
      }
    }
  }
  const s = seal(key, path, value, kept);
  await db.query(
    `insert into secrets (path, key_id, nonce, ciphertext, tag, scope) values ($1, $2, $3, $4, $5, $6)
     on conflict (path) do update set key_id = excluded.key_id, nonce = excluded.nonce,
       ciphertext = excluded.ciphertext, tag = excluded.tag, scope = excluded.scope, updated_at = now()`,
    [path, key.id, s.nonce, s.ciphertext, s.tag, kept === null ? null : JSON.stringify(kept)],
  );
  await audit(db, path, 'set', actor, true, scope ? `scope=${kept!.join(',')}` : null);
  return kept ?? [];
}

interface SealedRow {
  key_id: string;
  nonce: unknown;
  ciphertext: unknown;
  tag: unknown;
  scope: string | null;
}

/** Opens a row with its scope as associated data; a scope or ciphertext changed without the key fails here. */
function unseal(key: SecretKey, path: string, row: SealedRow): { value: Buffer; scope: string[] | null } {
  const scope = parseScope(row.scope);
  try {
    return { value: open(key, path, { nonce: bytes(row.nonce), ciphertext: bytes(row.ciphertext), tag: bytes(row.tag) }, scope), scope };
  } catch {
    throw new StateError(
      row.key_id === key.id
        ? `secret ${path} failed authentication: its ciphertext or scope was altered, or it was moved from another path`
        : `secret ${path} was sealed with key ${row.key_id}, and FLEETSPEC_SECRET_KEY is key ${key.id}`,
      row.key_id === key.id ? 'set it again from its source' : 'use the key it was written with, or rotate the store to the new key with the old one',
    );
  }
}

/** The value and its authenticated scope (null: fleetspec's own use only). */
export async function getScopedSecret(db: Queryable, key: SecretKey, path: string, actor: string): Promise<{ value: Buffer; scope: string[] } | undefined> {
  checkPath(path);
  const [row] = await db.query<SealedRow>('select key_id, nonce, ciphertext, tag, scope from secrets where path = $1', [path]);
  if (!row) {
    await audit(db, path, 'get', actor, false);
    return undefined;
  }
  try {
    const { value, scope } = unseal(key, path, row);
    await audit(db, path, 'get', actor);
    return { value, scope: scope ?? [] };
  } catch (error) {
    await audit(db, path, 'get', actor, false);
    throw error;
  }
}

export async function getSecret(db: Queryable, key: SecretKey, path: string, actor: string): Promise<Buffer | undefined> {
  return (await getScopedSecret(db, key, path, actor))?.value;
}

/**
 * A secret for `user` (kind/name of the resource whose spec names it): undefined when it is not
 * stored; a ScopeError when `user` is outside its scope. The scope is checked as sealed.
 */
export async function secretFor(db: Queryable, key: SecretKey, path: string, user: string, actor: string): Promise<Buffer | undefined> {
  const found = await getScopedSecret(db, key, path, actor);
  if (!found) return undefined;
  if (!inScope(found.scope, user)) {
    await audit(db, path, 'deny', actor, false, user);
    throw new ScopeError(path, user, found.scope);
  }
  return found.value;
}

export class ScopeError extends StateError {
  constructor(
    readonly path: string,
    readonly user: string,
    readonly scope: readonly string[],
  ) {
    super(
      `secret ${path} may not be used by ${user}: its scope is ${scope.length ? scope.join(', ') : 'fleetspec itself only'}`,
      `if ${user} should have it, someone holding the key runs: fleetspec secrets scope ${path} --allow ${user}${scope.map((p) => ` --allow ${p}`).join('')}`,
    );
  }
}

/** Re-seals a secret under a new scope: only someone holding the key can. */
export async function setScope(db: Queryable, key: SecretKey, path: string, scope: readonly string[], actor: string): Promise<string[]> {
  checkPath(path);
  const [row] = await db.query<SealedRow>('select key_id, nonce, ciphertext, tag, scope from secrets where path = $1 for update', [path]);
  if (!row) throw new StateError(`no secret at ${path}`, 'fleetspec secrets list shows the paths that exist');
  const { value } = unseal(key, path, row);
  const next = checkScope(scope);
  const s = seal(key, path, value, next);
  await db.query('update secrets set key_id = $2, nonce = $3, ciphertext = $4, tag = $5, scope = $6 where path = $1', [path, key.id, s.nonce, s.ciphertext, s.tag, JSON.stringify(next)]);
  await audit(db, path, 'scope', actor, true, next.join(','));
  return next;
}

export interface SecretInfo {
  path: string;
  keyId: string;
  updatedAt: Date;
  /** As stored, not yet authenticated (opening the secret does that): [] for fleetspec's own use only. */
  scope: string[];
}

export async function listSecrets(db: Queryable, actor: string, prefix = ''): Promise<SecretInfo[]> {
  const rows = await db.query<Omit<SecretInfo, 'scope'> & { scope: string | null }>(
    `select path, key_id as "keyId", updated_at as "updatedAt", scope from secrets where path like $1 || '%' order by path`,
    [prefix],
  );
  await audit(db, prefix || '*', 'list', actor);
  return rows.map((r) => ({ ...r, scope: parseScope(r.scope) ?? [] }));
}

/** The stored scope of each secret (unauthenticated: for findings; handing a value out checks the sealed one). */
export async function secretScopes(db: Queryable): Promise<Map<string, string[]>> {
  const rows = await db.query<{ path: string; scope: string | null }>('select path, scope from secrets');
  return new Map(rows.map((r) => [r.path, parseScope(r.scope) ?? []]));
}

export async function deleteSecret(db: Queryable, path: string, actor: string): Promise<boolean> {
  checkPath(path);
  const gone = (await db.query('delete from secrets where path = $1 returning path', [path])).length > 0;
  await audit(db, path, 'delete', actor, gone);
  return gone;
}

/** Re-encrypts every secret under `next`; call inside one transaction so it is all or nothing. */
export async function rotateKey(db: Queryable, current: SecretKey, next: SecretKey, actor: string): Promise<number> {
  const rows = await db.query<SealedRow & { path: string }>('select path, key_id, nonce, ciphertext, tag, scope from secrets order by path for update');
  for (const row of rows) {
    let value: Buffer;
    const scope = parseScope(row.scope);
    try {
      value = open(current, row.path, { nonce: bytes(row.nonce), ciphertext: bytes(row.ciphertext), tag: bytes(row.tag) }, scope);
    } catch {
      throw new StateError(`cannot rotate: secret ${row.path} does not open with the current key (it needs key ${row.key_id})`, 'nothing was changed');
    }
    const s = seal(next, row.path, value, scope);
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
