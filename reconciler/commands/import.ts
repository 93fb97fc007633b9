// `fleetspec import [PATH]`: specs for what already exists. Each source (reconciler/import/)
// reads one live system read-only; the command merges what they found, validates the specs as
// they would be, writes new files or appends new documents (never rewriting hand-written
// content), and then runs each source's follow-up (ports: record the adopted allocations in
// the store; dns: synthesise the stack and write its Terraform import blocks). --dry-run writes
// nothing and prints what it would write. A source that cannot be read is "not read": the
// others go on, and the exit code is 3.
import { relative } from 'node:path';
import { countBySeverity, formatDiagnostic } from '../diagnostics.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { writeAtomic } from '../files.js';
import { logLine, terminal } from '../escape.js';
import type { Addition, Flagged, ImportContext, ImportSource, NotReadTarget, SourceName, SourceResult } from '../import/source.js';
import { SOURCE_NAMES } from '../import/source.js';
import type { IssueTracker } from '../kinds/tickets/issue.js';
import { ConfigError, githubConfig } from '../loop/config.js';
import { loadSpecs } from '../specs/load.js';
import type { Db } from '../state/db.js';
import { parseKey, secretFor } from '../state/secrets.js';
import type { Output } from './output.js';
import { liveSsh } from './plan.js';
import { actor, withStore } from './store.js';

export interface ImportOptions {
  only?: Array<'dns' | 'ports' | 'models' | 'tickets'>;
  dryRun?: boolean;
  sshKey?: string;
  trustOnFirstUse?: boolean;
  connectTimeout?: number;
  commandTimeout?: number;
  cloudflareApi?: string;
  githubRepo?: string;
  githubApi?: string;
  format: 'text' | 'json';
}

export const DEFAULT_CLOUDFLARE_API = 'https://api.cloudflare.com/client/v4';

async function sourceModule(name: SourceName): Promise<ImportSource> {
  switch (name) {
    case 'ports':
      return (await import('../import/ports.js')).portsSource;
    case 'models':
      return (await import('../import/models.js')).modelsSource;
    case 'dns':
      return (await import('../import/dns.js')).dnsSource;
    case 'tickets':
      return (await import('../import/tickets.js')).ticketsSource;
  }
}

/** GitHub issues for the tickets source, or why there are none. */
async function issueTracker(db: Db, opts: ImportOptions, out: Output): Promise<{ issues?: IssueTracker; noIssues?: string }> {
  try {
    const c = await githubConfig(db, { ...(opts.githubRepo ? { githubRepo: opts.githubRepo } : {}), ...(opts.githubApi ? { githubApi: opts.githubApi } : {}) });
    const { GitHub } = await import('../github/client.js');
    return { issues: new GitHub({ owner: c.owner, repo: c.repo, token: c.token, baseUrl: c.githubApi, log: (m) => out.stderr(logLine(m)) }) };
  } catch (error) {
    if (error instanceof ConfigError) return { noIssues: `${error.message} (${error.hint})` };
    throw error;
  }
}

interface Tagged<T> {
  source: SourceName;
  entry: T;
}

export async function importCommand(path: string, opts: ImportOptions, out: Output): Promise<ExitCode> {
  const chosen = SOURCE_NAMES.filter((s) => !opts.only?.length || opts.only.includes(s));
  const loaded = await loadSpecs(path);
  if (countBySeverity(loaded.diagnostics).errors > 0) {
    for (const d of loaded.diagnostics) out.stderr(formatDiagnostic(d, out.color));
    out.stderr('fleetspec import: the specs are invalid; nothing was imported');
    out.stderr('  hint: fix the problems above first (fleetspec validate lists them)');
    return EXIT.INVALID;
  }
  return withStore(out, 'import', async (db) => {
    const needsSsh = chosen.includes('ports') || chosen.includes('models');
    const live = needsSsh ? await liveSsh('live', opts) : { noSsh: 'not needed' };
    const secretKey = process.env.FLEETSPEC_SECRET_KEY ? parseKey(process.env.FLEETSPEC_SECRET_KEY) : undefined;
    const github = chosen.includes('tickets') ? await issueTracker(db, opts, out) : {};
    const ctx: ImportContext = {
      specs: path,
      index: loaded.index,
      resources: loaded.resources,
      db,
      ...(live.ssh ? { ssh: live.ssh } : {}),
      noSsh: live.noSsh,
      async secret(ref, user) {
        if (!secretKey) return undefined;
        return (await secretFor(db, secretKey, ref.replace(/^secret:/, ''), user, actor()))?.toString('utf8');
      },
      cloudflare: {
        api: (opts.cloudflareApi ?? process.env.FLEETSPEC_CLOUDFLARE_API ?? DEFAULT_CLOUDFLARE_API).replace(/\/+$/, ''),
        ...(process.env.FLEETSPEC_CLOUDFLARE_TOKEN ? { envToken: process.env.FLEETSPEC_CLOUDFLARE_TOKEN } : {}),
        timeoutMs: (opts.commandTimeout ?? 30) * 1000,
      },
      ...github,
      progress: (m) => out.stderr(logLine(m)),
    };
    try {
      return await runSources(ctx, chosen, opts, out);
    } finally {
      await live.ssh?.close();
    }
  });
}

