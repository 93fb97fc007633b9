import { describe, expect, it } from 'vitest';
import { deleteSecret, generateKey, getScopedSecret, getSecret, inScope, listSecrets, parseKey, rotateKey, ScopeError, secretFor, setScope, setSecret } from '../../reconciler/state/secrets.js';
import { ENGINES, useFreshDb } from './engines.js';

const key = parseKey(generateKey());
const other = parseKey(generateKey());
const VALUE = Buffer.from('cf-token-value-123');

describe('parseKey', () => {
  it('accepts hex and base64 keys of 256 bits and names what is wrong otherwise', () => {
    expect(parseKey('00'.repeat(32)).key).toHaveLength(32);
    expect(parseKey(Buffer.alloc(32, 7).toString('base64url')).key).toEqual(Buffer.alloc(32, 7));
    expect(() => parseKey(undefined)).toThrow('FLEETSPEC_SECRET_KEY is not set');
    expect(() => parseKey('abc')).toThrow('FLEETSPEC_SECRET_KEY is not a 256-bit key');
    expect(() => parseKey(Buffer.alloc(16).toString('base64'))).toThrow('is not a 256-bit key');
  });
});

describe.each(ENGINES)('secrets on $name', (engine) => {
  const store = useFreshDb(engine);

  it('stores a value encrypted and gives it back', async () => {
    await setSecret(store.db, key, 'meta/cloudflare/api_token', VALUE, 'alice');
    expect(await getSecret(store.db, key, 'meta/cloudflare/api_token', 'alice')).toEqual(VALUE);
    const [row] = await store.db.query<{ ciphertext: Uint8Array }>(`select ciphertext from secrets where path = 'meta/cloudflare/api_token'`);
    expect(Buffer.from(row!.ciphertext).includes(VALUE)).toBe(false);
  });

  it('uses a fresh nonce for every write', async () => {
    const nonces = new Set<string>();
    for (let i = 0; i < 5; i++) {
      await setSecret(store.db, key, 'project/consilio/database_url', VALUE, 'alice');
      const [row] = await store.db.query<{ nonce: Uint8Array }>(`select nonce from secrets where path = 'project/consilio/database_url'`);
      nonces.add(Buffer.from(row!.nonce).toString('hex'));
    }
    expect(nonces.size).toBe(5);
  });

  it('rejects tampered ciphertext, a value moved to another path, and a wrong key', async () => {
    await setSecret(store.db, key, 'service/penpot/admin_password', VALUE, 'alice');
    await store.db.query(`update secrets set ciphertext = set_byte(ciphertext, 0, get_byte(ciphertext, 0) # 1) where path = 'service/penpot/admin_password'`);
    await expect(getSecret(store.db, key, 'service/penpot/admin_password', 'alice')).rejects.toThrow('failed authentication');

    await setSecret(store.db, key, 'a/source', VALUE, 'alice');
    await setSecret(store.db, key, 'a/target', Buffer.from('other'), 'alice');
    await store.db.query(
      `update secrets t set nonce = s.nonce, ciphertext = s.ciphertext, tag = s.tag from secrets s where s.path = 'a/source' and t.path = 'a/target'`,
    );
    await expect(getSecret(store.db, key, 'a/target', 'alice')).rejects.toThrow('ciphertext or scope was altered, or it was moved from another path');

    await expect(getSecret(store.db, other, 'a/source', 'alice')).rejects.toThrow(`was sealed with key ${key.id}, and FLEETSPEC_SECRET_KEY is key ${other.id}`);
  });

  it('lists paths without values and audits every access without values', async () => {
    const listed = await listSecrets(store.db, 'bob', 'meta/');
    expect(listed.map((s) => s.path)).toEqual(['meta/cloudflare/api_token']);
    expect(JSON.stringify(listed)).not.toContain(VALUE.toString());
    expect(await deleteSecret(store.db, 'a/source', 'bob')).toBe(true);
    expect(await getSecret(store.db, key, 'a/source', 'bob')).toBeUndefined();
    const audit = await store.db.query<{ path: string; action: string; actor: string; ok: boolean }>(
      `select path, action, actor, ok from secret_audit where actor = 'bob' order by id`,
    );
    expect(audit).toEqual([
      { path: 'meta/', action: 'list', actor: 'bob', ok: true },
      { path: 'a/source', action: 'delete', actor: 'bob', ok: true },
      { path: 'a/source', action: 'get', actor: 'bob', ok: false },
    ]);
    const dump = JSON.stringify(await store.db.query('select * from secret_audit'));
    expect(dump).not.toContain(VALUE.toString());
  });

  it('rotates every secret to a new key in one transaction, or none when one cannot be opened', async () => {
    await store.db.query(`delete from secrets where path in ('service/penpot/admin_password', 'a/target')`);
    const next = parseKey(generateKey());
    const count = await store.db.transaction((tx) => rotateKey(tx, key, next, 'alice'));
    expect(count).toBe(2);
    expect(await getSecret(store.db, next, 'meta/cloudflare/api_token', 'alice')).toEqual(VALUE);
    await expect(getSecret(store.db, key, 'meta/cloudflare/api_token', 'alice')).rejects.toThrow('was sealed with key');

    // One secret under a third key: the rotation must fail and change nothing.
    await setSecret(store.db, other, 'z/stray', VALUE, 'alice');
    const before = await store.db.query('select path, key_id, nonce from secrets order by path');
    await expect(store.db.transaction((tx) => rotateKey(tx, next, key, 'alice'))).rejects.toThrow('cannot rotate: secret z/stray does not open');
    expect(await store.db.query('select path, key_id, nonce from secrets order by path')).toEqual(before);
  });

  it('refuses malformed paths before touching the store', async () => {
    await expect(setSecret(store.db, key, 'Meta/Token', VALUE, 'alice')).rejects.toThrow('invalid secret path "Meta/Token"');
    await expect(setSecret(store.db, key, 'single', VALUE, 'alice')).rejects.toThrow('invalid secret path');
  });
  it('hands a secret only to the resources in its scope, and keeps the scope when set again without one', async () => {
    await setSecret(store.db, key, 'scope/cloudflare/token', VALUE, 'alice', ['zones/153.se']);
    expect(await secretFor(store.db, key, 'scope/cloudflare/token', 'zones/153.se', 'plan')).toEqual(VALUE);
    const denied = await secretFor(store.db, key, 'scope/cloudflare/token', 'zones/other.se', 'plan').catch((e) => e);
    expect(denied).toBeInstanceOf(ScopeError);
    expect(denied.message).toBe('secret scope/cloudflare/token may not be used by zones/other.se: its scope is zones/153.se');
    expect(denied.hint).toContain('fleetspec secrets scope scope/cloudflare/token --allow zones/other.se --allow zones/153.se');
    await setSecret(store.db, key, 'scope/cloudflare/token', Buffer.from('rotated'), 'alice');
    expect(await getScopedSecret(store.db, key, 'scope/cloudflare/token', 'alice')).toEqual({ value: Buffer.from('rotated'), scope: ['zones/153.se'] });
    const audit = await store.db.query<{ action: string; ok: boolean; detail: string | null }>(`select action, ok, detail from secret_audit where path = 'scope/cloudflare/token' order by id`);
    expect(audit).toContainEqual({ action: 'set', ok: true, detail: 'scope=zones/153.se' });
    expect(audit).toContainEqual({ action: 'deny', ok: false, detail: 'zones/other.se' });
  });

  it("gives a secret stored without a scope (fleetspec's own, or from before scopes) to no resource", async () => {
    await setSecret(store.db, key, 'scope/github/token', VALUE, 'alice');
    await expect(secretFor(store.db, key, 'scope/github/token', 'zones/153.se', 'plan')).rejects.toThrow('its scope is fleetspec itself only');
    // A row from before the migration: scope null, sealed with the path alone.
    await store.db.query(`update secrets set scope = null where path = 'scope/github/token'`);
    expect(await getSecret(store.db, key, 'scope/github/token', 'alice')).toEqual(VALUE);
  });

  it('binds the scope to the ciphertext: widening it in the table without the key makes the secret unreadable', async () => {
    await setSecret(store.db, key, 'scope/gcloud/key', VALUE, 'alice', ['vms/supervisor-vm']);
    await store.db.query(`update secrets set scope = '["vms/supervisor-vm","zones/*"]' where path = 'scope/gcloud/key'`);
    await expect(secretFor(store.db, key, 'scope/gcloud/key', 'zones/153.se', 'plan')).rejects.toThrow('its ciphertext or scope was altered');
    await expect(secretFor(store.db, key, 'scope/gcloud/key', 'vms/supervisor-vm', 'plan')).rejects.toThrow('its ciphertext or scope was altered');
    // Setting it again without the scope cannot launder the forged one either.
    await expect(setSecret(store.db, key, 'scope/gcloud/key', VALUE, 'alice')).rejects.toThrow('cannot be kept');
    // With the key, the scope is changed on purpose: re-sealed, and it reads.
    await store.db.query(`update secrets set scope = '["vms/supervisor-vm"]' where path = 'scope/gcloud/key'`);
    expect(await store.db.transaction((tx) => setScope(tx, key, 'scope/gcloud/key', ['vms/*', 'vms/*'], 'alice'))).toEqual(['vms/*']);
    expect(await secretFor(store.db, key, 'scope/gcloud/key', 'vms/other', 'plan')).toEqual(VALUE);
    await expect(store.db.transaction((tx) => setScope(tx, other, 'scope/gcloud/key', ['zones/*'], 'mallory'))).rejects.toThrow('was sealed with key');
    await expect(store.db.transaction((tx) => setScope(tx, key, 'scope/gcloud/key', ['zones/${x}'], 'alice'))).rejects.toThrow('invalid scope');
    const rows = await listSecrets(store.db, 'alice', 'scope/gcloud');
    expect(rows.map((r) => [r.path, r.scope])).toEqual([['scope/gcloud/key', ['vms/*']]]);
    await store.db.query(`delete from secrets where path like 'scope/%'`);
  });
});

describe('inScope', () => {
  it('matches kind/name, kind/*, and name prefixes, never across kinds', () => {
    expect(inScope(['zones/153.se'], 'zones/153.se')).toBe(true);
    expect(inScope(['zones/153.se'], 'zones/153.se.evil')).toBe(false);
    expect(inScope(['vms/*'], 'vms/anything')).toBe(true);
    expect(inScope(['vms/*'], 'zones/x')).toBe(false);
    expect(inScope(['roles/dev*'], 'roles/developer')).toBe(true);
    expect(inScope(['roles/dev*'], 'roles/manager')).toBe(false);
    expect(inScope([], 'roles/developer')).toBe(false);
  });
});
