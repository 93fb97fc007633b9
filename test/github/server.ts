// A local server that answers like the GitHub REST API for the routes reconciler/github/client.ts uses,
// and holds every exchange to GitHub's own OpenAPI description (@octokit/openapi, api.github.com.json):
// the method and path must be a documented operation, query parameters must be declared ones, JSON
// bodies must match the operation's requestBody schema, and every response body it sends must match
// the operation's response schema for that status. A mismatch is recorded in `violations` and answered
// with 404 (no such route), 422 (bad request) or 500 (bad response), so a drifting client or a drifting
// fake fails loudly instead of agreeing with itself. Response bodies start from the description's own
// components.examples, with the fields that matter overridden.
// Behaviour beyond the schemas (pagination and Link, the `head` filter needing `owner:`, 422 texts,
// rate-limit headers) follows docs.github.com "Using pagination in the REST API", "Rate limits for the
// REST API" and the pulls/issues/statuses reference pages.
// Webhooks: with a target set (option `webhook`, or setWebhook), every state change GitHub announces
// to a repository webhook is POSTed there after it happened, signed as GitHub signs (X-Hub-Signature-256,
// HMAC-SHA256 of the body with the secret), with GitHub's headers, payloads typed by GitHub's published
// webhook schemas (@octokit/openapi-webhooks-types). Delivery is asynchronous and never fails the REST
// call; each is recorded in `deliveries` ("Webhook events and payloads", "Validating webhook deliveries").
import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { sign } from '@octokit/webhooks-methods';
import type { components as WebhookComponents } from '@octokit/openapi-webhooks-types';
import { readBody } from '../http-body.js';

// ---------------------------------------------------------------------------------------------------
// The contract: GitHub's OpenAPI description, loaded once per process and compiled lazily per operation.

type JsonObject = Record<string, unknown>;
interface Ref {
  $ref: string;
}
interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required?: boolean;
  schema?: JsonObject;
  'x-multi-segment'?: boolean;
}
interface MediaType {
  schema?: JsonObject;
}
interface ResponseObject {
  content?: Record<string, MediaType>;
}
interface OperationObject {
  operationId: string;
  parameters?: (Parameter | Ref)[];
  requestBody?: { required?: boolean; content?: Record<string, MediaType> } | Ref;
  responses: Record<string, ResponseObject | Ref>;
  externalDocs?: { url: string };
}
interface OpenApiDocument {
  paths: Record<string, Record<string, OperationObject>>;
  components: {
    schemas: Record<string, JsonObject>;
    examples: Record<string, { value: unknown }>;
    parameters: Record<string, Parameter>;
    responses: Record<string, ResponseObject>;
    requestBodies?: Record<string, { required?: boolean; content?: Record<string, MediaType> }>;
  };
}

/** One documented operation, such as GET /repos/{owner}/{repo}/pulls (pulls/list). */
export interface SpecOperation {
  method: string;
  template: string;
  operationId: string;
  docsUrl: string;
  parameters: Parameter[];
}

const HTTP_METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);
/** The $id the components are registered under, so a compiled fragment's "#/components/..." refs resolve. */
const SPEC_ID = 'https://api.github.com/openapi.json';

interface PathMatcher {
  template: string;
  pattern: RegExp;
  names: string[];
  literals: number;
}

/** GitHub's REST description as a checker: which operation a request is, and whether a request or response fits it. */
export class GitHubContract {
  private readonly ajv: Ajv;
  private readonly matchers: PathMatcher[];
  private readonly validators = new Map<string, ValidateFunction>();

  constructor(private readonly doc: OpenApiDocument) {
    this.ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false });
    addFormats.default(this.ajv);
    for (const format of collectFormats(doc)) {
      // Formats GitHub invented (repo.nwo, timestamp) are documentation only; say so rather than warn per compile.
      if (!(format in this.ajv.formats)) this.ajv.addFormat(format, true);
    }
    this.ajv.addSchema({ $id: SPEC_ID, components: doc.components }, undefined, undefined, false);
    this.matchers = Object.keys(doc.paths).map((template) => pathMatcher(template, doc.paths[template]!));
  }

  /** The operation a method and (still percent-encoded) path are, with decoded path parameters. */
  match(method: string, pathname: string): { operation: SpecOperation; params: Record<string, string> } | { problem: string } {
    let best: { matcher: PathMatcher; values: string[] } | undefined;
    for (const matcher of this.matchers) {
      const found = matcher.pattern.exec(pathname);
      // The most literal segments wins, as /pulls/comments beats /pulls/{pull_number}.
      if (found && (!best || matcher.literals > best.matcher.literals)) best = { matcher, values: found.slice(1) };
    }
    if (!best) return { problem: `${method} ${pathname}: no such path in GitHub's REST description` };
    const operation = this.operation(method, best.matcher.template);
    if (!operation) return { problem: `${method} ${pathname}: ${best.matcher.template} has no ${method} operation in GitHub's REST description` };
    const params: Record<string, string> = {};
    best.matcher.names.forEach((name, i) => (params[name] = decodeURIComponent(best.values[i]!)));
    return { operation, params };
  }

  /** The documented operation for `METHOD /template`, if there is one. */
  operation(method: string, template: string): SpecOperation | undefined {
    const raw = this.doc.paths[template]?.[method.toLowerCase()];
    if (!raw || !HTTP_METHODS.has(method.toLowerCase())) return undefined;
    return {
      method: method.toUpperCase(),
      template,
      operationId: raw.operationId,
      docsUrl: raw.externalDocs?.url ?? 'https://docs.github.com/rest',
      parameters: (raw.parameters ?? []).map((p) => this.resolve<Parameter>(p)),
    };
  }

  /** Problems with a request: undeclared or mistyped parameters, a body the operation does not take or that breaks its schema. */
  checkRequest(operation: SpecOperation, params: Record<string, string>, query: URLSearchParams, body: { raw: string; value: unknown }): string[] {
    const where = `${operation.method} ${operation.template}`;
    const problems: string[] = [];
    for (const p of operation.parameters.filter((p) => p.in === 'path')) {
      problems.push(...this.checkParameter(operation, p, params[p.name]).map((e) => `${where}: path parameter ${p.name} ${e}`));
    }
    const queryParams = new Map(operation.parameters.filter((p) => p.in === 'query').map((p) => [p.name, p]));
    for (const name of new Set(query.keys())) {
      const declared = queryParams.get(name);
      if (!declared) {
        problems.push(`${where}: query parameter ${name} is not a parameter of ${operation.operationId}`);
        continue;
      }
      const values = query.getAll(name);
      if (values.length > 1) problems.push(`${where}: query parameter ${name} given ${values.length} times`);
      problems.push(...this.checkParameter(operation, declared, values[0]).map((e) => `${where}: query parameter ${name} ${e}`));
    }
    for (const [name, p] of queryParams) if (p.required && !query.has(name)) problems.push(`${where}: required query parameter ${name} is missing`);

    const raw = this.doc.paths[operation.template]![operation.method.toLowerCase()]!;
    const requestBody = raw.requestBody && this.resolve<{ required?: boolean; content?: Record<string, MediaType> }>(raw.requestBody);
    const hasBody = body.raw.trim() !== '';
    if (!requestBody) {
      if (hasBody) problems.push(`${where}: ${operation.operationId} takes no request body`);
      return problems;
    }
    if (!hasBody) {
      if (requestBody.required) problems.push(`${where}: the request body is required`);
      return problems;
    }
    const schema = requestBody.content?.['application/json']?.schema;
    if (!schema) return [...problems, `${where}: ${operation.operationId} takes no JSON body`];
    const validate = this.validator(`request ${where}`, schema);
    if (!validate(body.value)) problems.push(...describe(validate.errors).map((e) => `${where}: request body ${e}`));
    return problems;
  }

  /** Problems with a response: a status the operation does not document (below 400), or a body that breaks its schema. */
  checkResponse(operation: SpecOperation, status: number, body: unknown): string[] {
    const where = `${operation.method} ${operation.template} → ${status}`;
    const raw = this.doc.paths[operation.template]![operation.method.toLowerCase()]!;
    const declared = raw.responses[String(status)] ?? raw.responses[`${Math.floor(status / 100)}XX`] ?? raw.responses['default'];
    let schema: JsonObject | undefined;
    if (declared) {
      const response = this.resolve<ResponseObject>(declared);
      const content = response.content;
      if (!content) return body === undefined ? [] : [`${where}: GitHub documents no body for this status`];
      schema = content['application/json']?.schema;
      if (!schema) return [`${where}: GitHub documents no JSON body for this status (${Object.keys(content).join(', ')})`];
    } else if (status >= 400) {
      // GitHub leaves most 401/5xx answers undocumented per operation; they all carry its basic-error shape.
      schema = { $ref: '#/components/schemas/basic-error' };
    } else {
      return [`${where}: ${operation.operationId} does not document status ${status}`];
    }
    if (body === undefined) return [`${where}: a JSON body is documented but none was sent`];
    const validate = this.validator(`response ${where} ${declared ? '' : 'basic-error'}`, schema);
    return validate(body) ? [] : describe(validate.errors).map((e) => `${where}: response body ${e}`);
  }

  /** A fresh copy of components.examples[name].value. */
  example<T = JsonObject>(name: string): T {
    const example = this.doc.components.examples[name];
    if (!example) throw new Error(`GitHub's REST description has no example ${name}`);
    return structuredClone(example.value) as T;
  }

  /** Validates a value against components.schemas[name]; for tests of the checker itself. */
  checkSchema(name: string, value: unknown): string[] {
    if (!this.doc.components.schemas[name]) throw new Error(`GitHub's REST description has no schema ${name}`);
    const validate = this.validator(`schema ${name}`, { $ref: `#/components/schemas/${name}` });
    return validate(value) ? [] : describe(validate.errors);
  }

  private checkParameter(operation: SpecOperation, p: Parameter, value: string | undefined): string[] {
    if (value === undefined) return p.required ? ['is missing'] : [];
    if (!p.schema) return [];
    const schema = p.schema['$ref'] ? this.resolve<JsonObject>(p.schema as unknown as Ref) : p.schema;
    const validate = this.validator(`parameter ${operation.method} ${operation.template} ${p.in} ${p.name}`, p.schema);
    return validate(coerce(value, schema)) ? [] : describe(validate.errors).map((e) => `${JSON.stringify(value)}: ${e}`);
  }

  private validator(key: string, schema: JsonObject): ValidateFunction {
    let validate = this.validators.get(key);
    if (!validate) {
      validate = this.ajv.compile(absoluteRefs(schema) as JsonObject);
      this.validators.set(key, validate);
    }
    return validate;
  }

  /** Follows a components $ref (parameters, responses, request bodies, schemas) one level. */
  private resolve<T>(value: T | Ref): T {
    const ref = (value as Partial<Ref>).$ref;
    if (typeof ref !== 'string') return value as T;
    const [, , section, name] = ref.split('/');
    const found = (this.doc.components as unknown as Record<string, Record<string, unknown>>)[section!]?.[name!];
    if (!found) throw new Error(`GitHub's REST description has no ${ref}`);
    return found as T;
  }
}

let loaded: GitHubContract | undefined;

/** The checker for api.github.com; the 13 MB description is read and normalised once per process. */
export function githubContract(): GitHubContract {
  if (!loaded) {
    const file = createRequire(import.meta.url).resolve('@octokit/openapi/generated/api.github.com.json');
    const doc = JSON.parse(readFileSync(file, 'utf8')) as OpenApiDocument;
    normalizeNullable(doc);
    loaded = new GitHubContract(doc);
  }
  return loaded;
}

function pathMatcher(template: string, item: Record<string, OperationObject>): PathMatcher {
  const multi = new Set<string>();
  for (const [method, op] of Object.entries(item)) {
    if (!HTTP_METHODS.has(method)) continue;
    for (const p of op.parameters ?? []) if ('x-multi-segment' in p && p['x-multi-segment']) multi.add(p.name);
  }
  const names: string[] = [];
  let literals = 0;
  const source = template
    .split('/')
    .map((segment) => {
      const param = /^\{(.+)\}$/.exec(segment);
      if (!param) {
        if (segment !== '') literals++;
        return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      }
      names.push(param[1]!);
      // x-multi-segment parameters (a ref, a file path) may span slashes.
      return multi.has(param[1]!) ? '(.+)' : '([^/]+)';
    })
    .join('/');
  return { template, pattern: new RegExp(`^${source}$`), names, literals };
}

/**
 * OpenAPI 3.0 `nullable` without a `type` (135 places, beside oneOf/anyOf/allOf) makes Ajv throw, and a
 * nullable `enum` without null in it rejects the null it allows (69 places); rewrite both to plain JSON Schema.
 */
function normalizeNullable(doc: OpenApiDocument): void {
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (!node || typeof node !== 'object') return;
    const schema = node as JsonObject;
    for (const [key, value] of Object.entries(schema)) if (key !== 'example' && key !== 'examples') visit(value);
    if (schema['nullable'] !== true) return;
    if (Array.isArray(schema['enum']) && !schema['enum'].includes(null)) schema['enum'] = [...schema['enum'], null];
    if ('type' in schema) return;
    const { nullable: _nullable, description, ...rest } = schema;
    for (const key of Object.keys(schema)) delete schema[key];
    if (description !== undefined) schema['description'] = description;
    if (Object.keys(rest).length > 0) schema['anyOf'] = [rest, { type: 'null' }];
  };
  visit(doc.paths);
  const { examples: _examples, ...components } = doc.components;
  visit(components);
}

function collectFormats(doc: OpenApiDocument): Set<string> {
  const formats = new Set<string>();
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (!node || typeof node !== 'object') return;
    for (const [key, value] of Object.entries(node)) {
      if (key === 'format' && typeof value === 'string') formats.add(value);
      else if (key !== 'example' && key !== 'examples') visit(value);
    }
  };
  visit(doc.paths);
  visit(doc.components.schemas);
  visit(doc.components.parameters);
  return formats;
}

/** Rewrites "#/components/..." to the registered components document, so a compiled fragment finds its refs. */
function absoluteRefs(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(absoluteRefs);
  if (!node || typeof node !== 'object') return node;
  return Object.fromEntries(
    Object.entries(node).map(([key, value]) => [key, key === '$ref' && typeof value === 'string' && value.startsWith('#/') ? `${SPEC_ID}${value}` : absoluteRefs(value)]),
  );
}

