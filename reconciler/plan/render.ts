// A plan rendered three ways: coloured text for terminals, Markdown for pull requests,
// JSON for machines. Every renderer shows every change; none decides anything. Names, values,
// reasons and messages hold whatever the specs and the remote systems held: each is escaped
// for where it goes (reconciler/escape.ts).
import { paint, type Style } from '../color.js';
import { logLine, mdCell, mdCode } from '../escape.js';
import { canonicalJson, findingProblem, hasChanges, STORE_KINDS, summaryLine, TARGET_WARNING, verdictLine, verdictOf, type Action, type NotRead, type Plan, type PlanFinding, type ResourceChange, type Verdict } from './plan.js';
import { formatProblem } from '../diagnostics.js';

const SIGN: Record<Action, string> = { create: '+', update: '~', replace: '±', delete: '-', drift: '!', 'no-op': ' ' };
const COLOUR: Record<Action, Style> = { create: 'green', update: 'yellow', replace: 'red', delete: 'red', drift: 'magenta', 'no-op': 'dim' };

const show = (v: unknown) => (v === null || v === undefined ? '(none)' : canonicalJson(v));

/**
 * Where a change lands, for grouping: live systems (hosts, models, roles, GitHub issues, the
 * Terraform stacks' resources), or fleetspec's own state store (port ranges and allocations are
 * records fleetspec keeps; nothing outside it changes). A stack that would not change is listed
 * under "stacks", so every stack is shown.
 */
export function changeGroup(c: Pick<ResourceChange, 'kind' | 'name' | 'action'>): 'live' | 'store' | 'stack' {
  if (STORE_KINDS.has(c.kind)) return 'store';
  if (c.name === 'stack' && c.action === 'no-op') return 'stack';
  return 'live';
}

const GROUP_TITLE = { live: 'Changes to live systems', store: "Changes to fleetspec's state store (port ranges and allocations)" } as const;

export function renderText(plan: Plan, opts: { color?: boolean; showUnchanged?: boolean } = {}): string {
  const tint = (style: Style, s: string) => paint(style, s, opts.color);
  const lines: string[] = [];
  if (plan.targets?.length) {
    lines.push(tint('yellow', `Targeted plan: ${plan.targets.map((t) => logLine(t)).join(', ')}`));
    lines.push(tint('yellow', `Warning: ${TARGET_WARNING}`), '');
  }
  const change = (c: ResourceChange) => {
    lines.push(tint(COLOUR[c.action], `${SIGN[c.action]} ${logLine(`${c.kind}/${c.name}`)}`) + ` (${c.action}: ${logLine(c.reason)})`);
    if (c.action !== 'no-op') {
      if (c.action !== 'create') lines.push(tint('red', `    before: ${logLine(show(c.before))}`));
      if (c.action !== 'delete') lines.push(tint('green', `    after:  ${logLine(show(c.after))}`));
      for (const step of c.actions ?? []) lines.push(tint('dim', `    will:   ${logLine(step)}`));
    }
  };
  for (const group of ['live', 'store'] as const) {
    const shown = plan.changes.filter((c) => changeGroup(c) === group && (c.action !== 'no-op' || opts.showUnchanged));
    if (!shown.length && group === 'store') continue;
    lines.push(tint('bold', `${GROUP_TITLE[group]}:${shown.length ? '' : ' none'}`));
    shown.forEach(change);
  }
  const stacks = plan.changes.filter((c) => changeGroup(c) === 'stack');
  if (stacks.length) {
    lines.push(tint('bold', 'Terraform stacks with no changes:'));
    for (const c of stacks) lines.push(tint('dim', `  ${logLine(c.kind)}: ${logLine(c.reason)}`));
  }
  if (plan.suspended?.length) {
    // Changes to suspended resources: shown, so nobody takes their absence for a match, and never applied.
    lines.push(tint('bold', 'Suspended (left out, not applied):'));
    for (const s of plan.suspended) lines.push(tint('dim', `${SIGN[s.action]} ${logLine(`${s.kind}/${s.name}`)} (${s.action}): ${logLine(s.reason)}`));
  }
  if (plan.findings.length) lines.push(tint('bold', 'Findings:'));
  for (const f of plan.findings) lines.push(formatFinding(f, opts.color));
  for (const [reason, names] of unreadByReason(plan.unknown)) lines.push(tint('dim', `? not read: ${logLine(names.join(', '))}: ${logLine(reason)}`));
  if (lines.length) lines.push('');
  lines.push(tint('bold', summaryLine(plan)));
  const verdict = planVerdict(plan);
  lines.push(tint(verdict.status === 'fail' ? 'red' : verdict.status === 'warn' ? 'yellow' : 'green', `Verdict: ${verdictLine(verdict)}`));
  lines.push(tint('dim', `${plan.mode} plan ${plan.hash}`));
  return lines.join('\n');
}

