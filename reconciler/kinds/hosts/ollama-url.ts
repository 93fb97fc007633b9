// What a host's ollama.url may name, and how fleetspec reaches it. Only the host itself: its own
// address or hostname (reached directly), or its loopback (127.0.0.0/8, ::1, localhost), which is
// reached through the SSH connection to the host, never on the machine fleetspec runs on (unless
// the host's own address is loopback: then the host is that machine). Anything else would let a
// spec send requests from the reconciler to any address it can reach and quote the answer in a PR.
import type { Host } from './index.js';

export type OllamaUrl =
  | {
      ok: true;
      /** `http://host:port`, normalised (no path), as the client's baseUrl. */
      origin: string;
      /** The host part without IPv6 brackets, as an SSH forward names it. */
      hostname: string;
      port: number;
      /** On loopback: as the host sees it, so through the SSH forward. */
      loopback: boolean;
    }
  | { ok: false; code: 'ref.ollama-url-form' | 'ref.ollama-url-elsewhere'; message: string; hint: string };

const EXAMPLE = 'http://127.0.0.1:11434';

/** A host name or address as compared: IPv4 and IPv6 in their canonical forms, names lower-case, no brackets or trailing dot. */
export function canonicalHost(name: string): string {
  const bare = name.trim().replace(/^\[(.*)\]$/, '$1');
  try {
    const { hostname } = new URL(`http://${bare.includes(':') ? `[${bare}]` : bare}/`);
    return hostname.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
  } catch {
    return bare.toLowerCase().replace(/\.$/, '');
  }
}

/** 127.0.0.0/8, ::1 or localhost, in any spelling URL parsing accepts (127.1, [0:0::1], LOCALHOST.). */
export function isLoopback(name: string): boolean {
  const host = canonicalHost(name);
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Checks a host's ollama.url: the form first (scheme, credentials, path, query, fragment), then that it names this host. */
export function checkOllamaUrl(raw: string, host: Pick<Host, 'address' | 'hostname'>): OllamaUrl {
  const form = (message: string, hint: string): OllamaUrl => ({ ok: false, code: 'ref.ollama-url-form', message, hint });
  const parts = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)(.*)$/s.exec(raw);
  if (!parts) return form(`ollama.url ${JSON.stringify(raw)} is not a URL`, `write it as ${EXAMPLE}: http://, the host, its port`);
  const [, scheme, authority, rest] = parts as unknown as [string, string, string, string];
  if (scheme.toLowerCase() !== 'http') {
    return form(
      `ollama.url uses ${scheme.toLowerCase()}://; fleetspec speaks plain HTTP to Ollama`,
      `write http://; for an encrypted path use loopback (${EXAMPLE}), which fleetspec reaches through its SSH connection to the host`,
    );
  }
  if (authority.includes('@')) {
    return form('ollama.url holds a user name or password (the part before "@")', 'remove it: Ollama takes no credentials, and secrets never go in specs');
  }
  if (rest.includes('#')) return form('ollama.url has a fragment (#...)', `remove it: write only http://host:port, such as ${EXAMPLE}`);
  if (rest.includes('?')) return form('ollama.url has a query string (?...)', `remove it: write only http://host:port, such as ${EXAMPLE}`);
  if (rest !== '' && rest !== '/') {
    return form('ollama.url has a path; fleetspec calls Ollama\'s /api/... at the root', `remove the path: write only http://host:port, such as ${EXAMPLE}`);
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return form(`ollama.url ${JSON.stringify(raw)} is not a valid URL`, `check the host and port (1 to 65535), such as ${EXAMPLE}`);
  }
  // What URL parsing reads differently from the text (a backslash is a slash in http URLs) still may not add these.
  if (url.username || url.password || url.pathname !== '/' || url.search || url.hash || authority.includes('\\')) {
    return form(`ollama.url ${JSON.stringify(raw)} is read as more than http://host:port`, `write only http://host:port, such as ${EXAMPLE}`);
  }
  const hostname = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = url.port === '' ? 80 : Number(url.port);
  const ok = (loopback: boolean): OllamaUrl => ({ ok: true, origin: `http://${url.host}`, hostname, port, loopback });
  if (isLoopback(hostname)) return ok(true);
  const own = [host.address, host.hostname].filter((a): a is string => typeof a === 'string' && a !== '').map(canonicalHost);
  if (own.includes(canonicalHost(hostname))) return ok(false);
  return {
    ok: false,
    code: 'ref.ollama-url-elsewhere',
    message: `ollama.url points at ${JSON.stringify(hostname)}, which is not this host: not its address ${JSON.stringify(host.address)}${host.hostname ? ` nor its hostname ${JSON.stringify(host.hostname)}` : ''}, nor loopback`,
    hint: `use loopback, such as http://127.0.0.1:${port} (reached through the SSH connection to the host), or this host's own address (http://${host.address.includes(':') ? `[${host.address}]` : host.address}:${port}); or leave url out and set ollama.port`,
  };
}