/** Query and path values arrive as text; read them as the parameter's schema type before validating. */
function coerce(value: string, schema: JsonObject): unknown {
  switch (schema['type']) {
    case 'integer':
    case 'number':
      return /^-?\d+(\.\d+)?$/.test(value) ? Number(value) : value;
    case 'boolean':
      return value === 'true' ? true : value === 'false' ? false : value;
    case 'array':
      return value.split(',');
    default:
      return value;
  }
}

function describe(errors: ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((e) => {
    const extra = e.keyword === 'additionalProperties' ? ` (${String(e.params['additionalProperty'])})` : e.keyword === 'enum' ? ` (${JSON.stringify(e.params['allowedValues'])})` : '';
    return `${e.instancePath || '/'} ${e.message ?? e.keyword}${extra}`;
  });
}

// ---------------------------------------------------------------------------------------------------
// State: what a repository on GitHub holds, as far as the routes below can see it.

export interface PullState {
  id: number;
  number: number;
  state: 'open' | 'closed';
  title: string;
  body: string | null;
  author: string;
  head: { ref: string; sha: string };
  base: { ref: string };
  draft: boolean;
  labels: string[];
  merged: boolean;
  mergedAt: string | null;
  mergedBy: string | null;
  mergeCommitSha: string | null;
  createdAt: string;
  updatedAt: string;
  closedAt: string | null;
  /**
   * The PR's commits with the GitHub login their author and committer emails map to (null: no account;
   * committer undefined: the author's); default its head by its author.
   */
  commits?: PullCommitRecord[];
  /** The PR's `commits` count when it is more than `commits` lists (GitHub lists at most 250); default the list's length. */
  commitsTotal?: number;
}

export interface PullCommitRecord {
  sha: string;
  author: string | null;
  /** Undefined: the author's account (a commit one person wrote and committed). */
  committer?: string | null;
}

export type ReviewStateName = 'APPROVED' | 'CHANGES_REQUESTED' | 'COMMENTED' | 'DISMISSED' | 'PENDING';

export interface ReviewRecord {
  id: number;
  pull: number;
  user: string;
  state: ReviewStateName;
  body: string;
  commitId: string | null;
  submittedAt: string | null;
}

export interface IssueCommentRecord {
  id: number;
  /** The issue or PR number (they share one number space). */
  issue: number;
  user: string;
  body: string;
  createdAt: string;
  updatedAt: string;
}

export interface StatusRecord {
  id: number;
  sha: string;
  state: 'error' | 'failure' | 'pending' | 'success';
  description: string | null;
  targetUrl: string | null;
  context: string;
  creator: string;
  createdAt: string;
}

export interface CommitCommentRecord {
  id: number;
  sha: string;
  user: string;
  body: string;
  path: string | null;
  position: number | null;
  line: number | null;
  createdAt: string;
}

export type ActivityType = 'push' | 'force_push' | 'branch_creation' | 'branch_deletion' | 'pr_merge' | 'merge_queue_merge';

/** One entry of GET /repos/{owner}/{repo}/activity: a change of a ref and who made it. */
export interface ActivityRecord {
  id: number;
  /** Always the full ref, such as refs/heads/main. */
  ref: string;
  before: string;
  after: string;
  type: ActivityType;
  /** The account's login (kept current across renames); null: GitHub names nobody. */
  actor: string | null;
  timestamp: string;
}

/** A labeled/unlabeled event of an issue or PR (GET /repos/{owner}/{repo}/issues/{issue_number}/events). */
export interface IssueEventRecord {
  id: number;
  /** The issue or PR number. */
  issue: number;
  event: 'labeled' | 'unlabeled';
  /** The label's name when the event happened. */
  label: string;
  actor: string;
  createdAt: string;
}

export type CollaboratorPermission = 'admin' | 'maintain' | 'write' | 'triage' | 'read';

export interface CollaboratorRecord {
  login: string;
  permission: CollaboratorPermission;
  /** role_name when it is a custom role (its permissions are still those of `permission`); default `permission`. */
  roleName?: string;
}

/** A GitHub account: the id stays when the login changes. */
export interface UserAccount {
  id: number;
  login: string;
  createdAt: string;
}

export interface IssueState {
  id: number;
  /** From the repository's nextNumber, which PRs share. */
  number: number;
  title: string;
  body: string | null;
  author: string;
  state: 'open' | 'closed';
  /** GitHub's state_reason; 'duplicate' only when a client closes it as one. */
  stateReason: 'completed' | 'not_planned' | 'reopened' | 'duplicate' | null;
  /** Label names as the repository spells them (see RepoState.labels). */
  labels: string[];
  assignees?: string[];
  createdAt: string;
  updatedAt: string;
  closedAt: string | null;
  /** Who closed it last, while it is closed. */
  closedBy?: string | null;
}

export interface LabelState {
  id: number;
  /** As created; lookups ignore case, as GitHub's do. */
  name: string;
  /** Six hex digits without '#'. */
  color: string;
  description: string | null;
  /** One of the labels GitHub gives a new repository. */
  default: boolean;
}

export interface RepoState {
  id: number;
  owner: string;
  name: string;
  defaultBranch: string;
  private: boolean;
  /** Issues and PRs share numbers; the next one either gets. */
  nextNumber: number;
  /** Branch name to head SHA, for PRs opened through the API. */
  branches: Map<string, string>;
  pulls: Map<number, PullState>;
  /** Plain issues; a PR is in `pulls` only, yet the issues routes show both. */
  issues: Map<number, IssueState>;
  /** Lower-cased name to label: GitHub's label names are case-insensitive. */
  labels: Map<string, LabelState>;
  reviews: ReviewRecord[];
  issueComments: IssueCommentRecord[];
  statuses: StatusRecord[];
  commitComments: CommitCommentRecord[];
  /** Commit SHA to the PRs GET /commits/{sha}/pulls lists. */
  commitPulls: Map<string, Set<number>>;
  /** Ref changes, as GET /activity lists them (recordActivity adds them; nothing else does). */
  activity: ActivityRecord[];
  /** Label events of issues and PRs, in the order they happened. */
  issueEvents: IssueEventRecord[];
  /** GET /collaborators; undefined lists the token's login as admin (the account fleetspec runs as). */
  collaborators?: CollaboratorRecord[];
  /** Branch name to its protection (GET /branches/{branch}/protection); a branch not in it is not protected. */
  protection?: Map<string, BranchProtectionRecord>;
}

/** A branch's classic protection, as the settings page has it; rendered as GET /branches/{branch}/protection answers. */
export interface BranchProtectionRecord {
  /** Require a pull request: this many approving reviews, and whether new commits dismiss stale approvals. */
  reviews?: { count: number; dismissStale: boolean };
  /** Required status checks, and whether branches must be up to date (strict). */
  statusChecks?: { contexts: string[]; strict: boolean };
  /** "Do not allow bypassing the above settings". */
  enforceAdmins: boolean;
  allowForcePushes?: boolean;
}

export interface GitHubState {
  repos: Map<string, RepoState>;
  nextId: number;
  /** Lower-cased login to account: logins are case-insensitive on GitHub, and each maps to one account. */
  users: Map<string, UserAccount>;
  nextUserId: number;
}

// ---------------------------------------------------------------------------------------------------
// The server.

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  body: unknown;
  /** The documented operation, when the request was one. */
  operation?: string;
  /** What the server answered. */
  status: number;
}

/** What a route handler answers; the server validates it against the operation before sending. */
export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface RouteContext {
  server: GitHubTestServer;
  operation: SpecOperation;
  params: Record<string, string>;
  query: URLSearchParams;
  /** The parsed JSON body (already checked against the operation's schema). */
  body: JsonObject;
  /** The user the token belongs to. */
  login: string;
  /** The repository named by {owner}/{repo}; answers 404 as GitHub does when there is none. */
  repo(): RepoState;
  /** One page of `items` as GitHub pages lists: per_page/page, Link with next/last/prev/first. */
  page<T>(items: T[], render: (item: T) => unknown): Reply;
  /** One page of `items` as GitHub's cursor-paged lists: per_page with before/after cursors naming an item by `key`; Link with next/prev. */
  cursorPage<T>(items: T[], render: (item: T) => unknown, key: (item: T) => number): Reply;
}

export type RouteHandler = (ctx: RouteContext) => Reply;

export interface GitHubServerOptions {
  host?: string;
  /** The one repository at start; more with addRepo. Default acme/fleet on main. */
  owner?: string;
  repo?: string;
  defaultBranch?: string;
  /** The only token accepted; default a fresh random ghp_ token per server. */
  token?: string;
  /** Who the token belongs to; the author of what the client creates. */
  login?: string;
  /** Cap on per_page, to force several pages with few items. GitHub's is 100. */
  perPageMax?: number;
  /** Head SHA for a branch a PR is opened from through the API, when setBranch did not name one. */
  resolveBranch?: (branch: string, repo: RepoState) => string | undefined;
  /** Where GitHub delivers the repositories' webhook events (setWebhook changes it later); none by default. */
  webhook?: WebhookTarget;
}

/** A repository webhook: its payload URL and secret (content type application/json). */
export interface WebhookTarget {
  url: string;
  secret: string;
}

type WebhookSchemas = WebhookComponents['schemas'];
/** The payload of each event the stand-in delivers, as GitHub's webhook schemas type them. */
export interface WebhookPayloads {
  pull_request:
    | WebhookSchemas['webhook-pull-request-opened']
    | WebhookSchemas['webhook-pull-request-closed']
    | WebhookSchemas['webhook-pull-request-reopened']
    | WebhookSchemas['webhook-pull-request-synchronize'];
  pull_request_review: WebhookSchemas['webhook-pull-request-review-submitted'];
  issue_comment: WebhookSchemas['webhook-issue-comment-created'];
  issues: WebhookSchemas['webhook-issues-opened'] | WebhookSchemas['webhook-issues-edited'] | WebhookSchemas['webhook-issues-closed'] | WebhookSchemas['webhook-issues-reopened'];
  push: WebhookSchemas['webhook-push'];
}
export type WebhookEventName = keyof WebhookPayloads;

/** One delivery, as the repository's "Recent Deliveries" shows it. */
export interface WebhookDelivery {
  event: WebhookEventName;
  /** X-GitHub-Delivery: a UUID. */
  id: string;
  /** The payload's action (push has none). */
  action?: string;
  url: string;
  /** The exact body sent (the signature is of these bytes). */
  body: string;
  headers: Record<string, string>;
  /** When the state change was made (ms since the epoch). */
  at: number;
  /** The receiver's HTTP status; 0 while in flight; -1 when it could not be reached or timed out (error says why). */
  status: number;
  error?: string;
  /** How long the receiver took to answer. */
  ms?: number;
}

/** What GitHub learns of a push (see GitHubTestServer.receivePush). */
export interface ReceivedPush {
  /** refs/heads/<branch> (a bare branch name is taken as one). */
  ref: string;
  /** 40 zeros: the ref was created. */
  before: string;
  /** 40 zeros: the ref was deleted. */
  after: string;
  /** The pushing account's login; null: an account GitHub does not name. */
  pusher: string | null;
  /** Not a fast-forward. */
  forced?: boolean;
  /** The activity type to record; default from before/after/forced (a merge on GitHub is pr_merge). */
  type?: ActivityType;
  repo?: string;
}

/** GitHub gives up on a delivery after 10 seconds. */
const WEBHOOK_TIMEOUT_MS = 10_000;
const ZERO_SHA = '0'.repeat(40);

export interface RateLimitInjection {
  kind: 'primary' | 'secondary';
  /** Primary: x-ratelimit-reset is now + this; secondary: retry-after. */
  resetInS: number;
  /** 403 (default) or 429; GitHub sends either. */
  status?: 403 | 429;
  /** How many requests in a row get it; default 1. */
  count?: number;
  /** Secondary only: leave out retry-after, as GitHub sometimes does. */
  omitRetryAfter?: boolean;
}

