// Passwords out of anything fleetspec prints: every message that can hold a connection string
// or a URL (the state store's DATABASE_URL, terraform's PG_CONN_STR, git remotes, LLM and
// Ollama base URLs) goes through redactUrl before it is shown or logged.

const MASK = '***';

/**
 * Names of parameters whose value is a credential, as URL query parameters (`?password=`,
 * `&sslpassword=`, `?access_token=`) and as libpq key=value pairs (`password=`, `sslpassword=`).
 * A little too wide on purpose (`bypass=` is masked too): a masked harmless value costs nothing.
 */
const KEY = String.raw`(?:[a-z0-9_.-]*pass(?:word|wd)?|pwd|[a-z0-9_.-]*secret|[a-z0-9_.-]*token|api[_-]?key)`;

/** scheme://userinfo@ — the userinfo runs to the last @ before the path, as URL parsers read it. */
const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#]*)@/gi;
/**
 * ?key=value and &key=value (also ;key=value): the value runs to the next &, # or blank, and stops
 * before a colon that ends it ("…?password=x: connection refused" keeps its ": ").
 */
const QUERY = new RegExp(String.raw`([?&;]${KEY})=((?:[^&#\s"<>:]|:(?![\s]|$))*)`, 'gi');
/** key=value in a libpq connection string: 'quoted' (with \ escapes), "quoted", or bare to the next blank. */
const KEY_VALUE = new RegExp(String.raw`(^|[\s(,])(${KEY})(\s*=\s*)('(?:[^'\\]|\\.)*'?|"(?:[^"\\]|\\.)*"?|(?:[^\s\\:]|:(?!\s|$)|\\.)+)`, 'gi');

/** Schemes where a user name alone is where a token goes (https://TOKEN@github.com/...). */
const TOKEN_IN_USER = /^(https?|wss?|git|ftp):\/\/$/i;

/**
 * `text` with the password of every URL and connection string in it replaced by ***, wherever it
 * sits: `user:password@` (the user name stays, so the message still says who connected where),
 * password-like query parameters, and key=value pairs. Hosts, ports and database names stay.
 */
export function redactUrl(text: string): string {
  return text
    .replace(USERINFO, (_match, scheme: string, userinfo: string) => {
      const colon = userinfo.indexOf(':');
      if (colon === -1) return TOKEN_IN_USER.test(scheme) && userinfo !== '' ? `${scheme}${MASK}@` : `${scheme}${userinfo}@`;
      if (colon === userinfo.length - 1) return `${scheme}${userinfo}@`;
      return `${scheme}${userinfo.slice(0, colon)}:${MASK}@`;
    })
    .replace(QUERY, (_match, key: string, value: string) => (value === '' ? `${key}=` : `${key}=${MASK}`))
    .replace(KEY_VALUE, (_match, before: string, key: string, equals: string) => `${before}${key}${equals}${MASK}`);
}

/**
 * The credentials redactUrl would mask in `text`, as written and URL-decoded, for scrubbing
 * output that quotes one of them on its own (terraform's errors about PG_CONN_STR).
 */
export function credentialsIn(text: string): string[] {
  const found: string[] = [];
  const add = (raw: string, decode: (v: string) => string) => {
    if (raw === '') return;
    found.push(raw);
    let decoded = raw;
    try {
      decoded = decode(raw);
    } catch {
      // not valid percent-encoding: the raw form is all there is
    }
    if (decoded !== raw) found.push(decoded);
  };
  const percent = (v: string) => decodeURIComponent(v);
  for (const m of text.matchAll(USERINFO)) {
    const userinfo = m[2]!;
    const colon = userinfo.indexOf(':');
    if (colon !== -1) add(userinfo.slice(colon + 1), percent);
  }
  for (const m of text.matchAll(QUERY)) add(m[2]!, (v) => decodeURIComponent(v.replace(/\+/g, ' ')));
  for (const m of text.matchAll(KEY_VALUE)) {
    const value = m[4]!;
    const quoted = /^(['"])(.*?)\1?$/s.exec(value);
    const body = quoted ? quoted[2]! : value;
    const unescaped = body.replace(/\\(.)/gs, '$1');
    if (unescaped !== '') found.push(unescaped);
  }
  return found;
}