async function runSources(ctx: ImportContext, chosen: readonly SourceName[], opts: ImportOptions, out: Output): Promise<ExitCode> {
  const results = await Promise.all(
    chosen.map(async (name): Promise<[SourceName, SourceResult]> => {
      try {
        return [name, await (await sourceModule(name)).read(ctx)];
      } catch (error) {
        return [name, { added: [], flagged: [], notRead: [{ target: name, reason: error instanceof Error ? error.message : String(error) }] }];
      }
    }),
  );
  const added: Tagged<Addition>[] = [];
  const flagged: Tagged<Flagged>[] = [];
  const notRead: Tagged<NotReadTarget>[] = [];
  const seen = new Set<string>();
  for (const [source, r] of results) {
    for (const a of r.added) {
      if (seen.has(a.label)) continue; // two sources never name one resource; kept once if they do
      seen.add(a.label);
      added.push({ source, entry: a });
    }
    flagged.push(...r.flagged.map((entry) => ({ source, entry })));
    notRead.push(...r.notRead.map((entry) => ({ source, entry })));
  }

  const { planFiles, validatePlanned } = await import('../import/files.js');
  const now = new Date();
  let files;
  try {
    files = planFiles(ctx.specs, ctx.index, added.map((a) => a.entry), now);
  } catch (error) {
    out.stderr(`fleetspec import: ${logLine(error instanceof Error ? error.message : String(error))}; nothing was written`);
    return EXIT.INVALID;
  }
  const checked = await validatePlanned(ctx.specs, files, added.map((a) => a.entry));
  if (countBySeverity(checked.diagnostics).errors > 0) {
    for (const d of checked.diagnostics) out.stderr(formatDiagnostic(d, out.color));
    out.stderr('fleetspec import: the imported specs would not validate; nothing was written');
    return EXIT.INVALID;
  }
  const fileOf = new Map<string, string>();
  for (const f of files) for (const l of f.labels) fileOf.set(l, f.path);
  const after = results.flatMap(([source, r]) => (r.afterWrite ? [{ source, ...r.afterWrite }] : []));

  const afterLines: string[] = [];
  if (!opts.dryRun) {
    for (const f of files) await writeAtomic(f.path, f.text);
    for (const a of after) {
      try {
        afterLines.push(...(await a.run({ index: checked.index, resources: checked.resources })).map((l) => `${a.source}: ${l}`));
      } catch (error) {
        notRead.push({ source: a.source, entry: { target: a.source, reason: `written, but its follow-up failed: ${error instanceof Error ? error.message : String(error)}` } });
      }
    }
  } else {
    for (const a of after) afterLines.push(...a.describe.map((l) => `${a.source}: would ${l}`));
  }

  const code = notRead.length ? EXIT.ERROR : EXIT.OK;
  const rel = (p: string) => relative(process.cwd(), p) || p;
  if (opts.format === 'json') {
    out.stdout(
      JSON.stringify(
        {
          dryRun: Boolean(opts.dryRun),
          added: added.map(({ source, entry }) => ({ source, label: entry.label, file: rel(fileOf.get(entry.label)!), from: entry.from, value: entry.value })),
          flagged: flagged.map(({ source, entry }) => ({ source, ...entry })),
          notRead: notRead.map(({ source, entry }) => ({ source, ...entry })),
          files: files.map((f) => ({ path: rel(f.path), action: f.action, resources: f.labels, ...(opts.dryRun ? { text: f.text } : {}) })),
          followUp: afterLines,
          exitCode: code,
        },
        null,
        2,
      ),
    );
  } else {
    for (const { entry } of added) out.stdout(`+ ${logLine(entry.label)}  ${logLine(rel(fileOf.get(entry.label)!))}  (${logLine(entry.from)})`);
    for (const { entry } of flagged) out.stdout(`! ${logLine(entry.label)}  ${logLine(entry.message)}`);
    for (const { entry } of notRead) out.stdout(`? ${logLine(entry.target)}  not read: ${logLine(entry.reason)}`);
    if (opts.dryRun) {
      for (const f of files) {
        out.stdout(`--- ${logLine(rel(f.path))} (would ${f.action})`);
        out.stdout(terminal(f.text).replace(/\n$/, ''));
      }
    }
  }
  for (const f of files) out.stderr(`${opts.dryRun ? 'would ' : ''}${f.action === 'create' ? 'create' : f.action === 'append' ? 'append to' : 'add to'} ${logLine(rel(f.path))}: ${f.labels.length} resource${f.labels.length === 1 ? '' : 's'}${f.action === 'create' ? '' : f.action === 'append' ? ' as new documents, its content kept' : ' (new list items; the rest of the file kept)'}`);
  for (const l of afterLines) out.stderr(logLine(l));
  const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
  out.stderr(
    `fleetspec import${opts.dryRun ? ' --dry-run' : ''}: ${plural(added.length, 'resource')} ${opts.dryRun ? 'to add' : 'added'}, ${plural(flagged.length, 'flagged item')}, ${notRead.length} not read (sources: ${chosen.join(', ')})${added.length === 0 && notRead.length === 0 ? '; nothing new' : ''}`,
  );
  return code;
}
