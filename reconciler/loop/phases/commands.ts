// Phase 2a, commands (loop/commands.ts): the /fleetspec comments since the last tick, and the CLI's
// `fleetspec rollback`, acted on before the branches are planned, so a revert PR or a re-plan gets
// its plan in this same tick. Who may give a command comes from the trusted rules.
import { GitHubError } from '../../github/client.js';
import { logLine, mdInline, mention } from '../../escape.js';
import { endCommand, pendingCommands, type Command } from '../../state/commands.js';
import { gatherCommands, notAllowed } from '../commands.js';
import { noteMarkdown, openRollback, RollbackRefused } from '../rollback.js';
import { DRIFT_PREFIX } from './types.js';
import { checkStop } from './shared.js';
import { TickAbandoned, type Services, type TickReport, type TrustedRules } from './types.js';

export interface CommandsDone {
  /** Open PRs to plan again this tick (`/fleetspec plan`). */
  replan: Set<number>;
}

const marker = (cmd: Command) => `<!-- fleetspec:command ${cmd.id} -->`;

export async function runCommands(svc: Services, runId: number, main: string, heads: Map<string, string>, rules: TrustedRules, report: Pick<TickReport, 'commands' | 'errors'>): Promise<CommandsDone> {
  const replan = new Set<number>();
  try {
    await gatherCommands(svc.db, svc.repoKey, svc.github, svc.now?.() ?? new Date());
  } catch (err) {
    if (err instanceof TickAbandoned) throw err;
    // Commands given are still there next tick (the cursor did not move); pending ones go on below.
    report.errors.push(`commands: reading the repository's comments: ${err instanceof Error ? err.message : String(err)}`);
  }
  for (const cmd of await pendingCommands(svc.db, svc.repoKey)) {
    checkStop(svc);
    try {
      const row = await act(svc, runId, cmd, main, heads, rules, replan);
      report.commands.push(row);
    } catch (err) {
      if (err instanceof TickAbandoned) throw err;
      // Left pending: the next tick tries again (GitHub or git failed, not the command).
      report.errors.push(`commands: /fleetspec ${cmd.command} on #${cmd.pr}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return { replan };
}

type Row = TickReport['commands'][number];

async function act(svc: Services, runId: number, cmd: Command, main: string, heads: Map<string, string>, rules: TrustedRules, replan: Set<number>): Promise<Row> {
  const by = cmd.requestedBy ? `@${logLine(cmd.requestedBy)}` : 'the command line';
  const row = (state: Row['state'], detail: string, resultPr?: number): Row => ({ id: cmd.id, command: cmd.command, pr: cmd.pr, by, state, detail, ...(resultPr ? { resultPr } : {}) });
  const refuse = async (detail: string, said = detail): Promise<Row> => {
    svc.progress(`not acting on /fleetspec ${cmd.command} on #${cmd.pr} by ${by}: ${logLine(detail)}`);
    await endCommand(svc.db, cmd.id, { state: 'refused', detail, runId });
    if (cmd.source === 'comment') await svc.github.comment(cmd.pr, `${marker(cmd)}\n${said}`, marker(cmd));
    return row('refused', detail);
  };
  const why = notAllowed(cmd, rules.approvers);
  if (why) return refuse(why.replace(/[`*_]/g, ''), why);
  const pr = await svc.github.getPull(cmd.pr).catch((err: unknown) => {
    if (err instanceof GitHubError && err.status === 404) return undefined;
    throw err;
  });
  const to = cmd.requestedBy ? `${mention(cmd.requestedBy)}: ` : '';
  if (!pr) return refuse(`#${cmd.pr} is not a pull request`, `${to}#${cmd.pr} is not a pull request; \`/fleetspec ${cmd.command}\` is given on one.`);

  if (cmd.command === 'plan') {
    if (pr.state !== 'open') return refuse(`#${cmd.pr} is not open`, `${to}#${cmd.pr} is ${pr.merged ? 'merged' : 'closed'}; only an open pull request is planned.`);
    if (pr.headRef.startsWith(DRIFT_PREFIX)) return refuse(`#${cmd.pr} is a drift PR, planned every tick`, `${to}drift pull requests are planned again at every tick already.`);
    replan.add(pr.number);
    svc.progress(`/fleetspec plan by ${by}: planning #${pr.number} again now`);
    await endCommand(svc.db, cmd.id, { state: 'done', detail: `planned again in run ${runId}`, runId });
    await svc.github.comment(cmd.pr, `${marker(cmd)}\n${to}planning this pull request's head again now (run ${runId}); the plan comment is updated in place.`, marker(cmd));
    return row('done', `planned again in run ${runId}`);
  }

  // rollback
  if (!pr.merged) return refuse(`#${cmd.pr} is not merged`, `${to}#${cmd.pr} is not merged, so there is nothing applied to roll back.`);
  try {
    const opened = await openRollback(svc, cmd, main, rules.sha, heads);
    if (opened.existed) {
      await endCommand(svc.db, cmd.id, { state: 'done', detail: `the revert PR #${opened.pr.number} is open already`, runId, resultPr: opened.pr.number });
      await svc.github.comment(cmd.pr, `${marker(cmd)}\n${to}the rollback of this pull request is open already: #${opened.pr.number}. Having asked for it too, you count as one of its authors: another approver approves it.`, marker(cmd));
      return row('done', `#${opened.pr.number} is open already`, opened.pr.number);
    }
    await endCommand(svc.db, cmd.id, {
      state: 'done',
      detail: `opened #${opened.pr.number}`,
      runId,
      resultPr: opened.pr.number,
      resultBranch: opened.branch,
      notes: opened.notes,
      openedAt: svc.now?.() ?? new Date(),
    });
    const body = [
      marker(cmd),
      `${cmd.source === 'cli' ? 'From the command line on the server (`fleetspec rollback`): ' : to}opened #${opened.pr.number} to roll this back: it restores ${opened.files.length} file${opened.files.length === 1 ? '' : 's'} to what was applied before this pull request. Its plan follows there; it is applied once ${cmd.requestedBy ? `an approver other than ${mention(cmd.requestedBy)}` : 'two approvers (fleetspec cannot name who asked)'} approve${cmd.requestedBy ? 's' : ''} it and it is merged.`,
      ...(opened.notes.length ? ['', `**Cannot be undone:** ${opened.notes.map(noteMarkdown).join('; ')}.`] : []),
    ].join('\n');
    await svc.github.comment(cmd.pr, body, marker(cmd));
    return row('done', `opened #${opened.pr.number}`, opened.pr.number);
  } catch (err) {
    if (err instanceof RollbackRefused) return refuse(err.message, `${to}${mdInline(err.message)}.`);
    throw err;
  }
}
