// Google service-account authentication (RFC 7523 JWT bearer grant, as Google's OAuth 2.0 for
// server-to-server applications documents it): a JWT signed RS256 with the key's private key,
// exchanged at the key's token_uri for an access token, kept until shortly before it expires.
// The key and the token stay inside this module and the client: no message, error or log holds
// them (errors quote only Google's own error text, excerpted).
import { createPrivateKey, createSign, type KeyObject } from 'node:crypto';
import { remoteExcerpt } from '../remote-text.js';
import { GcpError, readJson } from './http.js';

/** The scope fleetspec asks for: Compute Engine and Cloud Monitoring both accept it. */
export const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';

export interface ServiceAccountKey {
  clientEmail: string;
  privateKey: KeyObject;
  tokenUri: string;
  projectId?: string;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * Parses a service-account key file (JSON with type service_account, client_email, private_key,
 * token_uri). Its errors never quote the key: only which field is missing or wrong.
 */
export function parseServiceAccountKey(text: string, where: string): ServiceAccountKey {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new GcpError(`${where} is not a service-account key (not JSON); store the key file Google gave (fleetspec secrets set)`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new GcpError(`${where} is not a service-account key (not a JSON object)`);
  if (json.type !== undefined && json.type !== 'service_account') throw new GcpError(`${where} is not a service-account key (its type is not service_account)`);
  const email = json.client_email;
  if (typeof email !== 'string' || !/^[^@\s]+@[^@\s]+$/.test(email)) throw new GcpError(`${where} has no client_email`);
  if (typeof json.private_key !== 'string') throw new GcpError(`${where} has no private_key`);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(json.private_key);
  } catch {
    throw new GcpError(`${where}: its private_key is not a PEM private key`);
  }
  if (privateKey.asymmetricKeyType !== 'rsa') throw new GcpError(`${where}: its private_key is not an RSA key (RS256 needs one)`);
  const tokenUri = typeof json.token_uri === 'string' ? json.token_uri : 'https://oauth2.googleapis.com/token';
  let url: URL;
  try {
    url = new URL(tokenUri);
  } catch {
    throw new GcpError(`${where}: its token_uri is not a URL`);
  }
  // The signed assertion is a credential: it travels over TLS, or stays on this machine.
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK.has(url.hostname))) {
    throw new GcpError(`${where}: its token_uri must be https (or http on loopback, for tests)`);
  }
  return { clientEmail: email, privateKey, tokenUri, ...(typeof json.project_id === 'string' ? { projectId: json.project_id } : {}) };
}

const b64url = (data: string | Buffer) => Buffer.from(data).toString('base64url');

/** The signed JWT assertion for the bearer grant: iss and the audience token_uri, valid one hour. */
export function signAssertion(key: ServiceAccountKey, scope: string, nowSeconds: number): string {
  const header = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT' }));
  const claims = b64url(JSON.stringify({ iss: key.clientEmail, scope, aud: key.tokenUri, iat: nowSeconds, exp: nowSeconds + 3600 }));
  const signer = createSign('RSA-SHA256');
  signer.update(`${header}.${claims}`);
  return `${header}.${claims}.${b64url(signer.sign(key.privateKey))}`;
}

export interface TokenOptions {
  timeoutMs: number;
  /** Seconds since the epoch (tests move time). */
  now?: () => number;
}

/** Access tokens for one key, fetched once and reused until a minute before they expire. */
export class TokenSource {
  #cached?: { token: string; expires: number };
  #pending?: Promise<string>;
  constructor(
    private readonly key: ServiceAccountKey,
    private readonly opts: TokenOptions,
  ) {}

  async token(): Promise<string> {
    const now = (this.opts.now ?? (() => Date.now() / 1000))();
    if (this.#cached && this.#cached.expires - 60 > now) return this.#cached.token;
    this.#pending ??= this.#fetch(now).finally(() => (this.#pending = undefined));
    return this.#pending;
  }

  async #fetch(now: number): Promise<string> {
    const body = new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: signAssertion(this.key, CLOUD_PLATFORM_SCOPE, Math.floor(now)) });
    const where = `the token endpoint of ${this.key.clientEmail}`;
    let res: Response;
    try {
      res = await fetch(this.key.tokenUri, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: body.toString(),
        redirect: 'error',
        signal: AbortSignal.timeout(this.opts.timeoutMs),
      });
    } catch (err) {
      throw new GcpError(`${where} could not be reached (${err instanceof Error && err.name === 'TimeoutError' ? `no answer in ${this.opts.timeoutMs} ms` : 'connection failed'})`);
    }
    const json = (await readJson(res, where)) as Record<string, unknown> | undefined;
    if (!res.ok) {
      // OAuth 2.0 errors (RFC 6749 5.2): error and error_description, quoted short and escaped.
      const said = [json?.error, json?.error_description].filter((s) => typeof s === 'string').join(': ');
      const remote = remoteExcerpt(said || `HTTP ${res.status}`);
      throw new GcpError(`${where} refused the key: ${remote}`, { status: res.status, remote, hint: 'check that the service account and its key exist and are enabled' });
    }
    const token = json?.access_token;
    const expiresIn = typeof json?.expires_in === 'number' ? json.expires_in : 3600;
    if (typeof token !== 'string' || !token) throw new GcpError(`${where} answered without an access_token`);
    this.#cached = { token, expires: now + expiresIn };
    return token;
  }
}