export interface GitHubTestServer {
  /** The baseUrl for the client. */
  url: string;
  token: string;
  login: string;
  /** The first repository, "owner/name". */
  fullName: string;
  state: GitHubState;
  requests: RecordedRequest[];
  /** Every way a request or response broke GitHub's description; tests assert it stays empty. */
  violations: string[];
  perPageMax: number;
  routes: Map<string, RouteHandler>;
  /** Adds or replaces the handler for a documented operation, such as 'GET /repos/{owner}/{repo}/issues'. */
  route(key: string, handler: RouteHandler): void;
  addRepo(r: { owner: string; name: string; defaultBranch?: string; private?: boolean }): RepoState;
  /** The repository named "owner/name", the first one when not named. */
  repo(fullName?: string): RepoState;
  setBranch(branch: string, sha: string, repo?: string): void;
  /** As if a human opened a PR; its labels are labeled events by the author. */
  openPull(p: { head: string; base?: string; author: string; title: string; body?: string; headSha: string; labels?: string[]; draft?: boolean; repo?: string }): PullState;
  review(number: number, r: { user: string; state: ReviewStateName; commitId?: string | null; body?: string; repo?: string }): ReviewRecord;
  /**
   * Marks the PR merged as `mergeCommitSha` by `mergedBy` (default the repository owner) at `at` (default
   * now), which GET pull shows as merged_by and merged_at. The caller does the git merge, and records the
   * base branch's pr_merge activity with recordActivity if a test needs it.
   */
  merge(number: number, m: { mergeCommitSha: string; mergedBy?: string; at?: string; repo?: string }): PullState;
  setHeadSha(number: number, sha: string, repo?: string): void;
  /** Makes GET /commits/{sha}/pulls list PR `number`. */
  associate(sha: string, number: number, repo?: string): void;
  /**
   * Replaces the labels of PR or issue `number` (missing labels created silently), recording one
   * labeled/unlabeled event per label added/removed, by `actor` (default the token's login) at `at`
   * (default now). The third argument may be just the repository's "owner/name", as before.
   */
  setLabels(number: number, labels: string[], opts?: string | { repo?: string; actor?: string; at?: string }): void;
  /**
   * What GET /pulls/{n}/commits lists: each commit with the logins GitHub maps its author and committer
   * to (null: no account; committer left out: the author's). The PR's `commits` count is the list's
   * length, or `total` to claim more than GitHub lists (it lists at most 250). The third argument may be
   * just the repository's "owner/name", as before.
   */
  setPullCommits(number: number, commits: PullCommitRecord[], opts?: string | { repo?: string; total?: number }): void;
  /** Adds a ref change to GET /activity: `ref` is refs/heads/x or x; `type` default push; `at` default now. */
  recordActivity(a: { ref: string; before: string; after: string; type?: ActivityType; actor: string | null; at?: string; repo?: string }): ActivityRecord;
  /** What GET /collaborators lists, in this order; until set, the token's login as admin. */
  setCollaborators(collaborators: CollaboratorRecord[], repo?: string): void;
  /** The labeled/unlabeled events of issue or PR `number`, oldest first. */
  issueEvents(number: number, repo?: string): IssueEventRecord[];
  /**
   * GitHub accounts: every login the server stores or renders gets one on first sight (ids count up from
   * 1, the token's login first), matched case-insensitively, rendered with the account's current login.
   */
  users: {
    /** The account id of `login`, making the account when the login is new. */
    id(login: string): number;
    /** The account `login` names now, if any. */
    get(login: string): UserAccount | undefined;
    /**
     * The account keeps its id under `newLogin` and everything it did shows the new login; `oldLogin` is
     * free, and a later sight of it is a new account with a new id. Throws when `newLogin` is taken.
     * Repository owners are not renamed (their repositories keep their "owner/name").
     */
    rename(oldLogin: string, newLogin: string): void;
  };
  /** users.id(login). */
  userId(login: string): number;
  /** users.rename(oldLogin, newLogin). */
  renameUser(oldLogin: string, newLogin: string): void;
  /** An issue comment by someone else, such as a human reply; on an issue or a PR. */
  addComment(number: number, c: { user: string; body: string; repo?: string }): IssueCommentRecord;
  /** As if a person opened an issue on GitHub; labels it names that do not exist are created, without counting as implicitLabels; labeled events by the author. */
  openIssue(i: { title: string; body?: string; author: string; labels?: string[]; state?: 'open' | 'closed'; repo?: string }): IssueState;
  /**
   * As if a person (`actor`, default the issue's author) edited an issue on the web: labels replace the set
   * (missing ones created silently, one labeled/unlabeled event each by the actor); bumps updatedAt.
   */
  editIssue(number: number, change: { title?: string; body?: string; labels?: string[]; state?: 'open' | 'closed'; actor?: string; repo?: string }): IssueState;
  /** The plain issues (not PRs), in number order. */
  issues(repo?: string): IssueState[];
  /** The label named `name`, whatever its case. */
  label(name: string, repo?: string): LabelState | undefined;
  /**
   * Labels GitHub created on the fly because an API request (POST or PATCH an issue) named one the
   * repository did not have; tests assert the client created its labels itself first.
   */
  implicitLabels: string[];
  /** The next `count` requests (after auth) are answered with `status` (default 502) without being carried out. */
  failNext(count: number, status?: number): void;
  /** The next `count` requests are carried out but answered with `status` (default 502), as when GitHub's front end gives up after the work is done. */
  loseNextResponse(count?: number, status?: number): void;
  /** The next `count` requests are carried out, then their connection is closed without an answer. */
  dropNextResponse(count?: number): void;
  /**
   * The next requests of one operation (such as 'POST /repos/{owner}/{repo}/issues/{issue_number}/comments')
   * meet `fault`; other requests are served (and the general faults above wait for them).
   */
  faultOn(operation: string, fault: OperationFault): void;
  /** The next `count` requests are answered only after `ms`, to test client timeouts. */
  stallNext(count: number, ms: number): void;
  rateLimitNext(r: RateLimitInjection): void;
  /** The next handler response body passes through `mutate` before validation; for testing the checker. */
  tamperNext(mutate: (body: JsonObject) => void): void;
  /** Sets (or, undefined, removes) where webhook events are delivered. */
  setWebhook(target: WebhookTarget | undefined): void;
  /** Every webhook delivery made, in the order of the state changes; status filled in as each is answered. */
  deliveries: WebhookDelivery[];
  /** Resolves when every delivery made so far has been answered (or failed). */
  deliveriesSettled(): Promise<void>;
  /**
   * GitHub's side of a push to a branch: the branch's tip, the repository activity (who pushed), each
   * open PR on that branch moved to the new head (a pull_request synchronize delivery), and a push
   * delivery. Wire a git server's onPush to it (test/git/activity.ts deliverPushes).
   */
  receivePush(push: ReceivedPush): void;
  /** Returns the violations so far and clears them. */
  takeViolations(): string[];
  close(): Promise<void>;
}

const MAX_REQUEST_BYTES = 8 * 1024 * 1024;
/** GitHub's limit on issue/PR/commit comment and PR bodies. */
export const GITHUB_MAX_BODY_CHARS = 65_536;
/** GitHub's limit on a commit status description. */
export const GITHUB_MAX_STATUS_DESCRIPTION_CHARS = 140;
const RATE_LIMIT_DOCS = 'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api';
const SHA = /^[0-9a-f]{40}([0-9a-f]{24})?$/;
/** GET /pulls/{n}/commits "Lists a maximum of 250 commits for a pull request". */
export const GITHUB_MAX_PULL_COMMITS = 250;
/** GET /activity's time_period: the last day, week (168 hours), … */
const PERIOD_MS: Record<string, number> = { day: 86_400_000, week: 7 * 86_400_000, month: 30 * 86_400_000, quarter: 91 * 86_400_000, year: 365 * 86_400_000 };
/** Collaborator roles from least to most; each grants what the ones before it do. */
const ROLES: readonly CollaboratorPermission[] = ['read', 'triage', 'write', 'maintain', 'admin'];

/** Thrown by a handler to answer with an error, the way GitHub words it. */
class ErrorReply extends Error {
  constructor(readonly reply: Reply) {
    super(`GitHub answers ${reply.status}`);
  }
}

/** What happens to one upcoming request, in order of arrival. */
type Fault =
  | { kind: 'status'; status: number }
  | { kind: 'rate'; limit: RateLimitInjection }
  | { kind: 'lose'; status: number }
  | { kind: 'stall'; ms: number }
  /** Carried out, then the connection closed without an answer. */
  | { kind: 'drop' }
  /** Carried out, then no answer until the client gives up (or the server closes). */
  | { kind: 'hang' };

/**
 * What happens to the next requests of one operation (see GitHubTestServer.faultOn): `fail` answers
 * `status` without carrying the request out; `lose` carries it out, then answers `status`; `drop`
 * carries it out and closes the connection unanswered; `hang` carries it out and never answers.
 */
export interface OperationFault {
  kind: 'fail' | 'lose' | 'drop' | 'hang';
  /** How many requests in a row; default 1. */
  count?: number;
  /** For fail and lose; default 502. */
  status?: number;
  /** Called when the fault strikes (after the write, for lose, drop and hang). */
  onFault?: () => void;
}

