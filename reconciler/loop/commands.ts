// Commands people give fleetspec on GitHub: a comment on a pull request whose first line is
//   /fleetspec rollback   on a merged and applied PR: open a revert PR (loop/rollback.ts), planned at once;
//   /fleetspec plan       on an open PR: plan its head again now (live read afresh), not at its next push.
// Only an approver (a role with the approve capability, the account behind the login as recorded)
// may give one; anyone else is answered with why nothing happened. Each comment is acted on once
// (its id is recorded). Comments are found by reading the repository's comments since the last tick
// (with an overlap, so a comment GitHub listed late is not missed); a webhook delivery of the
// comment only makes that tick start at once. A command never approves or applies anything.
import type { GitHub, RepoComment } from '../github/client.js';
import { logLine, mention } from '../escape.js';
import type { Approvers } from './approval.js';
import { impostor } from './approval.js';
import { cursor, knownComments, recordCommand, setCursor, type Command, type CommandName } from '../state/commands.js';
import type { Queryable } from '../state/db.js';

/** The first non-blank line of a comment, when it is a command. */
const COMMAND_LINE = /^\/fleetspec[ \t]+(rollback|plan)[ \t]*$/;

export const COMMAND_NAMES: readonly CommandName[] = ['rollback', 'plan'];

/** The cursor through the repository's comments. */
const CURSOR = 'comments';
/** How far back each read starts before the last one: GitHub's lists and clocks are not exact. */
export const COMMENT_OVERLAP_MS = 10 * 60_000;
/** On the first read (no cursor yet), how old a command may be and still be acted on. */
export const FIRST_READ_MS = 60 * 60_000;

/** The command a comment gives, or undefined. */
export function parseCommand(body: string): CommandName | undefined {
  const first = body.split(/\r?\n/).find((l) => l.trim() !== '');
  const m = first === undefined ? null : COMMAND_LINE.exec(first.trim());
  return m ? (m[1] as CommandName) : undefined;
}

/**
 * Records the commands in the repository's comments since the last read; returns those new this
 * read. Comments by fleetspec's own account are never commands (its replies quote them).
 */
export async function gatherCommands(db: Queryable, repoKey: string, github: GitHub, now: Date = new Date()): Promise<Command[]> {
  const last = await cursor(db, repoKey, CURSOR);
  const since = new Date((last?.getTime() ?? now.getTime() - FIRST_READ_MS) - (last ? COMMENT_OVERLAP_MS : 0));
  const [comments, me] = await Promise.all([github.repoComments(since), github.me()]);
  const candidates: (RepoComment & { command: CommandName })[] = [];
  for (const c of comments) {
    const command = parseCommand(c.body);
    if (!command || !Number.isInteger(c.issue) || c.issue <= 0) continue;
    if (c.userId === me.id || c.user.toLowerCase() === me.login.toLowerCase()) continue;
    candidates.push({ ...c, command });
  }
  const known = await knownComments(db, repoKey, candidates.map((c) => c.id));
  const out: Command[] = [];
  for (const c of candidates) {
    if (known.has(c.id)) continue;
    const recorded = await recordCommand(db, repoKey, {
      source: 'comment',
      commentId: c.id,
      pr: c.issue,
      command: c.command,
      requestedBy: c.user,
      ...(c.userId === null ? {} : { requestedById: c.userId }),
      requestedAt: new Date(c.createdAt),
    });
    if (recorded) out.push(recorded);
  }
  await setCursor(db, repoKey, CURSOR, now);
  return out;
}

/** Why the person behind a comment command may not give it, or undefined when they may. The CLI's commands are the operator's. */
export function notAllowed(cmd: Command, rules: Approvers): string | undefined {
  if (cmd.source === 'cli') return undefined;
  const login = (cmd.requestedBy ?? '').toLowerCase();
  const allowed = [...rules.roles.keys()].sort();
  if (!rules.roles.has(login)) {
    return `${mention(cmd.requestedBy ?? 'someone')} is not an approver, so fleetspec does nothing for \`/fleetspec ${cmd.command}\`. Only a user a role with the approve capability names may give it${allowed.length ? ` (${allowed.map(mention).join(', ')})` : ' (no role names one yet)'}.`;
  }
  const notThem = impostor({ user: cmd.requestedBy ?? '', userId: cmd.requestedById }, rules);
  if (notThem) return `${logLine(notThem)}; fleetspec does nothing for \`/fleetspec ${cmd.command}\`.`;
  return undefined;
}
