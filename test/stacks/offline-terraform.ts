// The real terraform binary for tests, made unable to reach a registry: every test that runs
// terraform takes its environment from here. The CLI configuration allows provider installation
// only from an empty local mirror, so a configuration needing any provider fails at init instead
// of downloading; the tests use only what is built in (terraform_data, the pg backend).
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findTerraform } from '../../reconciler/stacks/terraform.js';

export interface OfflineTerraform {
  path: string;
  /** TF_CLI_CONFIG_FILE and friends: merge into process.env (the runner passes TF_* through). */
  env: Record<string, string>;
}

/** The terraform on PATH set up offline under `dir`; undefined when there is none (CI fails on that instead). */
export async function offlineTerraform(dir: string): Promise<OfflineTerraform | undefined> {
  const found = await findTerraform(undefined, { PATH: process.env.PATH });
  if (!found) {
    if (process.env.CI) throw new Error('terraform is not on PATH: these tests need a real terraform (>= 1.5; .ci/run checks for it)');
    return undefined;
  }
  const mirror = join(dir, 'no-providers');
  await mkdir(mirror, { recursive: true });
  const config = join(dir, 'offline.tfrc');
  await writeFile(
    config,
    [
      'disable_checkpoint = true',
      'provider_installation {',
      '  filesystem_mirror {',
      `    path    = ${JSON.stringify(mirror)}`,
      '    include = ["*/*/*"]',
      '  }',
      '}',
      '',
    ].join('\n'),
  );
  return { path: found.path, env: { TF_CLI_CONFIG_FILE: config } };
}
