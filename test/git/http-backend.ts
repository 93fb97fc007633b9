// A real `git http-backend` (the CGI that ships with git) behind a loopback node:http server, so the
// spec repository code speaks smart HTTP to the same server-side git that hosting services run,
// with optional HTTP Basic token auth the way GitHub asks for it (any username, token as password).
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export interface RecordedGitRequest {
  method: string;
  /** Path and query, e.g. "/specs.git/info/refs?service=git-upload-pack". */
  path: string;
  /** The Basic auth username of an accepted request; undefined when none was sent or it was refused. */
  user: string | undefined;
  /** Content-Encoding of the request body, e.g. "gzip" (real git compresses large fetch requests). */
  contentEncoding: string | undefined;
  /** The status the server answered with. */
  status: number;
}

export interface TestClone {
  /** The working tree. */
  dir: string;
  /** Runs real git in the working tree with the test identity; returns stdout without the final newline. */
  git(...args: string[]): string;
}

/** One ref a push changed, as a post-receive hook sees it. */
export interface GitPush {
  /** The repository's name (without .git). */
  repo: string;
  /** The full ref, such as refs/heads/main. */
  ref: string;
  /** 40 zeros: the ref was created. */
  before: string;
  /** 40 zeros: the ref was deleted. */
  after: string;
  /** The Basic auth username of the push over HTTP; undefined for commit() and pushes without one. */
  user: string | undefined;
}

export type PushListener = (push: GitPush) => void;

export interface GitTestServer {
  /** http://127.0.0.1:PORT/<name>.git */
  url(repoName: string): string;
  /** GIT_PROJECT_ROOT: the bare repositories are <root>/<name>.git. */
  root: string;
  /** Creates a bare repository with one commit holding `files` on `branch` (default main), its HEAD; returns that commit. */
  createBare(name: string, files?: Record<string, string>, options?: { branch?: string }): Promise<string>;
  /** Runs real git in the bare repository (rev-parse, log, ...); returns stdout without the final newline. */
  git(repoName: string, ...args: string[]): string;
  /** A working clone of the bare repository through its path (not HTTP), for commits made behind the code under test's back. */
  clone(repoName: string): TestClone;
  /** Commits `files` (null deletes) on top of `branch` in a fresh clone and pushes it, as another user would; returns the commit. */
  commit(repoName: string, branch: string, files: Record<string, string | null>, message?: string): string;
  requests: RecordedGitRequest[];
  /**
   * Told of each ref a push changed, once the push is done (before its HTTP answer ends): pushes over
   * HTTP and commit()'s. Settable at any time; GitHub's side of it is test/git/activity.ts deliverPushes.
   */
  onPush: PushListener | undefined;
  close(): Promise<void>;
}

export const TEST_AUTHOR = { name: 'Test', email: 'test@example.com' };

/** git must not read the machine's or the user's config: identities, hooks and defaults would leak into the tests. */
const GIT_ENV = {
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  HOME: tmpdir(),
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_AUTHOR_NAME: TEST_AUTHOR.name,
  GIT_AUTHOR_EMAIL: TEST_AUTHOR.email,
  GIT_COMMITTER_NAME: TEST_AUTHOR.name,
  GIT_COMMITTER_EMAIL: TEST_AUTHOR.email,
  GIT_TERMINAL_PROMPT: '0',
  LANG: 'C',
};

const roots = new Set<string>();

// A crashed or interrupted run must not leave repositories behind in the temp directory.
process.once('exit', () => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

/** Real git with the isolated environment; stdout without the final newline. */
export function runGit(cwd: string, args: string[], env: Record<string, string> = {}): string {
  return execFileSync('git', args, { cwd, env: { ...GIT_ENV, ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).replace(/\n$/, '');
}

/** Real git without blocking the event loop, for commands that talk to this process's own HTTP server. */
export function runGitAsync(cwd: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('git', args, { cwd, env: { ...GIT_ENV, ...env }, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error) reject(new Error(`git ${args[0]} failed: ${stderr || error.message}`));
      else resolve(stdout.replace(/\n$/, ''));
    });
  });
}

