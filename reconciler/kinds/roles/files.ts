// The two files a role owns on its host: ~/.ssh/authorized_keys (wholly managed when the spec
// lists keys) and the LLM lines of its .env (seed 000); other .env lines are kept as they are.
import type { Role } from './index.js';

export const AUTHORIZED_KEYS = '.ssh/authorized_keys';
export const DEFAULT_ENV_FILE = '.env';

/**
 * Files under a home that a shell, sshd, a login or a tool reads and acts on, relative to the
 * home (a name, or a folder: everything under it). llm.envFile may never be one of them: the
 * .env merge appends the API key and LLM lines to whatever file it names.
 */
const STARTUP_FILES = [
  '.ssh', '.gnupg', '.config/fish', '.config/environment.d', '.config/systemd', '.config/autostart', '.config/git',
  '.bashrc', '.bashrc.d', '.bash_profile', '.bash_login', '.bash_logout', '.bash_aliases', '.profile', '.login', '.logout',
  '.zshrc', '.zshenv', '.zprofile', '.zlogin', '.zlogout', '.cshrc', '.tcshrc', '.kshrc', '.mkshrc', '.inputrc',
  '.pam_environment', '.netrc', '.forward', '.rhosts', '.shosts', '.k5login', '.gitconfig', '.npmrc',
  '.xprofile', '.xsession', '.xsessionrc', '.xinitrc', '.vimrc', '.exrc',
];

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * llm.envFile as a JSON Schema pattern: a path relative to the role user's home, of segments of
 * letters, digits, dots, dashes and underscores; no segment is `.` or `..` or starts with `-`
 * (remote commands also end their options with `--`), and it is not in STARTUP_FILES.
 */
export const ENV_FILE_PATTERN =
  '^(?!(?:[^/]*/)*\\.{1,2}(?:/|$))' +
  `(?!(?:${STARTUP_FILES.map(escapeRegExp).join('|')})(?:/|$))` +
  '[A-Za-z0-9._][A-Za-z0-9._-]*(?:/[A-Za-z0-9._][A-Za-z0-9._-]*)*$';

export const ENV_FILE_DESCRIPTION =
  "the .env file, relative to the role user's home (default .env), such as app/.env: no . or .. segment, no segment starting with -, " +
  'and not a file a shell, sshd or login reads (.ssh/…, .bashrc, .profile, .zshrc, .config/fish/…, .pam_environment, .netrc and the like)';

const ENV_FILE = new RegExp(ENV_FILE_PATTERN, 'u');

/** The role's .env path; throws when it breaks ENV_FILE_PATTERN (the spec's validation refuses that first). */
export function envFileOf(llm: NonNullable<Role['llm']>): string {
  const file = llm.envFile ?? DEFAULT_ENV_FILE;
  if (!ENV_FILE.test(file)) throw new Error(`llm.envFile ${JSON.stringify(file)} is not allowed: it must be ${ENV_FILE_DESCRIPTION}`);
  return file;
}

/** The .env variable that carries the provider's API key (seed 000: OPENROUTER_API_KEY). */
const API_KEY_VARIABLE: Record<NonNullable<Role['llm']>['provider'], string | undefined> = {
  openrouter: 'OPENROUTER_API_KEY',
  openai: 'OPENAI_API_KEY',
  ollama: undefined,
};

/** Every variable fleetspec owns in a role's .env; the rest of the file is the role's own. */
export const MANAGED_VARIABLES = ['LLM_PROVIDER', 'LLM_MODEL', 'LLM_BASE_URL', 'OPENROUTER_API_KEY', 'OPENAI_API_KEY'] as const;

export interface DesiredEnv {
  /** Plain values by variable. */
  values: Record<string, string>;
  /** Variables whose value is a secret, by variable: the `secret:` reference. */
  secrets: Record<string, string>;
}

export function desiredEnv(llm: NonNullable<Role['llm']>): DesiredEnv {
  const values: Record<string, string> = { LLM_PROVIDER: llm.provider };
  if (llm.model) values.LLM_MODEL = llm.model;
  if (llm.baseUrl) values.LLM_BASE_URL = llm.baseUrl;
  const secrets: Record<string, string> = {};
  const keyVariable = API_KEY_VARIABLE[llm.provider];
  if (llm.apiKey && keyVariable) secrets[keyVariable] = llm.apiKey;
  return { values, secrets };
}

