// terraform or tofu: found as the stacks find it (findTerraform), and its version from `version -json`.
import { execFile } from 'node:child_process';
import { findTerraform, missingBinaryReason } from '../stacks/terraform.js';
import { fail, ok, type CheckGroup } from './check.js';

const INSTALL = "install terraform (HashiCorp's packages) or tofu (OpenTofu's) into /usr/local/bin or /usr/bin, or name it with FLEETSPEC_TERRAFORM or --terraform";

/** `binary version -json` with a deadline and none of fleetspec's settings in its environment. */
function version(path: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ version?: string; problem?: string }> {
  return new Promise((resolve) => {
    const clean = { PATH: env.PATH ?? '', HOME: env.HOME ?? '', TF_IN_AUTOMATION: '1' };
    execFile(path, ['version', '-json'], { env: clean, timeout: timeoutMs, maxBuffer: 1 << 20 }, (err, stdout) => {
      if (err) return resolve({ problem: err.killed ? `did not answer within ${Math.round(timeoutMs / 1000)} s` : err.message });
      try {
        const parsed = JSON.parse(stdout) as { terraform_version?: unknown };
        if (typeof parsed.terraform_version === 'string') return resolve({ version: parsed.terraform_version });
      } catch {
        // below
      }
      resolve({ problem: 'its version -json printed no terraform_version' });
    });
  });
}

export const terraform: CheckGroup = {
  name: 'terraform',
  async run(ctx) {
    const binary = await findTerraform(ctx.settings.terraform, ctx.env);
    if (!binary) return [fail('terraform', missingBinaryReason(ctx.settings.terraform, ctx.env), INSTALL)];
    const found = await version(binary.path, ctx.env, ctx.settings.timeoutMs);
    if (!found.version) return [fail('terraform', `${binary.path} version -json failed: ${found.problem}`, INSTALL)];
    return [ok('terraform', `${binary.path}, version ${found.version}`)];
  },
};
