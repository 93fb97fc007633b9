// Finds secret values written into specs, where a `secret:path/to/key` reference belongs.
// Specs live in git and flow into PRs and LLM prompts; a literal secret there has leaked.
import type { Finding } from '../kinds/kind.js';
import type { PathSegment } from './source.js';

/** Field names that hold secrets, compared lowercased without _ - and dots. Public material (hostKey, publicKey) does not match. */
const SECRET_FIELD = /(password|passwd|passphrase|secret|token|apikey|privatekey|credentials?)$/;
const isSecretField = (field: string) => SECRET_FIELD.test(field.toLowerCase().replace(/[_.-]/g, ''));

/** Values that are secrets whatever field they sit in. */
const SECRET_VALUES: { pattern: RegExp; what: string }[] = [
  { pattern: /-----BEGIN [A-Z ]*PRIVATE KEY-----/, what: 'a private key' },
  { pattern: /\bsk-(or-v1-|ant-|proj-)?[A-Za-z0-9_-]{20,}/, what: 'an API key (sk-...)' },
  { pattern: /\b(ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{30,}/, what: 'a GitHub token' },
  { pattern: /\bgithub_pat_[A-Za-z0-9_]{30,}/, what: 'a GitHub token' },
  { pattern: /\bxox[abprs]-[A-Za-z0-9-]{10,}/, what: 'a Slack token' },
  { pattern: /\bAKIA[0-9A-Z]{16}\b/, what: 'an AWS access key' },
  { pattern: /\bAIza[0-9A-Za-z_-]{35}\b/, what: 'a Google API key' },
  { pattern: /\b[a-z][a-z0-9+.-]*:\/\/[^\s/:@]+:[^\s/@]+@/i, what: 'a URL with a password in it' },
  { pattern: /[?&](?:password|passwd|pass|sslpassword|access_token|token|api_?key|secret)=[^&\s#]+/i, what: 'a URL with a password or token in its query' },
  { pattern: /(?:^|\s)(?:password|sslpassword)=\S+/i, what: 'a connection string with a password in it' },
];

export const SECRET_REF_PREFIX = 'secret:';
const SECRET_REF = /^secret:[a-z0-9][a-z0-9_.-]*(\/[a-z0-9][a-z0-9_.-]*)+$/;

const HINT = 'store the value with `fleetspec secrets set <path>` (it reads stdin) and write `secret:<path>` here, e.g. secret:meta/cloudflare/api_token';

/** Every secret-looking literal in a spec value, by path. */
export function findSecretLiterals(value: unknown): Finding[] {
  const findings: Finding[] = [];
  const walk = (node: unknown, path: PathSegment[]): void => {
    if (Array.isArray(node)) {
      node.forEach((item, i) => walk(item, [...path, i]));
      return;
    }
    if (node !== null && typeof node === 'object') {
      for (const [key, child] of Object.entries(node)) walk(child, [...path, key]);
      return;
    }
    const field = path[path.length - 1];
    if (typeof node === 'string' && node.startsWith(SECRET_REF_PREFIX)) {
      if (!SECRET_REF.test(node)) {
        findings.push({
          code: 'secret.bad-reference',
          path,
          message: `malformed secret reference ${JSON.stringify(node)}`,
          hint: 'write secret: followed by a path of two or more lowercase segments, e.g. secret:roles/developer/openrouter_api_key',
        });
      }
      return;
    }
    if (typeof field === 'string' && isSecretField(field) && node !== null && node !== '' && typeof node !== 'boolean') {
      findings.push({ code: 'secret.literal', path, message: `"${field}" holds a literal value; secrets never go in specs`, hint: HINT });
      return;
    }
    if (typeof node === 'string') {
      const hit = SECRET_VALUES.find((s) => s.pattern.test(node));
      if (hit) findings.push({ code: 'secret.literal', path, message: `value looks like ${hit.what}; secrets never go in specs`, hint: HINT });
    }
  };
  walk(value, []);
  return findings;
}