export async function startGitServer(options: { token?: string; onPush?: PushListener } = {}): Promise<GitTestServer> {
  const base = mkdtempSync(join(tmpdir(), 'fleetspec-git-'));
  roots.add(base);
  const root = join(base, 'repos');
  const scratch = join(base, 'scratch');
  mkdirSync(root);
  mkdirSync(scratch);
  const requests: RecordedGitRequest[] = [];
  let clones = 0;

  const server = createServer((req, res) => {
    const record: RecordedGitRequest = {
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      user: undefined,
      contentEncoding: req.headers['content-encoding'],
      status: 0,
    };
    requests.push(record);
    res.once('finish', () => (record.status = res.statusCode));
    const login = basicAuth(req);
    if (options.token !== undefined && login?.password !== options.token) {
      req.resume();
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="git"', 'Content-Type': 'text/plain' });
      res.end('authentication required\n');
      return;
    }
    record.user = login?.user;
    // A push: the refs before it, compared with the refs after it once receive-pack is done.
    const pushed = req.method === 'POST' ? /^\/(.+)\.git\/git-receive-pack$/.exec(new URL(req.url ?? '/', 'http://git').pathname)?.[1] : undefined;
    const before = pushed !== undefined && result.onPush ? refsOf(pushed) : undefined;
    runBackend(root, req, res, login?.user, before && (() => reportPush(pushed!, before, login?.user)));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  const bare = (name: string) => join(root, `${name}.git`);

  function refsOf(repoName: string): Map<string, string> {
    try {
      const out = runGit(bare(repoName), ['for-each-ref', '--format=%(refname) %(objectname)']);
      return new Map(out.split('\n').filter(Boolean).map((l) => l.split(' ') as [string, string]));
    } catch {
      return new Map();
    }
  }

  function reportPush(repoName: string, before: Map<string, string>, user: string | undefined): void {
    const listener = result.onPush;
    if (!listener) return;
    const after = refsOf(repoName);
    for (const ref of new Set([...before.keys(), ...after.keys()])) {
      const was = before.get(ref) ?? ZERO;
      const now = after.get(ref) ?? ZERO;
      if (was !== now) listener({ repo: repoName, ref, before: was, after: now, user });
    }
  }

  function clone(repoName: string): TestClone {
    const dir = join(scratch, `clone-${++clones}`);
    runGit(scratch, ['clone', '--quiet', bare(repoName), dir]);
    return { dir, git: (...args) => runGit(dir, args) };
  }

  function commit(repoName: string, branch: string, files: Record<string, string | null>, message = 'test commit'): string {
    const work = clone(repoName);
    if (work.git('ls-remote', '--heads', 'origin', branch) !== '') work.git('checkout', '--quiet', branch);
    else if (work.git('ls-remote', 'origin', 'HEAD') !== '') work.git('checkout', '--quiet', '-b', branch);
    // An empty repository: the first commit starts the branch.
    else work.git('symbolic-ref', 'HEAD', `refs/heads/${branch}`);
    // Deletions first, so that a folder emptied here can become a file of the same name.
    for (const [path, content] of Object.entries(files)) {
      if (content === null) removeUpwards(work.dir, path);
    }
    for (const [path, content] of Object.entries(files)) {
      if (content === null) continue;
      mkdirSync(dirname(join(work.dir, path)), { recursive: true });
      writeFileSync(join(work.dir, path), content);
    }
    work.git('add', '--all');
    work.git('commit', '--quiet', '--allow-empty', '-m', message);
    const before = result.onPush ? refsOf(repoName) : undefined;
    work.git('push', '--quiet', 'origin', `HEAD:refs/heads/${branch}`);
    const sha = work.git('rev-parse', 'HEAD');
    rmSync(work.dir, { recursive: true, force: true });
    if (before) reportPush(repoName, before, undefined);
    return sha;
  }

  const result: GitTestServer = {
    url: (repoName) => `http://127.0.0.1:${port}/${repoName}.git`,
    root,
    async createBare(name, files = {}, { branch = 'main' } = {}) {
      runGit(root, ['init', '--quiet', '--bare', `--initial-branch=${branch}`, bare(name)]);
      // http-backend refuses pushes from unauthenticated (no REMOTE_USER) clients unless this is set.
      runGit(bare(name), ['config', 'http.receivepack', 'true']);
      return commit(name, branch, files, 'initial commit');
    },
    git: (repoName, ...args) => runGit(bare(repoName), args),
    clone,
    commit,
    requests,
    onPush: options.onPush,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(base, { recursive: true, force: true });
      roots.delete(base);
    },
  };
  return result;
}

const ZERO = '0'.repeat(40);

/** Removes a file and then its parent folders while they are empty, as git leaves no empty folders. */
function removeUpwards(dir: string, path: string): void {
  rmSync(join(dir, path), { recursive: true, force: true });
  for (let parent = dirname(path); parent !== '.'; parent = dirname(parent)) {
    if (readdirSync(join(dir, parent)).length > 0) break;
    rmdirSync(join(dir, parent));
  }
}

function basicAuth(req: IncomingMessage): { user: string; password: string } | undefined {
  const match = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** One CGI run of git http-backend (RFC 3875): request metadata in the environment, body on stdin, headers then body on stdout. */
function runBackend(root: string, req: IncomingMessage, res: ServerResponse, user: string | undefined, done?: () => void): void {
  const url = new URL(req.url ?? '/', 'http://git');
  const env: Record<string, string> = {
    ...GIT_ENV,
    GIT_PROJECT_ROOT: root,
    GIT_HTTP_EXPORT_ALL: '1',
    PATH_INFO: decodeURIComponent(url.pathname),
    QUERY_STRING: url.search.slice(1),
    REQUEST_METHOD: req.method ?? 'GET',
    REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
  };
  if (req.headers['content-type']) env.CONTENT_TYPE = req.headers['content-type'];
  if (req.headers['content-length']) env.CONTENT_LENGTH = req.headers['content-length'];
  // http-backend inflates gzip bodies itself (real git sends large fetch negotiations compressed).
  const encoding = req.headers['content-encoding'];
  if (encoding) env.HTTP_CONTENT_ENCODING = encoding;
  // Protocol v2 negotiation travels in this header; http-backend hands it on to upload-pack.
  const protocol = req.headers['git-protocol'];
  if (typeof protocol === 'string') env.HTTP_GIT_PROTOCOL = protocol;
  if (user !== undefined) env.REMOTE_USER = user;

  const child = spawn('git', ['http-backend'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  // A client that hangs up early closes our end of the pipe; that is not a server failure.
  child.stdin.on('error', () => undefined);
  req.pipe(child.stdin);

  let head = Buffer.alloc(0);
  let headersDone = false;
  const readHeaders = (chunk: Buffer) => {
    head = Buffer.concat([head, chunk]);
    const end = headerEnd(head);
    if (!end) return;
    headersDone = true;
    child.stdout.off('data', readHeaders);
    writeCgiHeaders(res, head.subarray(0, end.at).toString('latin1'));
    const rest = head.subarray(end.at + end.length);
    if (rest.length > 0) res.write(rest);
    // A push is reported once its refs are written (http-backend's output ends when it exits), before the answer ends.
    child.stdout.pipe(res, { end: false });
    child.stdout.once('end', () => {
      try {
        done?.();
      } finally {
        res.end();
      }
    });
  };
  child.stdout.on('data', readHeaders);
  child.once('close', (code) => {
    if (headersDone) return;
    if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' });
    res.end(`git http-backend exited with ${code} before sending headers: ${stderr}`);
  });
  child.once('error', (error) => {
    if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' });
    res.end(`cannot run git http-backend: ${error.message}`);
  });
}

/** Where the CGI header block ends: the first empty line, CRLF or LF. */
function headerEnd(buffer: Buffer): { at: number; length: number } | undefined {
  const crlf = buffer.indexOf('\r\n\r\n');
  const lf = buffer.indexOf('\n\n');
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return { at: crlf, length: 4 };
  if (lf >= 0) return { at: lf, length: 2 };
  return undefined;
}

/** CGI "Status: 404 Not Found" becomes the status line; every other header passes through. */
function writeCgiHeaders(res: ServerResponse, block: string): void {
  let status = 200;
  let reason: string | undefined;
  const headers: Record<string, string | string[]> = {};
  for (const line of block.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (name.toLowerCase() === 'status') {
      const [code, ...words] = value.split(' ');
      status = Number(code);
      reason = words.join(' ') || undefined;
      continue;
    }
    const previous = headers[name];
    headers[name] = previous === undefined ? value : [...(Array.isArray(previous) ? previous : [previous]), value];
  }
  if (reason) res.writeHead(status, reason, headers);
  else res.writeHead(status, headers);
}
