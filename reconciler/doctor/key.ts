// The secret key: FLEETSPEC_SECRET_KEY is set and is a 256-bit key, and, when the store holds
// secrets, it opens one of them (the value is read and dropped, never shown).
import { getSecret, parseKey, type SecretKey } from '../state/secrets.js';
import { explain, fail, ok, warn, type CheckGroup, type CheckResult } from './check.js';

const KEYGEN = 'fleetspec secrets keygen prints a new one; put it in /etc/fleetspec/fleetspec.env as FLEETSPEC_SECRET_KEY (a store with secrets needs the key they were sealed with)';

export const key: CheckGroup = {
  name: 'key',
  async run(ctx) {
    const text = ctx.env.FLEETSPEC_SECRET_KEY;
    if (!text || !text.trim()) return [fail('key', 'FLEETSPEC_SECRET_KEY is not set', KEYGEN)];
    let parsed: SecretKey;
    try {
      parsed = parseKey(text);
    } catch (err) {
      return [fail('key', explain(err).message, explain(err).hint ?? KEYGEN)];
    }
    const results: CheckResult[] = [ok('key', `FLEETSPEC_SECRET_KEY is a 256-bit key (id ${parsed.id})`)];
    if (!ctx.db) return results;
    const rows = await ctx.db.query<{ path: string; key_id: string }>('select path, key_id from secrets order by path').catch(() => undefined);
    if (!rows) return results; // no secrets table yet: nothing stored
    if (rows.length === 0) return [...results, ok('key.secrets', 'the store holds no secrets yet')];
    const mine = rows.filter((r) => r.key_id === parsed.id);
    const probe = mine[0] ?? rows[0]!;
    try {
      await getSecret(ctx.db, parsed, probe.path, 'fleetspec-doctor');
    } catch (err) {
      return [...results, fail('key.secrets', `${rows.length} secret(s) in the store; ${explain(err).message}`, explain(err).hint ?? KEYGEN)];
    }
    const others = rows.length - mine.length;
    if (others > 0) {
      return [...results, warn('key.secrets', `the key opens ${probe.path}, but ${others} of ${rows.length} secrets were sealed with another key`, 'set those again, or rotate them to this key with the old one (fleetspec secrets rotate)')];
    }
    return [...results, ok('key.secrets', `the key opens ${probe.path} (all ${rows.length} secrets are sealed with it)`)];
  },
};
