// Role agents' tokens for `fleetspec mcp`: 32 random bytes, shown once as fmcp_<base64url>, kept
// only as their SHA-256 (hex) in mcp_tokens. A token is looked up by its hash, so the store never
// holds anything that authenticates; a revoked token stays listed for the audit.
import { createHash, randomBytes } from 'node:crypto';
import type { Queryable } from '../state/db.js';

export const TOKEN_PREFIX = 'fmcp_';
/** fmcp_ and 43 base64url characters (32 bytes). */
const TOKEN_SHAPE = /^fmcp_[A-Za-z0-9_-]{43}$/;

export const tokenHash = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');

export interface TokenRow {
  id: number;
  role: string;
  label: string | null;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

const COLUMNS = `id::integer as id, role, label, created_at as "createdAt", last_used_at as "lastUsedAt", revoked_at as "revokedAt"`;

/** A new token for `role`: the value is returned once and never stored. */
export async function issueToken(db: Queryable, role: string, label?: string): Promise<{ id: number; token: string }> {
  const token = `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
  const [row] = await db.query<{ id: number }>(`insert into mcp_tokens (role, token_sha256, label) values ($1, $2, $3) returning id::integer as id`, [role, tokenHash(token), label ?? null]);
  return { id: row!.id, token };
}

/** The role a token stands for, or undefined when it is malformed, unknown or revoked. */
export async function authenticate(db: Queryable, token: string | undefined): Promise<{ id: number; role: string } | undefined> {
  if (!token || !TOKEN_SHAPE.test(token)) return undefined;
  const [row] = await db.query<{ id: number; role: string }>(
    `update mcp_tokens set last_used_at = now() where token_sha256 = $1 and revoked_at is null returning id::integer as id, role`,
    [tokenHash(token)],
  );
  return row;
}

export async function listTokens(db: Queryable): Promise<TokenRow[]> {
  return db.query<TokenRow>(`select ${COLUMNS} from mcp_tokens order by id`);
}

/** Revokes token `id`; false when there is no such token or it was revoked already. */
export async function revokeToken(db: Queryable, id: number): Promise<TokenRow | undefined> {
  const [row] = await db.query<TokenRow>(`update mcp_tokens set revoked_at = now() where id = $1 and revoked_at is null returning ${COLUMNS}`, [id]);
  return row;
}
