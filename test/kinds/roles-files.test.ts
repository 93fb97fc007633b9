import { describe, expect, it } from 'vitest';
import {
  desiredEnv,
  ENV_FILE_DESCRIPTION,
  envFileOf,
  mergeEnv,
  parseAuthorizedKeys,
  parseEnv,
  quoteEnvValue,
  renderAuthorizedKeys,
} from '../../reconciler/kinds/roles/files.js';
import { buildResources } from '../../reconciler/specs/load.js';
import { parseSpecText } from '../../reconciler/specs/source.js';

const HOSTILE = ['plain', 'with space', "it's", 'say "hi"', 'a\nb', '$(touch /tmp/x)', '`id`', 'back\\slash', 'tab\there', 'ünï', '', '#not-a-comment'];

describe('role .env', () => {
  it('quotes any value so parseEnv reads back exactly it', () => {
    for (const value of HOSTILE) {
      const line = `LLM_MODEL=${quoteEnvValue(value)}`;
      expect(parseEnv(line + '\nOTHER=1\n').get('LLM_MODEL'), line).toBe(value);
      expect(parseEnv(line + '\nOTHER=1\n').get('OTHER')).toBe('1');
    }
  });

  it('sets fleetspec variables in place, appends missing ones, and keeps every other line byte for byte', () => {
    const existing = '# app settings\nPORT=8080\nLLM_MODEL=old/model\nexport DEBUG="yes # really"\n\nOPENROUTER_API_KEY=sk-old\n';
    const merged = mergeEnv(existing, { LLM_PROVIDER: 'openrouter', LLM_MODEL: 'anthropic/claude-sonnet-4', OPENROUTER_API_KEY: 'sk-new' });
    expect(merged).toBe(
      '# app settings\nPORT=8080\nLLM_MODEL=anthropic/claude-sonnet-4\nexport DEBUG="yes # really"\n\nOPENROUTER_API_KEY=sk-new\n' +
        '# LLM configuration (managed by fleetspec from specs/roles)\nLLM_PROVIDER=openrouter\n',
    );
    const env = parseEnv(merged);
    expect(env.get('DEBUG')).toBe('yes # really');
    expect(env.get('PORT')).toBe('8080');
  });

  it('removes managed variables the spec no longer sets, and keeps a multi-line value of another variable whole', () => {
    const existing = 'CERT="line1\nline2"\nLLM_BASE_URL=http://old\nOPENAI_API_KEY=sk-x\n';
    const merged = mergeEnv(existing, { LLM_PROVIDER: 'ollama' });
    expect(merged).toContain('CERT="line1\nline2"\n');
    expect(merged).not.toMatch(/LLM_BASE_URL|OPENAI_API_KEY/);
    expect(parseEnv(merged).get('CERT')).toBe('line1\nline2');
  });

  it('puts the API key under the provider\'s variable, as a secret reference only', () => {
    expect(desiredEnv({ provider: 'openrouter', model: 'openai/gpt-4o', apiKey: 'secret:roles/dev/key' })).toEqual({
      values: { LLM_PROVIDER: 'openrouter', LLM_MODEL: 'openai/gpt-4o' },
      secrets: { OPENROUTER_API_KEY: 'secret:roles/dev/key' },
    });
    expect(desiredEnv({ provider: 'ollama', baseUrl: 'http://127.0.0.1:11434/v1', apiKey: 'secret:x/y' }).secrets).toEqual({});
  });
});

describe('authorized_keys', () => {
  it('renders a managed header and reads back only the keys', () => {
    const keys = ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop', "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB  o'brien; rm -rf ~"];
    const text = renderAuthorizedKeys(keys, 'specs/roles/manager.yaml');
    expect(text.split('\n')[0]).toMatch(/^# managed by fleetspec from specs\/roles\/manager.yaml/);
    expect(parseAuthorizedKeys(text)).toEqual([keys[0], "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB o'brien; rm -rf ~"]);
  });
});

describe('llm.envFile', () => {
  // A role whose envFile is written on line 9, column 12 (after "  envFile: ").
  const role = (envFile: string) =>
    [
      'kind: Role',
      'name: developer',
      'type: role',
      'ssh: { user: developer, port: 2200 }',
      'capabilities: [tickets.work]',
      'llm:',
      '  provider: openrouter',
      '  apiKey: secret:roles/developer/openrouter_api_key',
      `  envFile: ${JSON.stringify(envFile)}`,
      '',
    ].join('\n');
  const problems = (envFile: string) => buildResources(parseSpecText('specs/roles/developer.yaml', role(envFile)).documents).diagnostics;

  it.each(['.env', 'app/.env', 'srv/app.v2/.env.local', '.config/app/.env', 'a-b_c/.env', '...', 'app/.bashrc'])('accepts %s', (envFile) => {
    expect(problems(envFile)).toEqual([]);
  });

  it.each([
    '--help',
    '-rf',
    'app/-x',
    '.ssh/authorized_keys',
    '.ssh/rc',
    '.ssh',
    '.bashrc',
    '.bashrc.d/llm',
    '.bash_profile',
    '.bash_login',
    '.profile',
    '.zshrc',
    '.zshenv',
    '.zprofile',
    '.zlogin',
    '.cshrc',
    '.tcshrc',
    '.kshrc',
    '.inputrc',
    '.config/fish/config.fish',
    '.pam_environment',
    '.gnupg/gpg-agent.conf',
    '.netrc',
    '.forward',
    '.gitconfig',
    './.bashrc',
    'app/../.bashrc',
    'app/./.env',
    '..',
    '/etc/profile',
    '~/.bashrc',
    'app//.env',
    'app/.env/',
    'a b',
    '',
  ])('refuses %j at the field, with a hint', (envFile) => {
    const found = problems(envFile);
    expect(found.map((d) => `${d.file}:${d.line}:${d.col} ${d.resource}: ${d.code}`)).toEqual([
      'specs/roles/developer.yaml:9:12 roles/developer: schema.bad-format',
    ]);
    expect(found[0]!.message).toBe(`${JSON.stringify(envFile)} is not in the expected format`);
    expect(found[0]!.hint).toBe(`expected ${ENV_FILE_DESCRIPTION}`);
  });

  it('is refused by the driver too, when a value got past the spec validation', () => {
    expect(() => envFileOf({ provider: 'ollama', envFile: '.ssh/authorized_keys' })).toThrow('llm.envFile ".ssh/authorized_keys" is not allowed');
    expect(envFileOf({ provider: 'ollama' })).toBe('.env');
  });
});