export async function startGitHubServer(options: GitHubServerOptions = {}): Promise<GitHubTestServer> {
  const contract = githubContract();
  const host = options.host ?? '127.0.0.1';
  const token = options.token ?? `ghp_${randomBytes(18).toString('hex')}`;
  // The token's login: `let`, since renaming its account renames it.
  let login = options.login ?? 'fleetspec-bot';
  const state: GitHubState = { repos: new Map(), nextId: 1000, users: new Map(), nextUserId: 1 };
  const requests: RecordedRequest[] = [];
  const violations: string[] = [];
  const faults: Fault[] = [];
  const operationFaults = new Map<string, { fault: Fault; onFault?: () => void }[]>();
  const tampers: ((body: JsonObject) => void)[] = [];
  const routes = new Map<string, RouteHandler>();
  const implicitLabels: string[] = [];
  let apiUrl = '';
  let webhook = options.webhook;
  const hookId = 400_000_000 + Math.floor(Math.random() * 1_000_000);
  const deliveries: WebhookDelivery[] = [];
  const inFlight = new Set<Promise<void>>();

  const nextId = () => state.nextId++;

  // -- Accounts -------------------------------------------------------------------------------------

  /** The account `name` names, made on first sight: GitHub matches logins case-insensitively. */
  function account(name: string): UserAccount {
    const key = name.toLowerCase();
    let found = state.users.get(key);
    if (!found) {
      found = { id: state.nextUserId++, login: name, createdAt: timestamp() };
      state.users.set(key, found);
    }
    return found;
  }

  function renameUser(oldLogin: string, newLogin: string): void {
    const renamed = account(oldLogin);
    const taken = state.users.get(newLogin.toLowerCase());
    if (taken && taken !== renamed) throw new Error(`the test GitHub cannot rename ${renamed.login} to ${newLogin}: account ${taken.id} has that login`);
    const from = renamed.login;
    state.users.delete(from.toLowerCase());
    renamed.login = newLogin;
    state.users.set(newLogin.toLowerCase(), renamed);
    rewriteLogin(from, newLogin);
    if (login.toLowerCase() === from.toLowerCase()) {
      login = newLogin;
      server.login = newLogin;
    }
  }

  /**
   * State holds logins, not ids: after a rename every record of the account says its new login, so the
   * old one, now free, names nothing here until someone (a new account) uses it.
   */
  function rewriteLogin(from: string, to: string): void {
    const swap = <T extends string | null | undefined>(name: T): T => (typeof name === 'string' && name.toLowerCase() === from.toLowerCase() ? to : name) as T;
    for (const r of state.repos.values()) {
      for (const p of r.pulls.values()) {
        p.author = swap(p.author);
        p.mergedBy = swap(p.mergedBy);
        for (const c of p.commits ?? []) {
          c.author = swap(c.author);
          if (c.committer !== undefined) c.committer = swap(c.committer);
        }
      }
      for (const i of r.issues.values()) {
        i.author = swap(i.author);
        if (i.assignees) i.assignees = i.assignees.map(swap);
        if (i.closedBy !== undefined) i.closedBy = swap(i.closedBy);
      }
      for (const review of r.reviews) review.user = swap(review.user);
      for (const comment of r.issueComments) comment.user = swap(comment.user);
      for (const status of r.statuses) status.creator = swap(status.creator);
      for (const comment of r.commitComments) comment.user = swap(comment.user);
      for (const event of r.issueEvents) event.actor = swap(event.actor);
      for (const a of r.activity) a.actor = swap(a.actor);
      for (const c of r.collaborators ?? []) c.login = swap(c.login);
    }
  }

  /** Replaces the labels of an issue or PR, recording one event per label added or removed, by `actor`. */
  function relabel(r: RepoState, item: IssueState | PullState, names: string[], actor: string, at?: string): void {
    account(actor);
    const has = (list: readonly string[], name: string) => list.some((l) => l.toLowerCase() === name.toLowerCase());
    const when = at ?? timestamp();
    for (const name of item.labels) {
      if (!has(names, name)) r.issueEvents.push({ id: nextId(), issue: item.number, event: 'unlabeled', label: name, actor, createdAt: when });
    }
    for (const name of names) {
      if (!has(item.labels, name)) r.issueEvents.push({ id: nextId(), issue: item.number, event: 'labeled', label: name, actor, createdAt: when });
    }
    item.labels = names;
  }

  /** GitHub's own order for a list that happened in time: by time, then by arrival. */
  function chronological<T extends { id: number }>(items: T[], at: (item: T) => string): T[] {
    return [...items].sort((a, b) => Date.parse(at(a)) - Date.parse(at(b)) || a.id - b.id);
  }

  function collaboratorsOf(r: RepoState): CollaboratorRecord[] {
    return r.collaborators ?? [{ login, permission: 'admin' }];
  }

  account(login);

  // -- Control API ----------------------------------------------------------------------------------

  function addRepo(r: { owner: string; name: string; defaultBranch?: string; private?: boolean }): RepoState {
    const repo: RepoState = {
      id: nextId(),
      owner: r.owner,
      name: r.name,
      defaultBranch: r.defaultBranch ?? 'main',
      private: r.private ?? true,
      nextNumber: 1,
      branches: new Map(),
      pulls: new Map(),
      issues: new Map(),
      labels: new Map(),
      reviews: [],
      issueComments: [],
      statuses: [],
      commitComments: [],
      commitPulls: new Map(),
      activity: [],
      issueEvents: [],
    };
    account(r.owner);
    state.repos.set(repoKey(r.owner, r.name), repo);
    return repo;
  }

  function repo(fullName?: string): RepoState {
    const found = fullName === undefined ? state.repos.values().next().value : state.repos.get(fullName.toLowerCase());
    if (!found) throw new Error(`the test GitHub has no repository ${fullName ?? '(none added)'}`);
    return found;
  }

  function pull(r: RepoState, number: number): PullState {
    const found = r.pulls.get(number);
    if (!found) throw new Error(`the test GitHub has no PR #${number} in ${r.owner}/${r.name}`);
    return found;
  }

  function associate(sha: string, number: number, fullName?: string): void {
    const r = repo(fullName);
    const set = r.commitPulls.get(sha) ?? new Set<number>();
    set.add(number);
    r.commitPulls.set(sha, set);
  }

  function createPull(r: RepoState, p: { head: string; base: string; author: string; title: string; body: string | null; headSha: string; labels?: string[]; draft?: boolean }): PullState {
    const now = timestamp();
    const created: PullState = {
      id: nextId(),
      number: r.nextNumber++,
      state: 'open',
      title: p.title,
      body: p.body,
      author: p.author,
      head: { ref: p.head, sha: p.headSha },
      base: { ref: p.base },
      draft: p.draft ?? false,
      labels: [],
      merged: false,
      mergedAt: null,
      mergedBy: null,
      mergeCommitSha: null,
      createdAt: now,
      updatedAt: now,
      closedAt: null,
    };
    account(p.author);
    // Labels given at creation are labeled events by whoever opened it.
    relabel(r, created, ensureLabels(r, p.labels ?? []), p.author, now);
    r.pulls.set(created.number, created);
    r.branches.set(p.head, p.headSha);
    associate(p.headSha, created.number, `${r.owner}/${r.name}`);
    return created;
  }

  /** The label named `name` in any case, as GitHub matches label names. */
  function findLabel(r: RepoState, name: string): LabelState | undefined {
    return r.labels.get(name.trim().toLowerCase());
  }

  function createLabel(r: RepoState, l: { name: string; color: string; description: string | null; default?: boolean }): LabelState {
    const label: LabelState = { id: nextId(), name: l.name.trim(), color: l.color, description: l.description, default: l.default ?? false };
    r.labels.set(label.name.toLowerCase(), label);
    return label;
  }

  /**
   * The repository's spelling of each named label, once each, creating the missing ones the way GitHub
   * does when an issue names one (grey, ededed, no description); `created` hears of each it made.
   */
  function ensureLabels(r: RepoState, names: readonly string[], created?: (label: LabelState) => void): string[] {
    const result: string[] = [];
    for (const name of names) {
      let label = findLabel(r, name);
      if (!label) {
        label = createLabel(r, { name, color: 'ededed', description: null });
        created?.(label);
      }
      if (!result.includes(label.name)) result.push(label.name);
    }
    return result;
  }

  function createIssue(r: RepoState, i: { title: string; body: string | null; author: string; labels: string[]; assignees?: string[]; state?: 'open' | 'closed' }): IssueState {
    const now = timestamp();
    const closed = i.state === 'closed';
    const issue: IssueState = {
      id: nextId(),
      number: r.nextNumber++,
      title: i.title,
      body: i.body,
      author: i.author,
      state: closed ? 'closed' : 'open',
      stateReason: closed ? 'completed' : null,
      labels: [],
      assignees: i.assignees ?? [],
      createdAt: now,
      updatedAt: now,
      closedAt: closed ? now : null,
      closedBy: closed ? i.author : null,
    };
    account(i.author);
    relabel(r, issue, i.labels, i.author, now);
    r.issues.set(issue.number, issue);
    return issue;
  }

  /** Closes or reopens an issue as GitHub does: closed_at and state_reason follow; no change when already there. */
  function setIssueState(issue: IssueState, wanted: 'open' | 'closed', by: string, reason?: IssueState['stateReason']): void {
    if (wanted === issue.state) return;
    const now = timestamp();
    if (wanted === 'closed') Object.assign(issue, { state: 'closed', closedAt: now, closedBy: by, stateReason: reason ?? 'completed' });
    else Object.assign(issue, { state: 'open', closedAt: null, closedBy: null, stateReason: 'reopened' });
  }

  // -- Response bodies from the description's examples -----------------------------------------------

  /** A user as GitHub shows one anywhere: the account's current login and its id. */
  function userJson(name: string): JsonObject {
    const user = contract.example('simple-user');
    const { login: current, id } = account(name);
    const path = encodeURIComponent(current);
    for (const [key, value] of Object.entries(user)) {
      if (typeof value === 'string') user[key] = value.replace('/users/octocat', `/users/${path}`).replace('github.com/octocat', `github.com/${path}`);
    }
    return {
      ...user,
      login: current,
      id,
      node_id: nodeId('User', id),
      avatar_url: `https://avatars.githubusercontent.com/u/${id}?v=4`,
      type: current.endsWith('[bot]') ? 'Bot' : 'User',
      site_admin: false,
    };
  }

  /** GET /users/{username}: the public profile, from the description's example; nothing filled in but the account. */
  function publicUserJson(a: UserAccount): JsonObject {
    const body = contract.example('public-user-default-response');
    return {
      ...body,
      ...userJson(a.login),
      user_view_type: 'public',
      name: null,
      company: null,
      blog: '',
      location: null,
      email: null,
      hireable: null,
      bio: null,
      twitter_username: null,
      public_repos: 0,
      public_gists: 0,
      followers: 0,
      following: 0,
      created_at: a.createdAt,
      updated_at: a.createdAt,
    };
  }

  function repoUrls(r: RepoState) {
    const full = `${r.owner}/${r.name}`;
    return { api: `${apiUrl}/repos/${full}`, html: `https://github.com/${full}` };
  }

  /** Points an example's URLs at this server and repository. */
  function rehost<T>(value: T, r: RepoState): T {
    const full = `${r.owner}/${r.name}`;
    const visit = (node: unknown): unknown => {
      if (typeof node === 'string') return node.split('https://api.github.com').join(apiUrl).split('octocat/Hello-World').join(full);
      if (Array.isArray(node)) return node.map(visit);
      if (node && typeof node === 'object') return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, visit(v)]));
      return node;
    };
    return visit(value) as T;
  }

  function repositoryFields(r: RepoState): JsonObject {
    const urls = repoUrls(r);
    return {
      id: r.id,
      node_id: nodeId('Repository', r.id),
      name: r.name,
      full_name: `${r.owner}/${r.name}`,
      owner: userJson(r.owner),
      private: r.private,
      visibility: r.private ? 'private' : 'public',
      html_url: urls.html,
      url: urls.api,
      default_branch: r.defaultBranch,
      fork: false,
      language: 'TypeScript',
    };
  }

  function fullRepositoryJson(r: RepoState): JsonObject {
    const body = rehost(contract.example('full-repository-default-response'), r);
    // Not a fork and not from a template; the example is both.
    delete body['parent'];
    delete body['source'];
    delete body['template_repository'];
    delete body['organization'];
    // What the token's account may do there: its collaborator role (GitHub's `permissions` of the authenticated user).
    const role = collaboratorsOf(r).find((c) => c.login.toLowerCase() === login.toLowerCase())?.permission;
    const level = role === undefined ? -1 : ROLES.indexOf(role);
    const permissions = { pull: level >= 0, triage: level >= 1, push: level >= 2, maintain: level >= 3, admin: level >= 4 };
    return { ...body, ...repositoryFields(r), language: 'TypeScript', permissions };
  }

  function protectionJson(r: RepoState, branch: string, p: BranchProtectionRecord): JsonObject {
    const url = `${repoUrls(r).api}/branches/${encodeURIComponent(branch)}/protection`;
    return {
      url,
      ...(p.statusChecks
        ? {
            required_status_checks: {
              url: `${url}/required_status_checks`,
              contexts_url: `${url}/required_status_checks/contexts`,
              strict: p.statusChecks.strict,
              contexts: p.statusChecks.contexts,
              checks: p.statusChecks.contexts.map((context) => ({ context, app_id: null })),
            },
          }
        : {}),
      ...(p.reviews
        ? {
            required_pull_request_reviews: {
              url: `${url}/required_pull_request_reviews`,
              dismiss_stale_reviews: p.reviews.dismissStale,
              require_code_owner_reviews: false,
              required_approving_review_count: p.reviews.count,
              require_last_push_approval: false,
            },
          }
        : {}),
      enforce_admins: { url: `${url}/enforce_admins`, enabled: p.enforceAdmins },
      required_linear_history: { enabled: false },
      allow_force_pushes: { enabled: p.allowForcePushes ?? false },
      allow_deletions: { enabled: false },
      required_conversation_resolution: { enabled: false },
      lock_branch: { enabled: false },
      allow_fork_syncing: { enabled: false },
    };
  }

  function pullJson(r: RepoState, p: PullState, kind: 'full' | 'simple'): JsonObject {
    const example = rehost(contract.example(kind === 'full' ? 'pull-request' : 'pull-request-simple'), r);
    const urls = repoUrls(r);
    const api = `${urls.api}/pulls/${p.number}`;
    const issue = `${urls.api}/issues/${p.number}`;
    const html = `${urls.html}/pull/${p.number}`;
    const statuses = `${urls.api}/statuses/${p.head.sha}`;
    const exampleHead = example['head'] as JsonObject;
    const branch = (ref: string, sha: string) => ({
      ...exampleHead,
      label: `${r.owner}:${ref}`,
      ref,
      sha,
      user: userJson(r.owner),
      repo: { ...(exampleHead['repo'] as JsonObject), ...repositoryFields(r) },
    });
    const body: JsonObject = {
      ...example,
      url: api,
      id: p.id,
      node_id: nodeId('PullRequest', p.id),
      html_url: html,
      diff_url: `${html}.diff`,
      patch_url: `${html}.patch`,
      issue_url: issue,
      commits_url: `${api}/commits`,
      review_comments_url: `${api}/comments`,
      review_comment_url: `${urls.api}/pulls/comments{/number}`,
      comments_url: `${issue}/comments`,
      statuses_url: statuses,
      number: p.number,
      state: p.state,
      locked: false,
      title: p.title,
      user: userJson(p.author),
      body: p.body,
      labels: p.labels.map((name) => labelJson(r, name)),
      milestone: null,
      active_lock_reason: null,
      created_at: p.createdAt,
      updated_at: p.updatedAt,
      closed_at: p.closedAt,
      merged_at: p.mergedAt,
      merge_commit_sha: p.mergeCommitSha,
      assignee: null,
      assignees: [],
      requested_reviewers: [],
      // The description's own example lists a team without the `type` its team-simple schema requires.
      requested_teams: [],
      head: branch(p.head.ref, p.head.sha),
      base: branch(p.base.ref, r.branches.get(p.base.ref) ?? p.head.sha),
      _links: {
        self: { href: api },
        html: { href: html },
        issue: { href: issue },
        comments: { href: `${issue}/comments` },
        review_comments: { href: `${api}/comments` },
        review_comment: { href: `${urls.api}/pulls/comments{/number}` },
        commits: { href: `${api}/commits` },
        statuses: { href: statuses },
      },
      author_association: authorAssociation(r, p.author),
      auto_merge: null,
      draft: p.draft,
    };
    if (kind === 'full') {
      Object.assign(body, {
        merged: p.merged,
        mergeable: p.state === 'open' ? true : null,
        rebaseable: p.state === 'open' ? true : null,
        mergeable_state: p.state === 'open' ? 'clean' : 'unknown',
        merged_by: p.mergedBy === null ? null : userJson(p.mergedBy),
        // The count, which may exceed what GET /pulls/{n}/commits lists (250 at most).
        commits: p.commitsTotal ?? p.commits?.length ?? 1,
        comments: r.issueComments.filter((c) => c.issue === p.number).length,
        review_comments: 0,
        maintainer_can_modify: false,
      });
    }
    return body;
  }

  /** A label by name: the repository's when it has one, else (a name put straight into state) a grey one. */
  function labelJson(r: RepoState, name: string): JsonObject {
    const found = findLabel(r, name);
    if (found) return labelStateJson(r, found);
    const id = numericId(`label:${name}`);
    return { id, node_id: nodeId('Label', id), url: `${repoUrls(r).api}/labels/${encodeURIComponent(name)}`, name, description: null, color: 'ededed', default: false };
  }

  function labelStateJson(r: RepoState, label: LabelState): JsonObject {
    return {
      id: label.id,
      node_id: nodeId('Label', label.id),
      url: `${repoUrls(r).api}/labels/${encodeURIComponent(label.name)}`,
      name: label.name,
      description: label.description,
      color: label.color,
      default: label.default,
    };
  }

  /** An issue, or a PR as the issues API shows one (with pull_request), from the description's issue example. */
  function issueJson(r: RepoState, item: IssueState | PullState): JsonObject {
    const example = rehost(contract.example('issue'), r);
    const urls = repoUrls(r);
    const isPull = 'merged' in item;
    const api = `${urls.api}/issues/${item.number}`;
    const html = `${urls.html}/${isPull ? 'pull' : 'issues'}/${item.number}`;
    const assignees = isPull ? [] : (item.assignees ?? []);
    const closedBy = isPull ? (item.state === 'closed' ? (item.mergedBy ?? item.author) : null) : (item.closedBy ?? null);
    const body: JsonObject = {
      ...example,
      id: item.id,
      node_id: nodeId(isPull ? 'PullRequest' : 'Issue', item.id),
      url: api,
      repository_url: urls.api,
      labels_url: `${api}/labels{/name}`,
      comments_url: `${api}/comments`,
      events_url: `${api}/events`,
      html_url: html,
      timeline_url: `${api}/timeline`,
      number: item.number,
      state: item.state,
      state_reason: isPull ? null : item.stateReason,
      title: item.title,
      body: item.body,
      user: userJson(item.author),
      labels: item.labels.map((name) => labelJson(r, name)),
      assignee: assignees.length > 0 ? userJson(assignees[0]!) : null,
      assignees: assignees.map(userJson),
      milestone: null,
      locked: false,
      active_lock_reason: null,
      comments: r.issueComments.filter((c) => c.issue === item.number).length,
      closed_at: item.closedAt,
      created_at: item.createdAt,
      updated_at: item.updatedAt,
      closed_by: closedBy === null ? null : userJson(closedBy),
      author_association: authorAssociation(r, item.author),
      pinned_comment: null,
    };
    if (isPull) {
      const pullHtml = `${urls.html}/pull/${item.number}`;
      body['pull_request'] = { url: `${urls.api}/pulls/${item.number}`, html_url: pullHtml, diff_url: `${pullHtml}.diff`, patch_url: `${pullHtml}.patch`, merged_at: item.mergedAt };
      body['draft'] = item.draft;
    } else {
      delete body['pull_request'];
    }
    return body;
  }

  function commitJson(r: RepoState, c: PullCommitRecord): JsonObject {
    const [example] = contract.example<JsonObject[]>('commit-items');
    const body = rehost(example!, r);
    const urls = repoUrls(r);
    return {
      ...body,
      sha: c.sha,
      node_id: nodeId('Commit', numericId(c.sha)),
      url: `${urls.api}/commits/${c.sha}`,
      html_url: `${urls.html}/commit/${c.sha}`,
      comments_url: `${urls.api}/commits/${c.sha}/comments`,
      author: c.author === null ? null : userJson(c.author),
      committer: committerOf(c) === null ? null : userJson(committerOf(c)!),
    };
  }

  function committerOf(c: PullCommitRecord): string | null {
    return c.committer === undefined ? c.author : c.committer;
  }

  function activityJson(a: ActivityRecord): JsonObject {
    const [example] = contract.example<JsonObject[]>('activity-items');
    // The description's example still has an older shape (pushed_at, push_type, pusher); its schema, and
    // GitHub, have timestamp, activity_type and actor instead.
    const { pushed_at: _pushedAt, push_type: _pushType, pusher: _pusher, ...rest } = example!;
    return {
      ...rest,
      id: a.id,
      node_id: nodeId('RepositoryActivity', a.id),
      before: a.before,
      after: a.after,
      ref: a.ref,
      timestamp: a.timestamp,
      activity_type: a.type,
      actor: a.actor === null ? null : userJson(a.actor),
    };
  }

  function issueEventJson(r: RepoState, e: IssueEventRecord): JsonObject {
    const [example] = contract.example<JsonObject[]>('issue-event-for-issue-items');
    const body = rehost(example!, r);
    return {
      ...body,
      id: e.id,
      node_id: nodeId(e.event === 'labeled' ? 'LabeledEvent' : 'UnlabeledEvent', e.id),
      url: `${repoUrls(r).api}/issues/events/${e.id}`,
      actor: userJson(e.actor),
      event: e.event,
      commit_id: null,
      commit_url: null,
      created_at: e.createdAt,
      performed_via_github_app: null,
      // The name as it was; the colour the label has now.
      label: { name: e.label, color: findLabel(r, e.label)?.color ?? 'ededed' },
    };
  }

  function collaboratorJson(r: RepoState, c: CollaboratorRecord): JsonObject {
    const [example] = contract.example<JsonObject[]>('collaborator-items');
    const level = ROLES.indexOf(c.permission);
    return {
      ...rehost(example!, r),
      ...userJson(c.login),
      permissions: { pull: level >= 0, triage: level >= 1, push: level >= 2, maintain: level >= 3, admin: level >= 4 },
      role_name: c.roleName ?? c.permission,
    };
  }

  function reviewJson(r: RepoState, review: ReviewRecord): JsonObject {
    const body = rehost(contract.example('pull-request-review'), r);
    const urls = repoUrls(r);
    const html = `${urls.html}/pull/${review.pull}#pullrequestreview-${review.id}`;
    const result: JsonObject = {
      ...body,
      id: review.id,
      node_id: nodeId('PullRequestReview', review.id),
      user: userJson(review.user),
      body: review.body,
      state: review.state,
      html_url: html,
      pull_request_url: `${urls.api}/pulls/${review.pull}`,
      _links: { html: { href: html }, pull_request: { href: `${urls.api}/pulls/${review.pull}` } },
      commit_id: review.commitId,
      author_association: authorAssociation(r, review.user),
    };
    // A pending review has not been submitted; GitHub leaves the field out.
    if (review.submittedAt === null) delete result['submitted_at'];
    else result['submitted_at'] = review.submittedAt;
    return result;
  }

  function issueCommentJson(r: RepoState, comment: IssueCommentRecord): JsonObject {
    const body = rehost(contract.example('issue-comment'), r);
    const urls = repoUrls(r);
    const isPull = r.pulls.has(comment.issue);
    return {
      ...body,
      id: comment.id,
      node_id: nodeId('IssueComment', comment.id),
      url: `${urls.api}/issues/comments/${comment.id}`,
      html_url: `${urls.html}/${isPull ? 'pull' : 'issues'}/${comment.issue}#issuecomment-${comment.id}`,
      body: comment.body,
      user: userJson(comment.user),
      created_at: comment.createdAt,
      updated_at: comment.updatedAt,
      issue_url: `${urls.api}/issues/${comment.issue}`,
      author_association: authorAssociation(r, comment.user),
      pin: null,
      minimized: null,
    };
  }

  function statusJson(r: RepoState, status: StatusRecord): JsonObject {
    const body = rehost(contract.example('status'), r);
    const creator = userJson(status.creator);
    return {
      ...body,
      url: `${repoUrls(r).api}/statuses/${status.sha}`,
      avatar_url: creator['avatar_url'],
      id: status.id,
      node_id: nodeId('StatusContext', status.id),
      state: status.state,
      description: status.description,
      target_url: status.targetUrl,
      context: status.context,
      created_at: status.createdAt,
      updated_at: status.createdAt,
      creator,
    };
  }

  function commitCommentJson(r: RepoState, comment: CommitCommentRecord): JsonObject {
    const body = rehost(contract.example('commit-comment'), r);
    const urls = repoUrls(r);
    return {
      ...body,
      html_url: `${urls.html}/commit/${comment.sha}#commitcomment-${comment.id}`,
      url: `${urls.api}/comments/${comment.id}`,
      id: comment.id,
      node_id: nodeId('CommitComment', comment.id),
      body: comment.body,
      path: comment.path,
      position: comment.position,
      line: comment.line,
      commit_id: comment.sha,
      author_association: authorAssociation(r, comment.user),
      user: userJson(comment.user),
      created_at: comment.createdAt,
      updated_at: comment.createdAt,
    };
  }

  function authorAssociation(r: RepoState, user: string): string {
    return user.toLowerCase() === r.owner.toLowerCase() ? 'OWNER' : 'MEMBER';
  }

  // -- Webhook deliveries ---------------------------------------------------------------------------

  /** A rendered REST object as the webhook schema's type of the same object (GitHub sends the same shapes). */
  const as = <T>(value: JsonObject): T => value as unknown as T;

  function webhookRepository(r: RepoState): WebhookSchemas['repository-webhooks'] {
    const { permissions: _permissions, ...body } = fullRepositoryJson(r);
    return as(body);
  }

  function sender(name: string): WebhookSchemas['simple-user'] {
    return as(userJson(name));
  }

  /**
   * Renders and records a delivery of `event` now (after the state change it announces), and POSTs it
   * in the background: nothing a receiver does (slow, down, an error) reaches the REST call.
   */
  function deliver<E extends WebhookEventName>(event: E, r: RepoState, payload: WebhookPayloads[E]): void {
    if (!webhook) return;
    const target = webhook;
    const body = JSON.stringify(payload);
    const id = randomUUID();
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': `GitHub-Hookshot/${createHash('sha1').update(apiUrl).digest('hex').slice(0, 7)}`,
      'x-github-event': event,
      'x-github-delivery': id,
      'x-github-hook-id': String(hookId),
      'x-github-hook-installation-target-type': 'repository',
      'x-github-hook-installation-target-id': String(r.id),
      'x-hub-signature': `sha1=${createHmac('sha1', target.secret).update(body).digest('hex')}`,
    };
    const action = (payload as { action?: string }).action;
    const delivery: WebhookDelivery = { event, id, ...(action !== undefined ? { action } : {}), url: target.url, body, headers, at: Date.now(), status: 0 };
    deliveries.push(delivery);
    const sent = (async () => {
      headers['x-hub-signature-256'] = await sign(target.secret, body);
      const t0 = Date.now();
      try {
        const res = await fetch(target.url, { method: 'POST', headers, body, signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS) });
        await res.arrayBuffer();
        delivery.status = res.status;
      } catch (error) {
        delivery.status = -1;
        delivery.error = error instanceof Error ? error.message : String(error);
      }
      delivery.ms = Date.now() - t0;
    })();
    inFlight.add(sent);
    void sent.finally(() => inFlight.delete(sent));
  }

  function deliverPull(r: RepoState, p: PullState, action: 'opened' | 'closed' | 'reopened', by: string): void {
    if (!webhook) return;
    deliver('pull_request', r, { action, number: p.number, pull_request: as(pullJson(r, p, 'full')), repository: webhookRepository(r), sender: sender(by) });
  }

  function deliverSynchronize(r: RepoState, p: PullState, before: string, by: string): void {
    if (!webhook) return;
    deliver('pull_request', r, { action: 'synchronize', number: p.number, before, after: p.head.sha, pull_request: as(pullJson(r, p, 'full')), repository: webhookRepository(r), sender: sender(by) });
  }

  function deliverIssue(r: RepoState, issue: IssueState, change: { action: 'opened' | 'closed' | 'reopened' } | { action: 'edited'; changes: { title?: { from: string }; body?: { from: string } } }, by: string): void {
    if (!webhook) return;
    const base = { issue: as<never>(issueJson(r, issue)), repository: webhookRepository(r), sender: sender(by) };
    if (change.action === 'edited') deliver('issues', r, { action: 'edited', changes: change.changes, ...base });
    else deliver('issues', r, { action: change.action, ...base });
  }

  /** An issue's edit: `edited` when its title or body changed (with what they were), then `closed` or `reopened`. */
  function announceIssueChange(r: RepoState, issue: IssueState, was: { title: string; body: string | null; state: 'open' | 'closed' }, by: string): void {
    const changes: { title?: { from: string }; body?: { from: string } } = {};
    if (issue.title !== was.title) changes.title = { from: was.title };
    if (issue.body !== was.body) changes.body = { from: was.body ?? '' };
    if (changes.title || changes.body) deliverIssue(r, issue, { action: 'edited', changes }, by);
    if (issue.state !== was.state) deliverIssue(r, issue, { action: issue.state === 'closed' ? 'closed' : 'reopened' }, by);
  }

  function deliverComment(r: RepoState, comment: IssueCommentRecord): void {
    if (!webhook) return;
    const on = issueOrPull(r, comment.issue)!;
    deliver('issue_comment', r, {
      action: 'created',
      comment: as(issueCommentJson(r, comment)),
      issue: as(issueJson(r, on)),
      repository: webhookRepository(r),
      sender: sender(comment.user),
    });
  }

  function deliverReview(r: RepoState, review: ReviewRecord): void {
    if (!webhook || review.submittedAt === null) return;
    deliver('pull_request_review', r, {
      action: 'submitted',
      review: as(reviewJson(r, review)),
      pull_request: as(pullJson(r, pull(r, review.pull), 'simple')),
      repository: webhookRepository(r),
      sender: sender(review.user),
    });
  }

  function deliverPush(r: RepoState, push: ReceivedPush, ref: string): void {
    if (!webhook) return;
    const urls = repoUrls(r);
    const pusher = push.pusher ?? 'ghost';
    const created = push.before === ZERO_SHA;
    const deleted = push.after === ZERO_SHA;
    // A push's repository has its times as epoch seconds.
    const { permissions: _permissions, ...full } = fullRepositoryJson(r);
    const repository: JsonObject = { ...full, created_at: Math.floor(Date.parse(String(full['created_at'])) / 1000), pushed_at: Math.floor(Date.now() / 1000) };
    deliver('push', r, {
      ref,
      before: push.before,
      after: push.after,
      created,
      deleted,
      forced: push.forced ?? false,
      base_ref: null,
      compare: created || deleted ? `${urls.html}/commit/${push.after}` : `${urls.html}/compare/${push.before.slice(0, 12)}...${push.after.slice(0, 12)}`,
      // The stand-in does not read git: the commits are left out, as GitHub leaves them out of a deletion.
      commits: [],
      head_commit: null,
      pusher: { name: pusher, email: `${pusher}@users.noreply.github.com` },
      repository: as<WebhookPayloads['push']['repository']>(repository),
      sender: sender(pusher),
    });
  }

  // -- Errors as GitHub words them ------------------------------------------------------------------

  function errorBody(operation: SpecOperation | undefined, status: number, message: string, extra: JsonObject = {}): JsonObject {
    return { message, documentation_url: operation?.docsUrl ?? 'https://docs.github.com/rest', status: String(status), ...extra };
  }

  function notFound(operation: SpecOperation): never {
    throw new ErrorReply({ status: 404, body: errorBody(operation, 404, 'Not Found') });
  }

  /** GitHub's 422 "Validation Failed" with one error entry. */
  function invalid(operation: SpecOperation, error: { resource: string; code: string; field?: string; message?: string }): never {
    throw new ErrorReply({ status: 422, body: errorBody(operation, 422, 'Validation Failed', { errors: [error] }) });
  }

  function checkBodyText(operation: SpecOperation, resource: string, text: unknown): string {
    if (typeof text !== 'string' || text.trim() === '') invalid(operation, { resource, code: 'missing_field', field: 'body' });
    if (text.length > GITHUB_MAX_BODY_CHARS) invalid(operation, { resource, code: 'custom', field: 'body', message: `body is too long (maximum is ${GITHUB_MAX_BODY_CHARS} characters)` });
    return text;
  }

  /** The issue or PR with this number (they share one number space). */
  function issueOrPull(r: RepoState, number: number): IssueState | PullState | undefined {
    return r.issues.get(number) ?? r.pulls.get(number);
  }

  /** An issue title as POST/PATCH take it: a string or an integer, never blank. */
  function issueTitle(operation: SpecOperation, value: unknown): string {
    const title = typeof value === 'number' ? String(value) : typeof value === 'string' ? value.trim() : '';
    if (title === '') invalid(operation, { resource: 'Issue', code: 'missing_field', field: 'title' });
    return title;
  }

  function issueBody(operation: SpecOperation, value: unknown): string | null {
    if (typeof value !== 'string') return null;
    if (value.length > GITHUB_MAX_BODY_CHARS) invalid(operation, { resource: 'Issue', code: 'custom', field: 'body', message: `body is too long (maximum is ${GITHUB_MAX_BODY_CHARS} characters)` });
    return value;
  }

  /** The names in an issue's `labels`: strings, or objects naming one. */
  function labelNames(operation: SpecOperation, values: unknown[]): string[] {
    return values.map((value) => {
      const name = typeof value === 'string' ? value : typeof (value as JsonObject)['name'] === 'string' ? ((value as JsonObject)['name'] as string) : '';
      if (name.trim() === '') invalid(operation, { resource: 'Label', code: 'invalid', field: 'name' });
      return name;
    });
  }

  function recordImplicit(label: LabelState): void {
    implicitLabels.push(label.name);
  }

  function checkSha(operation: SpecOperation, sha: string): void {
    if (!SHA.test(sha)) throw new ErrorReply({ status: 422, body: errorBody(operation, 422, `No commit found for SHA: ${sha}`) });
  }

  // -- Routes ---------------------------------------------------------------------------------------

  function route(key: string, handler: RouteHandler): void {
    const [method, template] = key.split(' ');
    if (!method || !template || !contract.operation(method, template)) throw new Error(`${key} is not an operation in GitHub's REST description`);
    routes.set(`${method.toUpperCase()} ${template}`, handler);
  }

  route('GET /repos/{owner}/{repo}', (ctx) => ({ status: 200, body: fullRepositoryJson(ctx.repo()) }));

  route('GET /repos/{owner}/{repo}/branches/{branch}/protection', (ctx) => {
    const r = ctx.repo();
    const found = r.protection?.get(ctx.params['branch']!);
    // GitHub's answer for a branch without protection.
    if (!found) return { status: 404, body: errorBody(ctx.operation, 404, 'Branch not protected') };
    return { status: 200, body: protectionJson(r, ctx.params['branch']!, found) };
  });

  route('GET /repos/{owner}/{repo}/pulls', (ctx) => {
    const r = ctx.repo();
    const wanted = ctx.query.get('state') ?? 'open';
    const head = ctx.query.get('head');
    const base = ctx.query.get('base');
    const sort = ctx.query.get('sort') ?? 'created';
    const direction = ctx.query.get('direction') ?? (sort === 'created' ? 'desc' : 'asc');
    let pulls = [...r.pulls.values()].filter((p) => wanted === 'all' || p.state === wanted);
    // GitHub ignores a head filter without "owner:" and lists every PR.
    if (head?.includes(':')) {
      const [owner, ref] = [head.slice(0, head.indexOf(':')), head.slice(head.indexOf(':') + 1)];
      pulls = pulls.filter((p) => owner.toLowerCase() === r.owner.toLowerCase() && p.head.ref === ref);
    }
    if (base) pulls = pulls.filter((p) => p.base.ref === base);
    const key = (p: PullState) => (sort === 'updated' ? p.updatedAt : p.createdAt) + String(p.number).padStart(9, '0');
    pulls.sort((a, b) => key(a).localeCompare(key(b)) * (direction === 'desc' ? -1 : 1));
    return ctx.page(pulls, (p) => pullJson(r, p, 'simple'));
  });

  route('POST /repos/{owner}/{repo}/pulls', (ctx) => {
    const r = ctx.repo();
    const b = ctx.body;
    if (typeof b['title'] !== 'string' || b['title'] === '') invalid(ctx.operation, { resource: 'PullRequest', code: 'missing_field', field: 'title' });
    if (typeof b['head'] !== 'string') invalid(ctx.operation, { resource: 'PullRequest', code: 'missing_field', field: 'head' });
    if (typeof b['base'] !== 'string') invalid(ctx.operation, { resource: 'PullRequest', code: 'missing_field', field: 'base' });
    const colon = b['head'].indexOf(':');
    if (colon !== -1 && b['head'].slice(0, colon).toLowerCase() !== r.owner.toLowerCase()) {
      invalid(ctx.operation, { resource: 'PullRequest', code: 'invalid', field: 'head' });
    }
    const head = colon === -1 ? b['head'] : b['head'].slice(colon + 1);
    const base = b['base'];
    if (head === base) invalid(ctx.operation, { resource: 'PullRequest', code: 'custom', message: `No commits between ${base} and ${head}` });
    if ([...r.pulls.values()].some((p) => p.state === 'open' && p.head.ref === head && p.base.ref === base)) {
      invalid(ctx.operation, { resource: 'PullRequest', code: 'custom', message: `A pull request already exists for ${r.owner}:${head}.` });
    }
    if (typeof b['body'] === 'string' && b['body'].length > GITHUB_MAX_BODY_CHARS) {
      invalid(ctx.operation, { resource: 'PullRequest', code: 'custom', field: 'body', message: `body is too long (maximum is ${GITHUB_MAX_BODY_CHARS} characters)` });
    }
    const headSha = r.branches.get(head) ?? options.resolveBranch?.(head, r) ?? fakeSha(`${r.owner}/${r.name}:${head}`);
    const created = createPull(r, {
      head,
      base,
      author: ctx.login,
      title: b['title'],
      body: typeof b['body'] === 'string' ? b['body'] : null,
      headSha,
      draft: b['draft'] === true,
    });
    deliverPull(r, created, 'opened', ctx.login);
    const body = pullJson(r, created, 'full');
    return { status: 201, body, headers: { location: String(body['url']) } };
  });

  route('GET /repos/{owner}/{repo}/pulls/{pull_number}', (ctx) => {
    const r = ctx.repo();
    const p = r.pulls.get(Number(ctx.params['pull_number'])) ?? notFound(ctx.operation);
    return { status: 200, body: pullJson(r, p, 'full') };
  });

  route('PATCH /repos/{owner}/{repo}/pulls/{pull_number}', (ctx) => {
    const r = ctx.repo();
    const p = r.pulls.get(Number(ctx.params['pull_number'])) ?? notFound(ctx.operation);
    const b = ctx.body;
    if (typeof b['body'] === 'string' && b['body'].length > GITHUB_MAX_BODY_CHARS) {
      invalid(ctx.operation, { resource: 'PullRequest', code: 'custom', field: 'body', message: `body is too long (maximum is ${GITHUB_MAX_BODY_CHARS} characters)` });
    }
    if (b['state'] === 'open' && p.state === 'closed') {
      if (p.merged) invalid(ctx.operation, { resource: 'PullRequest', code: 'custom', message: 'state cannot be changed. The pull request cannot be reopened.' });
      if ([...r.pulls.values()].some((o) => o !== p && o.state === 'open' && o.head.ref === p.head.ref && o.base.ref === p.base.ref)) {
        invalid(ctx.operation, { resource: 'PullRequest', code: 'custom', message: `A pull request already exists for ${r.owner}:${p.head.ref}.` });
      }
    }
    if (typeof b['title'] === 'string') p.title = b['title'];
    if (typeof b['body'] === 'string') p.body = b['body'];
    if (typeof b['base'] === 'string') p.base = { ref: b['base'] };
    let changed: 'closed' | 'reopened' | undefined;
    if (b['state'] === 'closed' && p.state === 'open') {
      p.state = 'closed';
      p.closedAt = timestamp();
      changed = 'closed';
    } else if (b['state'] === 'open' && p.state === 'closed') {
      p.state = 'open';
      p.closedAt = null;
      changed = 'reopened';
    }
    p.updatedAt = timestamp();
    if (changed) deliverPull(r, p, changed, ctx.login);
    return { status: 200, body: pullJson(r, p, 'full') };
  });

  // Issues. GitHub's issues API is also the PRs': lists and GETs show a PR as an issue with pull_request.

  route('GET /repos/{owner}/{repo}/issues', (ctx) => {
    const r = ctx.repo();
    const q = ctx.query;
    const wanted = q.get('state') ?? 'open';
    const labels = (q.get('labels') ?? '').split(',').map((l) => l.trim().toLowerCase()).filter((l) => l !== '');
    const sort = q.get('sort') ?? 'created';
    const direction = q.get('direction') ?? 'desc';
    const since = q.get('since');
    const creator = q.get('creator')?.toLowerCase();
    const assignee = q.get('assignee');
    const milestone = q.get('milestone');
    const type = q.get('type');
    const mentioned = q.get('mentioned')?.toLowerCase();
    if (q.has('issue_field_values')) violations.push(`${ctx.operation.method} ${ctx.operation.template}: the test server does not filter by issue_field_values`);
    const items: (IssueState | PullState)[] = [...r.issues.values(), ...r.pulls.values()];
    const comments = (n: number) => r.issueComments.filter((c) => c.issue === n).length;
    const assigneesOf = (i: IssueState | PullState) => ('merged' in i ? [] : (i.assignees ?? []));
    const selected = items.filter((i) => {
      if (wanted !== 'all' && i.state !== wanted) return false;
      const has = new Set(i.labels.map((l) => l.toLowerCase()));
      if (!labels.every((l) => has.has(l))) return false;
      if (since !== null && Date.parse(i.updatedAt) < Date.parse(since)) return false;
      if (creator !== undefined && i.author.toLowerCase() !== creator) return false;
      if (assignee !== null) {
        const logins = assigneesOf(i).map((a) => a.toLowerCase());
        if (assignee === 'none' ? logins.length > 0 : assignee === '*' ? logins.length === 0 : !logins.includes(assignee.toLowerCase())) return false;
      }
      // Nothing here has a milestone or an issue type.
      if (milestone !== null && milestone !== 'none') return false;
      if (type !== null && type !== 'none') return false;
      if (mentioned !== undefined && !(i.body ?? '').toLowerCase().includes(`@${mentioned}`)) return false;
      return true;
    });
    // Creation order is number order; the number also breaks ties between equal times and counts.
    const key = (i: IssueState | PullState): [number, number] =>
      sort === 'updated' ? [Date.parse(i.updatedAt), i.number] : sort === 'comments' ? [comments(i.number), i.number] : [i.number, 0];
    selected.sort((a, b) => {
      const [ka, kb] = [key(a), key(b)];
      return (ka[0] - kb[0] || ka[1] - kb[1]) * (direction === 'asc' ? 1 : -1);
    });
    return ctx.page(selected, (i) => issueJson(r, i));
  });

  route('POST /repos/{owner}/{repo}/issues', (ctx) => {
    const r = ctx.repo();
    const b = ctx.body;
    const title = issueTitle(ctx.operation, b['title']);
    const body = issueBody(ctx.operation, b['body']);
    if (b['milestone'] !== undefined && b['milestone'] !== null) invalid(ctx.operation, { resource: 'Issue', code: 'invalid', field: 'milestone' });
    const labels = Array.isArray(b['labels']) ? ensureLabels(r, labelNames(ctx.operation, b['labels']), recordImplicit) : [];
    const assignees = Array.isArray(b['assignees']) ? (b['assignees'] as string[]) : typeof b['assignee'] === 'string' ? [b['assignee']] : [];
    const created = createIssue(r, { title, body, author: ctx.login, labels, assignees: [...new Set(assignees)] });
    deliverIssue(r, created, { action: 'opened' }, ctx.login);
    const json = issueJson(r, created);
    return { status: 201, body: json, headers: { location: String(json['url']) } };
  });

  route('GET /repos/{owner}/{repo}/issues/{issue_number}', (ctx) => {
    const r = ctx.repo();
    const item = issueOrPull(r, Number(ctx.params['issue_number'])) ?? notFound(ctx.operation);
    return { status: 200, body: issueJson(r, item) };
  });

  route('PATCH /repos/{owner}/{repo}/issues/{issue_number}', (ctx) => {
    const r = ctx.repo();
    const item = issueOrPull(r, Number(ctx.params['issue_number'])) ?? notFound(ctx.operation);
    const b = ctx.body;
    const title = 'title' in b ? issueTitle(ctx.operation, b['title']) : undefined;
    const body = 'body' in b ? issueBody(ctx.operation, b['body']) : undefined;
    if (b['milestone'] !== undefined && b['milestone'] !== null) invalid(ctx.operation, { resource: 'Issue', code: 'invalid', field: 'milestone' });
    const names = Array.isArray(b['labels']) ? labelNames(ctx.operation, b['labels']) : undefined;
    const wanted = b['state'] as 'open' | 'closed' | undefined;
    const reason = (b['state_reason'] ?? undefined) as IssueState['stateReason'] | undefined;
    if (wanted === 'closed' && reason === 'reopened') invalid(ctx.operation, { resource: 'Issue', code: 'invalid', field: 'state_reason' });
    if ('merged' in item) {
      // GitHub lets the issues API edit a PR's title, body, labels and state; a merged PR stays closed.
      if (wanted === 'open' && item.state === 'closed' && item.merged) {
        invalid(ctx.operation, { resource: 'PullRequest', code: 'custom', message: 'state cannot be changed. The pull request cannot be reopened.' });
      }
      if (title !== undefined) item.title = title;
      if (body !== undefined) item.body = body;
      if (names !== undefined) relabel(r, item, ensureLabels(r, names, recordImplicit), ctx.login);
      if (wanted !== undefined && wanted !== item.state) {
        item.state = wanted;
        item.closedAt = wanted === 'closed' ? timestamp() : null;
        deliverPull(r, item, wanted === 'closed' ? 'closed' : 'reopened', ctx.login);
      }
    } else {
      const was = { title: item.title, body: item.body, state: item.state };
      if (title !== undefined) item.title = title;
      if (body !== undefined) item.body = body;
      if (names !== undefined) relabel(r, item, ensureLabels(r, names, recordImplicit), ctx.login);
      if (Array.isArray(b['assignees'])) {
        const logins = (b['assignees'] as unknown[]).map((a) => (typeof a === 'string' ? a : String((a as JsonObject)['login'] ?? ''))).filter((a) => a !== '');
        item.assignees = [...new Set(logins)];
      } else if ('assignee' in b) {
        item.assignees = typeof b['assignee'] === 'string' ? [b['assignee']] : [];
      }
      // state_reason is "ignored unless state is changed".
      if (wanted !== undefined) setIssueState(item, wanted, ctx.login, reason ?? undefined);
      item.updatedAt = timestamp();
      announceIssueChange(r, item, was, ctx.login);
    }
    item.updatedAt = timestamp();
    return { status: 200, body: issueJson(r, item) };
  });

  // Labels.

  route('GET /repos/{owner}/{repo}/labels', (ctx) => {
    const r = ctx.repo();
    // GitHub lists a repository's labels by name.
    const labels = [...r.labels.values()].sort((a, b) => a.name.toLowerCase().localeCompare(b.name.toLowerCase()) || a.id - b.id);
    return ctx.page(labels, (l) => labelStateJson(r, l));
  });

  route('GET /repos/{owner}/{repo}/labels/{name}', (ctx) => {
    const r = ctx.repo();
    const label = findLabel(r, ctx.params['name']!) ?? notFound(ctx.operation);
    return { status: 200, body: labelStateJson(r, label) };
  });

  route('POST /repos/{owner}/{repo}/labels', (ctx) => {
    const r = ctx.repo();
    const b = ctx.body;
    const name = typeof b['name'] === 'string' ? b['name'].trim() : '';
    if (name === '') invalid(ctx.operation, { resource: 'Label', code: 'missing_field', field: 'name' });
    const color = typeof b['color'] === 'string' ? b['color'] : 'ededed';
    if (!/^[0-9a-fA-F]{6}$/.test(color)) invalid(ctx.operation, { resource: 'Label', code: 'invalid', field: 'color' });
    const description = typeof b['description'] === 'string' ? b['description'] : null;
    if (description !== null && Array.from(description).length > 100) {
      invalid(ctx.operation, { resource: 'Label', code: 'custom', field: 'description', message: 'description is too long (maximum is 100 characters)' });
    }
    if (findLabel(r, name)) invalid(ctx.operation, { resource: 'Label', code: 'already_exists', field: 'name' });
    const label = createLabel(r, { name, color, description });
    const json = labelStateJson(r, label);
    return { status: 201, body: json, headers: { location: String(json['url']) } };
  });

  route('GET /repos/{owner}/{repo}/commits/{commit_sha}/pulls', (ctx) => {
    const r = ctx.repo();
    const sha = ctx.params['commit_sha']!;
    checkSha(ctx.operation, sha);
    const numbers = [...(r.commitPulls.get(sha) ?? [])].sort((a, b) => a - b);
    return ctx.page(numbers.map((n) => pull(r, n)), (p) => pullJson(r, p, 'simple'));
  });

  route('GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews', (ctx) => {
    const r = ctx.repo();
    const number = Number(ctx.params['pull_number']);
    if (!r.pulls.has(number)) notFound(ctx.operation);
    return ctx.page(
      r.reviews.filter((review) => review.pull === number),
      (review) => reviewJson(r, review),
    );
  });

  route('GET /repos/{owner}/{repo}/pulls/{pull_number}/commits', (ctx) => {
    const r = ctx.repo();
    const number = Number(ctx.params['pull_number']);
    const p = r.pulls.get(number) ?? notFound(ctx.operation);
    // "Lists a maximum of 250 commits for a pull request", however many pages are asked for.
    const commits = (p.commits ?? [{ sha: p.head.sha, author: p.author }]).slice(0, GITHUB_MAX_PULL_COMMITS);
    return ctx.page(commits, (c) => commitJson(r, c));
  });

  route('GET /repos/{owner}/{repo}/issues/{issue_number}/events', (ctx) => {
    const r = ctx.repo();
    const number = Number(ctx.params['issue_number']);
    if (!issueOrPull(r, number)) notFound(ctx.operation);
    // Oldest first, as GitHub lists an issue's events.
    const events = chronological(
      r.issueEvents.filter((e) => e.issue === number),
      (e) => e.createdAt,
    );
    return ctx.page(events, (e) => issueEventJson(r, e));
  });

  route('GET /repos/{owner}/{repo}/activity', (ctx) => {
    const r = ctx.repo();
    const q = ctx.query;
    const ref = q.get('ref');
    const wantedRef = ref === null ? undefined : fullRef(ref);
    const type = q.get('activity_type');
    const actor = q.get('actor')?.toLowerCase();
    const period = q.get('time_period');
    const since = period === null ? undefined : Date.now() - PERIOD_MS[period]!;
    const selected = r.activity.filter(
      (a) =>
        (wantedRef === undefined || a.ref === wantedRef) &&
        (type === null || a.type === type) &&
        (actor === undefined || a.actor?.toLowerCase() === actor) &&
        (since === undefined || Date.parse(a.timestamp) >= since),
    );
    const ordered = chronological(selected, (a) => a.timestamp);
    // Newest first unless asked otherwise (direction's default is desc).
    if ((q.get('direction') ?? 'desc') === 'desc') ordered.reverse();
    return ctx.cursorPage(ordered, activityJson, (a) => a.id);
  });

  // The token's own account, as GitHub shows it to the token (its public profile is enough for fleetspec).
  route('GET /user', (ctx) => ({ status: 200, body: publicUserJson(account(ctx.login)) }));

  route('GET /users/{username}', (ctx) => {
    // Only accounts the server has seen exist; a freed login (renamed away) is nobody's.
    const found = state.users.get(ctx.params['username']!.toLowerCase()) ?? notFound(ctx.operation);
    return { status: 200, body: publicUserJson(found) };
  });

  route('GET /repos/{owner}/{repo}/collaborators', (ctx) => {
    const r = ctx.repo();
    // No organisations here, so no outside collaborators: everyone listed is a direct collaborator.
    const affiliation = ctx.query.get('affiliation') ?? 'all';
    // The filter names GitHub's older permission words: pull is read, push is write.
    const wanted = ({ pull: 'read', triage: 'triage', push: 'write', maintain: 'maintain', admin: 'admin' } as Record<string, CollaboratorPermission>)[ctx.query.get('permission') ?? 'pull']!;
    const listed = affiliation === 'outside' ? [] : collaboratorsOf(r).filter((c) => ROLES.indexOf(c.permission) >= ROLES.indexOf(wanted));
    return ctx.page(listed, (c) => collaboratorJson(r, c));
  });

  route('GET /repos/{owner}/{repo}/issues/{issue_number}/comments', (ctx) => {
    const r = ctx.repo();
    const number = Number(ctx.params['issue_number']);
    if (!issueOrPull(r, number)) notFound(ctx.operation);
    const since = ctx.query.get('since');
    return ctx.page(
      r.issueComments.filter((c) => c.issue === number && (since === null || c.updatedAt >= since)),
      (c) => issueCommentJson(r, c),
    );
  });

  // The repository's comments on issues and PRs alike; since: updated at or after (GitHub's rule),
  // sort created (default) or updated, direction asc (default) or desc.
  route('GET /repos/{owner}/{repo}/issues/comments', (ctx) => {
    const r = ctx.repo();
    const since = ctx.query.get('since');
    const key = ctx.query.get('sort') === 'updated' ? 'updatedAt' : 'createdAt';
    const listed = r.issueComments.filter((c) => since === null || c.updatedAt >= since).sort((a, b) => a[key].localeCompare(b[key]) || a.id - b.id);
    if (ctx.query.get('direction') === 'desc') listed.reverse();
    return ctx.page(listed, (c) => issueCommentJson(r, c));
  });

  route('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', (ctx) => {
    const r = ctx.repo();
    const number = Number(ctx.params['issue_number']);
    const target = issueOrPull(r, number) ?? notFound(ctx.operation);
    const text = checkBodyText(ctx.operation, 'IssueComment', ctx.body['body']);
    const now = timestamp();
    const comment: IssueCommentRecord = { id: nextId(), issue: number, user: ctx.login, body: text, createdAt: now, updatedAt: now };
    r.issueComments.push(comment);
    // A comment is activity on an issue: GitHub moves its updated_at. (PRs are left alone, as before.)
    if (!('merged' in target)) target.updatedAt = now;
    deliverComment(r, comment);
    const body = issueCommentJson(r, comment);
    return { status: 201, body, headers: { location: String(body['url']) } };
  });

  route('PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}', (ctx) => {
    const r = ctx.repo();
    const comment = r.issueComments.find((c) => c.id === Number(ctx.params['comment_id'])) ?? notFound(ctx.operation);
    comment.body = checkBodyText(ctx.operation, 'IssueComment', ctx.body['body']);
    comment.updatedAt = timestamp();
    return { status: 200, body: issueCommentJson(r, comment) };
  });

  route('POST /repos/{owner}/{repo}/statuses/{sha}', (ctx) => {
    const r = ctx.repo();
    const sha = ctx.params['sha']!;
    checkSha(ctx.operation, sha);
    const b = ctx.body;
    const description = typeof b['description'] === 'string' ? b['description'] : null;
    if (description !== null && Array.from(description).length > GITHUB_MAX_STATUS_DESCRIPTION_CHARS) {
      invalid(ctx.operation, { resource: 'Status', code: 'custom', field: 'description', message: `description is too long (maximum is ${GITHUB_MAX_STATUS_DESCRIPTION_CHARS} characters)` });
    }
    const status: StatusRecord = {
      id: nextId(),
      sha,
      state: b['state'] as StatusRecord['state'],
      description,
      targetUrl: typeof b['target_url'] === 'string' ? b['target_url'] : null,
      context: typeof b['context'] === 'string' ? b['context'] : 'default',
      creator: ctx.login,
      createdAt: timestamp(),
    };
    r.statuses.push(status);
    const body = statusJson(r, status);
    return { status: 201, body, headers: { location: String(body['url']) } };
  });

  route('GET /repos/{owner}/{repo}/commits/{ref}/statuses', (ctx) => {
    const r = ctx.repo();
    const ref = ctx.params['ref']!;
    // A branch name or a sha; the stand-in's statuses are by sha. GitHub lists them newest first.
    const sha = r.branches.get(ref) ?? ref;
    return ctx.page(r.statuses.filter((s) => s.sha === sha).reverse(), (s) => statusJson(r, s));
  });

  route('GET /repos/{owner}/{repo}/commits/{commit_sha}/comments', (ctx) => {
    const r = ctx.repo();
    const sha = ctx.params['commit_sha']!;
    return ctx.page(r.commitComments.filter((c) => c.sha === sha), (c) => commitCommentJson(r, c));
  });

  route('POST /repos/{owner}/{repo}/commits/{commit_sha}/comments', (ctx) => {
    const r = ctx.repo();
    const sha = ctx.params['commit_sha']!;
    checkSha(ctx.operation, sha);
    const b = ctx.body;
    const comment: CommitCommentRecord = {
      id: nextId(),
      sha,
      user: ctx.login,
      body: checkBodyText(ctx.operation, 'CommitComment', b['body']),
      path: typeof b['path'] === 'string' ? b['path'] : null,
      position: typeof b['position'] === 'number' ? b['position'] : null,
      line: typeof b['line'] === 'number' ? b['line'] : null,
      createdAt: timestamp(),
    };
    r.commitComments.push(comment);
    const body = commitCommentJson(r, comment);
    return { status: 201, body, headers: { location: String(body['url']) } };
  });

  // -- Request handling -----------------------------------------------------------------------------

  function answer(
    method: string,
    url: URL,
    raw: string,
    record: RecordedRequest,
    authorization: string | undefined,
  ): { reply: Reply; operation?: SpecOperation; delayMs?: number; unanswered?: 'drop' | 'hang' } {
    const matched = contract.match(method, url.pathname);
    if ('problem' in matched) {
      violations.push(matched.problem);
      return { reply: { status: 404, body: errorBody(undefined, 404, 'Not Found') } };
    }
    const { operation, params } = matched;
    record.operation = `${operation.method} ${operation.template}`;

    let body: unknown;
    if (raw.trim() !== '') {
      try {
        body = JSON.parse(raw);
      } catch {
        violations.push(`${record.operation}: the request body is not JSON`);
        return { reply: { status: 400, body: errorBody(operation, 400, 'Problems parsing JSON') }, operation };
      }
    }
    const problems = contract.checkRequest(operation, params, url.searchParams, { raw, value: body });
    if (problems.length > 0) {
      violations.push(...problems);
      return { reply: { status: 422, body: errorBody(operation, 422, `Invalid request.\n\n${problems.join('\n')}`) }, operation };
    }

    const given = /^(?:token|bearer)\s+(.+)$/i.exec(authorization ?? '')?.[1];
    if (given !== token) {
      return { reply: { status: 401, body: errorBody(undefined, 401, given === undefined ? 'Requires authentication' : 'Bad credentials') }, operation };
    }

    const targeted = operationFaults.get(record.operation)?.shift();
    const fault = targeted ? targeted.fault : faults.shift();
    if (targeted && fault?.kind === 'status') targeted.onFault?.();
    const serverError = (status: number): Reply => ({ status, body: errorBody(operation, status, status >= 500 ? 'Server Error' : 'Injected failure') });
    if (fault?.kind === 'status') return { reply: serverError(fault.status), operation };
    if (fault?.kind === 'rate') return { reply: rateLimited(operation, fault.limit), operation };

    const handler = routes.get(record.operation);
    if (!handler) {
      violations.push(`${record.operation}: documented by GitHub but not implemented by the test server; add it with server.route()`);
      return { reply: { status: 404, body: errorBody(operation, 404, 'Not Found') }, operation };
    }
    const ctx: RouteContext = {
      server,
      operation,
      params,
      query: url.searchParams,
      body: body && typeof body === 'object' && !Array.isArray(body) ? (body as JsonObject) : {},
      login,
      repo: () => {
        const found = params['owner'] !== undefined && params['repo'] !== undefined ? state.repos.get(repoKey(params['owner'], params['repo'])) : undefined;
        return found ?? notFound(operation);
      },
      page: (items, render) => page(url, items, render),
      cursorPage: (items, render, key) => cursorPage(operation, url, items, render, key),
    };
    try {
      const reply = handler(ctx);
      const tamper = tampers.shift();
      if (tamper && reply.body && typeof reply.body === 'object') tamper((Array.isArray(reply.body) ? reply.body[0] : reply.body) as JsonObject);
      if (fault?.kind === 'lose' || fault?.kind === 'drop' || fault?.kind === 'hang') targeted?.onFault?.();
      if (fault?.kind === 'lose') return { reply: serverError(fault.status), operation };
      if (fault?.kind === 'drop' || fault?.kind === 'hang') return { reply, operation, unanswered: fault.kind };
      return { reply, operation, ...(fault?.kind === 'stall' ? { delayMs: fault.ms } : {}) };
    } catch (error) {
      if (error instanceof ErrorReply) return { reply: error.reply, operation };
      throw error;
    }
  }

  function rateLimited(operation: SpecOperation, limit: RateLimitInjection): Reply {
    const status = limit.status ?? 403;
    const requestId = randomBytes(8).toString('hex').toUpperCase();
    if (limit.kind === 'primary') {
      const reset = Math.floor(Date.now() / 1000) + limit.resetInS;
      return {
        status,
        headers: { 'x-ratelimit-limit': '5000', 'x-ratelimit-remaining': '0', 'x-ratelimit-used': '5000', 'x-ratelimit-reset': String(reset), 'x-ratelimit-resource': 'core' },
        body: errorBody(operation, status, `API rate limit exceeded for user ID ${account(login).id}. If you reach out to GitHub Support for help, please include the request ID ${requestId} and timestamp ${timestamp()}.`, {
          documentation_url: RATE_LIMIT_DOCS,
        }),
      };
    }
    return {
      status,
      headers: limit.omitRetryAfter ? {} : { 'retry-after': String(limit.resetInS) },
      body: errorBody(
        operation,
        status,
        `You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID ${requestId}.`,
        { documentation_url: `${RATE_LIMIT_DOCS}#about-secondary-rate-limits` },
      ),
    };
  }

  function page<T>(url: URL, items: T[], render: (item: T) => unknown): Reply {
    const perPage = perPageOf(url);
    const current = Math.max(1, Number(url.searchParams.get('page') ?? 1) || 1);
    const last = Math.max(1, Math.ceil(items.length / perPage));
    const link = (n: number, rel: string) => {
      const target = new URL(url.pathname + url.search, apiUrl);
      target.searchParams.set('per_page', String(perPage));
      target.searchParams.set('page', String(n));
      return `<${target.href}>; rel="${rel}"`;
    };
    const links: string[] = [];
    if (current > 1) links.push(link(current - 1, 'prev'));
    if (current < last) links.push(link(current + 1, 'next'), link(last, 'last'));
    if (current > 1) links.push(link(1, 'first'));
    const slice = items.slice((current - 1) * perPage, current * perPage).map(render);
    return { status: 200, body: slice, headers: links.length > 0 ? { link: links.join(', ') } : {} };
  }

  /**
   * Cursor paging ("Using pagination in the REST API": some lists page with before/after, not page):
   * `after` starts past the item the cursor names, `before` ends short of it; Link has next with an
   * after cursor and prev with a before cursor, and no first/last.
   */
  function cursorPage<T>(operation: SpecOperation, url: URL, items: T[], render: (item: T) => unknown, key: (item: T) => number): Reply {
    const perPage = perPageOf(url);
    const cursor = (item: T) => Buffer.from(`cursor:v2:${key(item)}`).toString('base64');
    const position = (name: string) => {
      const given = url.searchParams.get(name)!;
      const at = items.findIndex((item) => cursor(item) === given);
      if (at < 0) throw new ErrorReply({ status: 422, body: errorBody(operation, 422, 'Validation Failed', { errors: [`${name} cursor ${given} is not valid`] }) });
      return at;
    };
    let start = url.searchParams.has('after') ? position('after') + 1 : 0;
    let end = url.searchParams.has('before') ? position('before') : items.length;
    if (url.searchParams.has('before') && !url.searchParams.has('after')) start = Math.max(start, end - perPage);
    else end = Math.min(end, start + perPage);
    const link = (rel: 'next' | 'prev', name: 'after' | 'before', item: T) => {
      const target = new URL(url.pathname + url.search, apiUrl);
      target.searchParams.delete('before');
      target.searchParams.delete('after');
      target.searchParams.set('per_page', String(perPage));
      target.searchParams.set(name, cursor(item));
      return `<${target.href}>; rel="${rel}"`;
    };
    const links: string[] = [];
    if (end > start && end < items.length) links.push(link('next', 'after', items[end - 1]!));
    if (end > start && start > 0) links.push(link('prev', 'before', items[start]!));
    const slice = items.slice(start, Math.max(start, end)).map(render);
    return { status: 200, body: slice, headers: links.length > 0 ? { link: links.join(', ') } : {} };
  }

  function perPageOf(url: URL): number {
    return Math.max(1, Math.min(Number(url.searchParams.get('per_page') ?? 30) || 30, 100, server.perPageMax));
  }

  function send(res: ServerResponse, reply: Reply): void {
    const headers: Record<string, string> = {
      'x-github-request-id': randomBytes(8).toString('hex').toUpperCase(),
      'x-github-api-version-selected': '2022-11-28',
      'x-ratelimit-limit': '5000',
      'x-ratelimit-remaining': '4999',
      'x-ratelimit-used': '1',
      'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + 3600),
      'x-ratelimit-resource': 'core',
      ...reply.headers,
    };
    if (reply.body === undefined) {
      res.writeHead(reply.status, headers).end();
      return;
    }
    res.writeHead(reply.status, { ...headers, 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(reply.body));
  }

  const httpServer = createServer((req, res) => {
    readBody(req, MAX_REQUEST_BYTES, () => new Error(`request body over ${MAX_REQUEST_BYTES} bytes`))
      .then(async (raw) => {
        const url = new URL(req.url ?? '/', apiUrl);
        const method = (req.method ?? 'GET').toUpperCase();
        let parsed: unknown = raw === '' ? undefined : raw;
        try {
          parsed = raw === '' ? undefined : JSON.parse(raw);
        } catch {
          // Recorded as text; answer() reports it.
        }
        const record: RecordedRequest = { method, path: url.pathname, query: Object.fromEntries(url.searchParams), body: parsed, status: 0 };
        requests.push(record);
        const { reply, operation, delayMs, unanswered } = answer(method, url, raw, record, req.headers.authorization);
        let checked = reply;
        if (operation) {
          const problems = contract.checkResponse(operation, reply.status, reply.body);
          if (problems.length > 0) {
            violations.push(...problems);
            checked = { status: 500, body: errorBody(operation, 500, `The test server's answer broke GitHub's REST description:\n${problems.join('\n')}`) };
          }
        }
        record.status = checked.status;
        if (unanswered === 'drop') {
          record.status = 0;
          res.destroy();
          return;
        }
        if (unanswered === 'hang') {
          record.status = 0;
          return; // closed by the client giving up, or by close()
        }
        if (delayMs !== undefined) await new Promise((resolve) => setTimeout(resolve, delayMs));
        // The client may have given up waiting; then there is nobody to answer.
        if (res.destroyed) return;
        send(res, checked);
      })
      .catch((error: unknown) => {
        violations.push(`test server crashed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
        if (res.headersSent) return res.destroy();
        send(res, { status: 500, body: errorBody(undefined, 500, 'Server Error') });
      });
  });

  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(0, host, () => resolve());
  });
  const address = httpServer.address() as AddressInfo;
  apiUrl = `http://${host}:${address.port}`;

  const server: GitHubTestServer = {
    url: apiUrl,
    token,
    login,
    fullName: '',
    state,
    requests,
    violations,
    perPageMax: options.perPageMax ?? 100,
    routes,
    route,
    addRepo,
    repo,
    setBranch(branch, sha, fullName) {
      repo(fullName).branches.set(branch, sha);
    },
    openPull(p) {
      const r = repo(p.repo);
      const created = createPull(r, { head: p.head, base: p.base ?? r.defaultBranch, author: p.author, title: p.title, body: p.body ?? null, headSha: p.headSha, labels: p.labels ?? [], draft: p.draft ?? false });
      deliverPull(r, created, 'opened', p.author);
      return created;
    },
    review(number, rv) {
      const r = repo(rv.repo);
      const p = pull(r, number);
      account(rv.user);
      const review: ReviewRecord = {
        id: nextId(),
        pull: number,
        user: rv.user,
        state: rv.state,
        body: rv.body ?? '',
        commitId: rv.commitId === undefined ? p.head.sha : rv.commitId,
        submittedAt: rv.state === 'PENDING' ? null : timestamp(),
      };
      r.reviews.push(review);
      deliverReview(r, review);
      return review;
    },
    merge(number, m) {
      const r = repo(m.repo);
      const p = pull(r, number);
      const now = m.at ?? timestamp();
      const mergedBy = m.mergedBy ?? r.owner;
      account(mergedBy);
      Object.assign(p, { state: 'closed', merged: true, mergedAt: now, closedAt: now, updatedAt: now, mergedBy, mergeCommitSha: m.mergeCommitSha });
      r.branches.set(p.base.ref, m.mergeCommitSha);
      associate(m.mergeCommitSha, number, m.repo);
      associate(p.head.sha, number, m.repo);
      deliverPull(r, p, 'closed', mergedBy);
      return p;
    },
    setHeadSha(number, sha, fullName) {
      const r = repo(fullName);
      const p = pull(r, number);
      const before = p.head.sha;
      p.head = { ...p.head, sha };
      p.updatedAt = timestamp();
      r.branches.set(p.head.ref, sha);
      associate(sha, number, fullName);
      if (before !== sha && p.state === 'open') deliverSynchronize(r, p, before, p.author);
    },
    associate,
    setLabels(number, labels, opts) {
      const o = typeof opts === 'string' ? { repo: opts } : (opts ?? {});
      const r = repo(o.repo);
      relabel(r, r.issues.get(number) ?? pull(r, number), ensureLabels(r, labels), o.actor ?? login, o.at);
    },
    setPullCommits(number, commits, opts) {
      const o = typeof opts === 'string' ? { repo: opts } : (opts ?? {});
      const p = pull(repo(o.repo), number);
      p.commits = commits.map((c) => ({ ...c }));
      for (const c of p.commits) for (const who of [c.author, committerOf(c)]) if (who !== null) account(who);
      if (o.total === undefined) delete p.commitsTotal;
      else p.commitsTotal = o.total;
    },
    recordActivity(a) {
      const r = repo(a.repo);
      if (a.actor !== null) account(a.actor);
      const record: ActivityRecord = { id: nextId(), ref: fullRef(a.ref), before: a.before, after: a.after, type: a.type ?? 'push', actor: a.actor, timestamp: a.at ?? timestamp() };
      r.activity.push(record);
      return record;
    },
    setCollaborators(collaborators, fullName) {
      for (const c of collaborators) account(c.login);
      repo(fullName).collaborators = collaborators.map((c) => ({ ...c }));
    },
    issueEvents(number, fullName) {
      return chronological(
        repo(fullName).issueEvents.filter((e) => e.issue === number),
        (e) => e.createdAt,
      );
    },
    users: {
      id: (name) => account(name).id,
      get: (name) => state.users.get(name.toLowerCase()),
      rename: renameUser,
    },
    userId: (name) => account(name).id,
    renameUser,
    addComment(number, c) {
      const r = repo(c.repo);
      const issue = r.issues.get(number);
      if (!issue) pull(r, number);
      const now = timestamp();
      account(c.user);
      const comment: IssueCommentRecord = { id: nextId(), issue: number, user: c.user, body: c.body, createdAt: now, updatedAt: now };
      r.issueComments.push(comment);
      if (issue) issue.updatedAt = now;
      deliverComment(r, comment);
      return comment;
    },
    openIssue(i) {
      const r = repo(i.repo);
      const created = createIssue(r, { title: i.title, body: i.body ?? null, author: i.author, labels: ensureLabels(r, i.labels ?? []), state: i.state ?? 'open' });
      deliverIssue(r, created, { action: 'opened' }, i.author);
      if (created.state === 'closed') deliverIssue(r, created, { action: 'closed' }, i.author);
      return created;
    },
    editIssue(number, change) {
      const r = repo(change.repo);
      const issue = r.issues.get(number);
      if (!issue) throw new Error(`the test GitHub has no issue #${number} in ${r.owner}/${r.name}${r.pulls.has(number) ? ' (it is a PR)' : ''}`);
      const was = { title: issue.title, body: issue.body, state: issue.state };
      if (change.title !== undefined) issue.title = change.title;
      if (change.body !== undefined) issue.body = change.body;
      const actor = change.actor ?? issue.author;
      if (change.labels !== undefined) relabel(r, issue, ensureLabels(r, change.labels), actor);
      if (change.state !== undefined) setIssueState(issue, change.state, actor);
      issue.updatedAt = timestamp();
      announceIssueChange(r, issue, was, actor);
      return issue;
    },
    issues(fullName) {
      return [...repo(fullName).issues.values()].sort((a, b) => a.number - b.number);
    },
    label(name, fullName) {
      return findLabel(repo(fullName), name);
    },
    implicitLabels,
    failNext(count, status = 502) {
      for (let i = 0; i < count; i++) faults.push({ kind: 'status', status });
    },
    loseNextResponse(count = 1, status = 502) {
      for (let i = 0; i < count; i++) faults.push({ kind: 'lose', status });
    },
    dropNextResponse(count = 1) {
      for (let i = 0; i < count; i++) faults.push({ kind: 'drop' });
    },
    faultOn(operationKey, f) {
      const fault: Fault = f.kind === 'fail' ? { kind: 'status', status: f.status ?? 502 } : f.kind === 'lose' ? { kind: 'lose', status: f.status ?? 502 } : { kind: f.kind };
      const queue = operationFaults.get(operationKey) ?? [];
      for (let i = 0; i < (f.count ?? 1); i++) queue.push({ fault, ...(f.onFault ? { onFault: f.onFault } : {}) });
      operationFaults.set(operationKey, queue);
    },
    stallNext(count, ms) {
      for (let i = 0; i < count; i++) faults.push({ kind: 'stall', ms });
    },
    rateLimitNext(limit) {
      for (let i = 0; i < (limit.count ?? 1); i++) faults.push({ kind: 'rate', limit });
    },
    tamperNext(mutate) {
      tampers.push(mutate);
    },
    setWebhook(target) {
      webhook = target;
    },
    deliveries,
    async deliveriesSettled() {
      while (inFlight.size > 0) await Promise.all([...inFlight]);
    },
    receivePush(push) {
      const r = repo(push.repo);
      const ref = fullRef(push.ref);
      const branch = ref.startsWith('refs/heads/') ? ref.slice('refs/heads/'.length) : undefined;
      const deleted = push.after === ZERO_SHA;
      if (branch !== undefined) {
        if (deleted) r.branches.delete(branch);
        else r.branches.set(branch, push.after);
        const type = push.type ?? (push.before === ZERO_SHA ? 'branch_creation' : deleted ? 'branch_deletion' : push.forced ? 'force_push' : 'push');
        server.recordActivity({ ref, before: push.before, after: push.after, type, actor: push.pusher, ...(push.repo ? { repo: push.repo } : {}) });
      }
      deliverPush(r, push, ref);
      if (branch === undefined || deleted) return;
      // GitHub moves every open PR from the branch to its new head, and says so.
      for (const p of r.pulls.values()) {
        if (p.state !== 'open' || p.head.ref !== branch || p.head.sha === push.after) continue;
        const before = p.head.sha;
        p.head = { ...p.head, sha: push.after };
        p.updatedAt = timestamp();
        associate(push.after, p.number, push.repo);
        deliverSynchronize(r, p, before, push.pusher ?? 'ghost');
      }
    },
    takeViolations() {
      return violations.splice(0, violations.length);
    },
    close() {
      return new Promise((resolve) => {
        httpServer.close(() => resolve());
        // fetch keeps connections alive; without this close() waits for them to time out.
        httpServer.closeAllConnections();
      });
    },
  };
  const first = addRepo({ owner: options.owner ?? 'acme', name: options.repo ?? 'fleet', defaultBranch: options.defaultBranch ?? 'main' });
  server.fullName = `${first.owner}/${first.name}`;
  return server;
}

function repoKey(owner: string, name: string): string {
  return `${owner}/${name}`.toLowerCase();
}

/** A ref as GitHub's activity shows it: refs/heads/<branch> for a bare branch name. */
function fullRef(ref: string): string {
  return ref.startsWith('refs/') ? ref : `refs/heads/${ref}`;
}

/** GitHub's timestamps have whole seconds. */
function timestamp(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** A stable positive id for a name, so a user keeps one id across responses. */
function numericId(name: string): number {
  return createHash('sha1').update(name).digest().readUInt32BE(0) % 100_000_000;
}

function nodeId(kind: string, id: number): string {
  return Buffer.from(`0${kind.length}:${kind}${id}`).toString('base64');
}

/** A SHA for a branch nobody named one for; stable, so repeated runs agree. */
export function fakeSha(seed: string): string {
  return createHash('sha1').update(seed).digest('hex');
}

