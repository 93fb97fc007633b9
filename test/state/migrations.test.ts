import { describe, expect, it } from 'vitest';
import { MIGRATIONS, migrate } from '../../reconciler/state/migrations.js';
import { ENGINES, useFreshDb } from './engines.js';

describe.each(ENGINES)('migrations on $name', (engine) => {
  const store = useFreshDb(engine);

  it('records every migration once, in order', async () => {
    const rows = await store.db.query<{ version: number }>('select version from fleetspec_migrations order by version');
    expect(rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
  });

  it('changes nothing when run again', async () => {
    const schema = () =>
      store.db.query<{ t: string }>(
        `select table_name || '.' || column_name as t from information_schema.columns where table_schema = 'public' order by 1`,
      );
    const before = await schema();
    expect(await migrate(store.db)).toEqual([]);
    expect(await migrate(store.db)).toEqual([]);
    expect(await schema()).toEqual(before);
    expect(before.length).toBeGreaterThan(20);
  });

  it('refuses a migration that was edited after it was applied', async () => {
    const edited = MIGRATIONS.map((m) => (m.version === 2 ? { ...m, sql: m.sql + '\n-- edited' } : m));
    await expect(migrate(store.db, edited)).rejects.toThrow('migration 2 (port allocation) changed after it was applied');
  });

  it('refuses a store that a newer fleetspec migrated', async () => {
    await expect(migrate(store.db, MIGRATIONS.slice(0, 2))).rejects.toThrow('the state store has migration 3 (secrets), which this fleetspec does not know');
  });
});
