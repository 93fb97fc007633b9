import { describe, expect, it } from 'vitest';
import { deleteSecret, generateKey, getSecret, listSecrets, parseKey, rotateKey, setSecret } from '../../reconciler/state/secrets.js';
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
    await expect(getSecret(store.db, key, 'a/target', 'alice')).rejects.toThrow('ciphertext was altered or moved from another path');

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
});