/** KEY=VALUE lines as dotenv reads them: bare, 'single' (literal) or "double" (\n, \", \\ escapes). */
export function parseEnv(text: string): Map<string, string> {
  const vars = new Map<string, string>();
  for (const line of logicalLines(text)) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/s.exec(line);
    if (!m) continue;
    vars.set(m[1]!, unquote(m[2]!));
  }
  return vars;
}

/** Lines, joining a double-quoted value that spans several physical lines. */
function logicalLines(text: string): string[] {
  const out: string[] = [];
  let pending: string | undefined;
  for (const line of text.split(/\r?\n/)) {
    if (pending !== undefined) {
      pending += '\n' + line;
      if (/(^|[^\\])(\\\\)*"\s*$/.test(line)) (out.push(pending), (pending = undefined));
      continue;
    }
    const open = /^\s*(?:export\s+)?[A-Za-z_][A-Za-z0-9_]*\s*=\s*"/.exec(line);
    if (open && !/^[^"]*"(?:[^"\\]|\\.)*"\s*(#.*)?$/.test(line.slice(open[0].length - 1))) pending = line;
    else out.push(line);
  }
  if (pending !== undefined) out.push(pending);
  return out;
}

function unquote(raw: string): string {
  const value = raw.trim();
  if (value.startsWith("'")) return value.slice(1, value.indexOf("'", 1) === -1 ? undefined : value.indexOf("'", 1));
  if (value.startsWith('"')) {
    const m = /^"((?:[^"\\]|\\.)*)"/s.exec(value);
    const body = m ? m[1]! : value.slice(1);
    return body.replace(/\\(.)/gs, (_, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c === 't' ? '\t' : c));
  }
  return value.replace(/\s+#.*$/, '');
}

/** A value as a .env line writes it: bare when plain, 'literal' when it can be, else "escaped". */
export function quoteEnvValue(value: string): string {
  if (/^[A-Za-z0-9_.:/@+,-]*$/.test(value)) return value;
  if (!/['\n\r]/.test(value)) return `'${value}'`;
  return `"${value.replace(/[\\"$`\n\r\t]/g, (c) => ({ '\n': '\\n', '\r': '\\r', '\t': '\\t' })[c] ?? `\\${c}`)}"`;
}

/**
 * The new .env: the existing file with fleetspec's variables set to `values` (in place where
 * they were, appended otherwise) and managed variables not in `values` removed. Lines that
 * are not fleetspec's are kept byte for byte.
 */
export function mergeEnv(existing: string | undefined, values: Record<string, string>): string {
  const remaining = new Map(Object.entries(values));
  const managed = new Set<string>(MANAGED_VARIABLES);
  const out: string[] = [];
  for (const line of existing === undefined ? [] : logicalLines(existing.replace(/\n$/, ''))) {
    const name = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=/.exec(line)?.[1];
    if (name && managed.has(name)) {
      if (remaining.has(name)) out.push(`${name}=${quoteEnvValue(remaining.get(name)!)}`);
      remaining.delete(name);
    } else out.push(line);
  }
  if (remaining.size && !out.some((l) => l.startsWith('# LLM configuration'))) out.push('# LLM configuration (managed by fleetspec from specs/roles)');
  for (const [name, value] of remaining) out.push(`${name}=${quoteEnvValue(value)}`);
  return out.join('\n') + '\n';
}

/** Public key lines of an authorized_keys file, whitespace-normalised, comments and blanks dropped. */
export function parseAuthorizedKeys(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim().replace(/\s+/g, ' '))
    .filter((l) => l !== '' && !l.startsWith('#'));
}

export function renderAuthorizedKeys(keys: readonly string[], source: string): string {
  return [`# managed by fleetspec from ${source}; changes made here are overwritten`, ...keys.map((k) => k.trim().replace(/\s+/g, ' '))].join('\n') + '\n';
}