/** A finding in the one layout validate, plan and policy check share (formatProblem): "specs/ports/odin.yaml:3:8 ports/odin: error overlaps (policy port-ranges)" and its hint. */
export function formatFinding(f: PlanFinding, color = false): string {
  return formatProblem(findingProblem(f), color);
}

/** A plan's verdict; plans stored before verdicts existed get one from their findings. */
export const planVerdict = (plan: Plan): Verdict => plan.verdict ?? verdictOf(plan.findings, []);

/** Unknown resources grouped by why they were not read, so offline plans stay short; with the remote excerpt the reason quotes, if any. */
function unreadByReason(unknown: readonly NotRead[]): [string, string[], unknown][] {
  const groups = new Map<string, [string[], unknown]>();
  for (const u of unknown) {
    const group = groups.get(u.reason) ?? [[], (u as { remote?: unknown }).remote];
    group[0].push(`${u.kind}/${u.name}`);
    groups.set(u.reason, group);
  }
  return [...groups].map(([reason, [names, remote]]) => [reason, names, remote]);
}

/** A table cell in code. */
const code = (text: string) => mdCode(text, { cell: true });

/**
 * Text for a table cell or a list item that may quote a remote excerpt (`remote` of a finding or
 * a not-read entry: already one escaped code span, exactly as it appears in the text): the
 * excerpt stays a code span, with `|` escaped for the table; the words around it are mdCell().
 */
function quoting(text: string, remote: unknown): string {
  if (typeof remote !== 'string' || !remote.startsWith('`')) return mdCell(text);
  const at = text.indexOf(remote);
  if (at < 0) return mdCell(text);
  return `${mdCell(text.slice(0, at))}${remote.replace(/\|/g, '\\|')}${quoting(text.slice(at + remote.length), remote)}`;
}

export function renderMarkdown(plan: Plan): string {
  const out = plan.targets?.length ? ['> [!WARNING]', `> Targeted plan: ${plan.targets.map((t) => code(t)).join(', ')}. ${mdCell(TARGET_WARNING)}`, ''] : [];
  out.push(`### ${summaryLine(plan)}`, '');
  if (hasChanges(plan)) {
    for (const group of ['live', 'store'] as const) {
      const shown = plan.changes.filter((c) => c.action !== 'no-op' && changeGroup(c) === group);
      if (!shown.length && group === 'store') continue;
      out.push(`**${GROUP_TITLE[group]}**${shown.length ? '' : ': none'}`, '');
      if (!shown.length) continue;
      out.push('| | resource | action | before | after | why |', '|---|---|---|---|---|---|');
      for (const c of shown) {
        out.push(`| ${SIGN[c.action]} | ${code(`${c.kind}/${c.name}`)} | ${c.action} | ${code(show(c.before))} | ${code(show(c.after))} | ${mdCell([c.reason, ...(c.actions ?? []).map((a) => `will ${a}`)].join('; '))} |`);
      }
      out.push('');
    }
  }
  const stacks = plan.changes.filter((c) => changeGroup(c) === 'stack');
  if (stacks.length) out.push(`Terraform stacks with no changes: ${stacks.map((c) => code(c.kind)).join(', ')}`, '');
  if (plan.suspended?.length) {
    out.push('**Suspended: left out, not applied**', '');
    for (const s of plan.suspended) out.push(`- ${code(`${s.kind}/${s.name}`)} (${s.action}): ${mdCell(s.reason)}`);
    out.push('');
  }
  out.push(`**Policy verdict: ${verdictLine(planVerdict(plan))}**`, '');
  if (plan.findings.length) {
    out.push('**Findings**', '');
    for (const f of plan.findings) {
      // The layout of the terminal's (formatFinding): place, resource, severity, message, policy; then what to do.
      const place = f.where ? `${code(f.where)} ` : '';
      out.push(`- ${f.severity === 'error' ? '❌' : '⚠️'} ${place}${code(`${f.kind}/${f.name}`)}: ${f.severity} ${quoting(f.message, (f as { remote?: unknown }).remote)}${f.policy ? ` (policy ${code(f.policy)})` : ''}${f.hint ? `. To fix: ${mdCell(f.hint)}` : ''}`);
    }
    out.push('');
  }
  if (plan.unknown.length) {
    out.push('**Not read**', '');
    for (const [reason, names, remote] of unreadByReason(plan.unknown)) out.push(`- ${names.map((n) => code(n)).join(', ')}: ${quoting(reason, remote)}`);
    out.push('');
  }
  out.push(`<sub>${plan.mode} plan \`${plan.hash}\`</sub>`);
  return out.join('\n');
}

export function renderJson(plan: Plan): string {
  if (!plan.targets?.length) return JSON.stringify(plan, null, 2);
  // The warning beside the targets, at the top, for whoever reads the file; apply ignores it.
  const { format, mode, targets, ...rest } = plan;
  return JSON.stringify({ format, mode, targets, targetWarning: TARGET_WARNING, ...rest }, null, 2);
}
