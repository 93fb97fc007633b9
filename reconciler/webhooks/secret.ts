// The webhook secret: fleetspec's own secret in the store, at meta/github/webhook_secret or where
// FLEETSPEC_WEBHOOK_SECRET=secret:PATH says. Without it webhooks are off and the daemon polls only;
// why is said at start-up, never the value.
import { ConfigError } from '../loop/config.js';
import type { Queryable } from '../state/db.js';
import { getScopedSecret, parseKey, SECRET_PATH } from '../state/secrets.js';
import { DEFAULT_WEBHOOK_SECRET } from './receiver.js';

/** The secret, or why webhooks are off. Throws ConfigError for a FLEETSPEC_WEBHOOK_SECRET that is no secret: reference. */
export async function webhookSecret(db: Queryable, env: NodeJS.ProcessEnv = process.env): Promise<{ secret: string; path: string } | { off: string }> {
  const setting = (env.FLEETSPEC_WEBHOOK_SECRET ?? '').trim();
  const m = /^secret:(\S+)$/.exec(setting);
  // The value is not shown: a secret written here by mistake is a secret too.
  if (setting !== '' && (!m || !SECRET_PATH.test(m[1]!))) throw new ConfigError('FLEETSPEC_WEBHOOK_SECRET is not secret:PATH', `store the webhook secret with: fleetspec secrets set ${DEFAULT_WEBHOOK_SECRET} --own (the default path), or name another with FLEETSPEC_WEBHOOK_SECRET=secret:PATH`);
  const path = m ? m[1]! : DEFAULT_WEBHOOK_SECRET;
  const store = `fleetspec secrets set ${path} --own`;
  if (!env.FLEETSPEC_SECRET_KEY) return { off: `no FLEETSPEC_SECRET_KEY to read the webhook secret ${path} with (set it, and store the secret with: ${store})` };
  let found: Awaited<ReturnType<typeof getScopedSecret>>;
  try {
    found = await getScopedSecret(db, parseKey(env.FLEETSPEC_SECRET_KEY), path, 'fleetspec-daemon');
  } catch (err) {
    return { off: `the webhook secret ${path} cannot be read: ${err instanceof Error ? err.message : String(err)}` };
  }
  if (!found) return { off: `no webhook secret at ${path} (store GitHub's webhook secret with: ${store})` };
  if (found.scope.length) return { off: `the webhook secret ${path} may be handed to specs (${found.scope.join(', ')}); it must be fleetspec's own (store it again with: ${store})` };
  const secret = found.value.toString('utf8').trim();
  if (secret === '') return { off: `the webhook secret ${path} is blank (store it again with: ${store})` };
  return { secret, path };
}
