// Secret scope, tried as an attacker with push access would: a spec that names fleetspec's own
// GitHub token (or another zone's Cloudflare token) as its API token gets an error finding at the
// line, and the store never hands the value out; a branch whose stack would get a secret the
// trusted specs do not give it is planned without terraform.
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planFleet, type EngineOptions } from '../../reconciler/plan/engine.js';
import { generateKey, parseKey, secretFor, secretScopes, setSecret } from '../../reconciler/state/secrets.js';
import { ENGINES, useFreshDb } from '../state/engines.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const key = parseKey(generateKey());
const GITHUB_TOKEN = 'ghs_CANARYgithubtoken0000000000000000';
const CF_TOKEN = 'cf-token-CANARY-153';
// The last engine: real PostgreSQL when the suite has it (faster to open than PGlite under load).
const engine = ENGINES[ENGINES.length - 1]!;

describe(`secret scope in plans (${engine.name})`, () => {
  const store = useFreshDb(engine);
  let dir: string;
  let specs: string;
  const asked: string[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleetspec-scope-'));
    specs = join(dir, 'specs');
    await cp(join(ROOT, 'specs'), specs, { recursive: true });
    await cp(join(ROOT, 'stacks'), join(dir, 'stacks'), { recursive: true });
    await setSecret(store.db, key, 'meta/github/token', Buffer.from(GITHUB_TOKEN), 'operator');
    await setSecret(store.db, key, 'meta/cloudflare/api_token', Buffer.from(CF_TOKEN), 'operator', ['zones/153.se']);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const options = (extra: Partial<EngineOptions> = {}): EngineOptions => ({
    db: store.db,
    noSsh: 'not read by this test',
    specs,
    mode: 'offline',
    progress: () => {},
    async secret(ref, user) {
      asked.push(`${ref} for ${user}`);
      return (await secretFor(store.db, key, ref.replace(/^secret:/, ''), user, 'test'))?.toString('utf8');
    },
    secretScopes: () => secretScopes(store.db),
    policy: { set: { policies: [] }, root: dir },
    ...extra,
  });

  it('passes a reference inside its scope', async () => {
    const planned = await planFleet(options());
    expect(planned.plan!.findings.filter((f) => f.code === 'secret.out-of-scope')).toEqual([]);
  });

  it("makes a reference to fleetspec's own token an error at its line, and never hands the value to terraform", async () => {
    const zone = join(specs, 'zones', '153.se.yaml');
    const text = await readFile(zone, 'utf8');
    await writeFile(zone, text.replace('apiToken: secret:meta/cloudflare/api_token', 'apiToken: secret:meta/github/token'));
    try {
      const line = text.split('\n').findIndex((l) => l.startsWith('apiToken:')) + 1;
      const planned = await planFleet(options());
      const [finding, ...more] = planned.plan!.findings.filter((f) => f.code === 'secret.out-of-scope');
      expect(more).toEqual([]);
      expect(finding).toMatchObject({ kind: 'zones', name: '153.se', severity: 'error', where: `specs/zones/153.se.yaml:${line}:11` });
      expect(finding!.message).toBe('names secret:meta/github/token, which may not be used by zones/153.se (its scope: fleetspec itself only); fleetspec does not hand it out');

      // Live, with a terraform binary and a backend: the store refuses the value, so terraform is not run.
      asked.length = 0;
      const live = await planFleet(
        options({
          mode: 'live',
          stacks: { dir: join(dir, 'stacks'), workDir: join(dir, 'work'), terraform: { path: join(import.meta.dirname, '..', 'stacks', 'fake-terraform.mjs') }, noTerraform: '', pgConnStr: 'postgres://nobody@127.0.0.1:1/none' },
        }),
      );
      const notRun = live.plan!.findings.find((f) => f.kind === 'dns' && f.code === 'stacks.terraform-not-run');
      expect(notRun?.message).toContain('secret meta/github/token may not be used by zones/153.se');
      expect(asked).toContain('secret:meta/github/token for zones/153.se');
      expect(JSON.stringify(live.plan)).not.toContain(GITHUB_TOKEN);
    } finally {
      await writeFile(zone, text);
    }
  });

  it("does not hand a branch's stack a secret the trusted specs do not give it", async () => {
    asked.length = 0;
    const live = await planFleet(
      options({
        mode: 'live',
        stacks: {
          dir: join(dir, 'stacks'),
          workDir: join(dir, 'work'),
          terraform: { path: join(import.meta.dirname, '..', 'stacks', 'fake-terraform.mjs') },
          noTerraform: '',
          pgConnStr: 'postgres://nobody@127.0.0.1:1/none',
          trustedSecrets: { dns: [], vms: ['secret:meta/gcloud/vm_host_key'] },
        },
      }),
    );
    const notRun = live.plan!.findings.find((f) => f.kind === 'dns' && f.code === 'stacks.terraform-not-run');
    expect(notRun?.message).toBe(
      'terraform not run: this change gives stacks/dns secret:meta/cloudflare/api_token, which the trusted specs do not; secrets reach terraform only once such a change is approved and merged; the plan shows the configuration diff against stacks/dns/cdk.tf.json, not live state',
    );
    // Asked for nothing on the dns stack's behalf: the value never left the store.
    expect(asked.filter((a) => a.includes('zones/'))).toEqual([]);
  });
});
