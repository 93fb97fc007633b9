// A plan rendered three ways: coloured text for terminals, Markdown for pull requests,
// JSON for machines. Every renderer shows every change; none decides anything.
import { paint, type Style } from '../color.js';
import { canonicalJson, hasChanges, summaryLine, verdictLine, verdictOf, type Action, type NotRead, type Plan, type PlanFinding, type Verdict } from './plan.js';

const SIGN: Record<Action, string> = { create: '+', update: '~', replace: '±', delete: '-', drift: '!', 'no-op': ' ' };
const COLOUR: Record<Action, Style> = { create: 'green', update: 'yellow', replace: 'red', delete: 'red', drift: 'magenta', 'no-op': 'dim' };

const show = (v: unknown) => (v === null || v === undefined ? '(none)' : canonicalJson(v));

export function renderText(plan: Plan, opts: { color?: boolean; showUnchanged?: boolean } = {}): string {
  const tint = (style: Style, s: string) => paint(style, s, opts.color);
  const lines: string[] = [];
  for (const c of plan.changes) {
    if (c.action === 'no-op' && !opts.showUnchanged) continue;
    lines.push(tint(COLOUR[c.action], `${SIGN[c.action]} ${c.kind}/${c.name}`) + ` (${c.action}: ${c.reason})`);
    if (c.action !== 'no-op') {
      if (c.action !== 'create') lines.push(tint('red', `    before: ${show(c.before)}`));
      if (c.action !== 'delete') lines.push(tint('green', `    after:  ${show(c.after)}`));
      for (const step of c.actions ?? []) lines.push(tint('dim', `    will:   ${step}`));
    }
  }
  for (const f of plan.findings) lines.push(formatFinding(f, opts.color));
  for (const [reason, names] of unreadByReason(plan.unknown)) lines.push(tint('dim', `? not read: ${names.join(', ')}: ${reason}`));
  if (lines.length) lines.push('');
  lines.push(tint('bold', summaryLine(plan)));
  const verdict = planVerdict(plan);
  lines.push(tint(verdict.status === 'fail' ? 'red' : verdict.status === 'warn' ? 'yellow' : 'green', `Verdict: ${verdictLine(verdict)}`));
  lines.push(tint('dim', `${plan.mode} plan ${plan.hash}`));
  return lines.join('\n');
}

/** A finding as a line: "error ports/odin: message [policy port-ranges, specs/ports/odin.yaml:3:8]" and its hint. */
export function formatFinding(f: PlanFinding, color = false): string {
  const source = [f.policy && `policy ${f.policy}`, f.where].filter(Boolean).join(', ');
  return (
    paint(f.severity === 'error' ? 'red' : 'yellow', `${f.severity} ${f.kind}/${f.name}: ${f.message}`, color) +
    (source ? paint('dim', ` [${source}]`, color) : '') +
    (f.hint ? `\n    ${paint('dim', `hint: ${f.hint}`, color)}` : '')
  );
}

/** A plan's verdict; plans stored before verdicts existed get one from their findings. */
export const planVerdict = (plan: Plan): Verdict => plan.verdict ?? verdictOf(plan.findings, []);

/** Unknown resources grouped by why they were not read, so offline plans stay short. */
function unreadByReason(unknown: readonly NotRead[]): [string, string[]][] {
  const groups = new Map<string, string[]>();
  for (const u of unknown) groups.set(u.reason, [...(groups.get(u.reason) ?? []), `${u.kind}/${u.name}`]);
  return [...groups];
}

/** Markdown-safe inline code: a backtick fence longer than any run inside the text. */
function code(text: string): string {
  const longest = Math.max(0, ...(text.match(/`+/g) ?? []).map((r) => r.length));
  const fence = '`'.repeat(longest + 1);
  return `${fence}${longest ? ' ' : ''}${text}${longest ? ' ' : ''}${fence}`;
}

/** Plain text inside Markdown: every character Markdown or HTML could read as syntax is escaped, and a newline is a space. */
export function mdText(text: string): string {
  return text.replace(/\r?\n|\r/g, ' ').replace(/[\\`*_{}[\]()<>#+\-.!|~&]/g, (c) => `\\${c}`);
}

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');

export function renderMarkdown(plan: Plan): string {
  const out = [`### ${summaryLine(plan)}`, ''];
  const shown = plan.changes.filter((c) => c.action !== 'no-op');
  if (hasChanges(plan)) {
    out.push('| | resource | action | before | after | why |', '|---|---|---|---|---|---|');
    for (const c of shown) {
      out.push(`| ${SIGN[c.action]} | ${cell(code(`${c.kind}/${c.name}`))} | ${c.action} | ${cell(code(show(c.before)))} | ${cell(code(show(c.after)))} | ${cell([c.reason, ...(c.actions ?? []).map((a) => `will ${a}`)].join('; '))} |`);
    }
    out.push('');
  }
  out.push(`**Policy verdict: ${verdictLine(planVerdict(plan))}**`, '');
  if (plan.findings.length) {
    out.push('**Findings**', '');
    for (const f of plan.findings) {
      const source = [f.policy && `policy \`${f.policy}\``, f.where && code(f.where)].filter(Boolean).join(', ');
      out.push(`- ${f.severity === 'error' ? '❌' : '⚠️'} ${f.severity}: ${cell(code(`${f.kind}/${f.name}`))}: ${cell(f.message)}${source ? ` (${cell(source)})` : ''}${f.hint ? `. To fix: ${cell(f.hint)}` : ''}`);
    }
    out.push('');
  }
  if (plan.unknown.length) {
    out.push('**Not read**', '');
    for (const [reason, names] of unreadByReason(plan.unknown)) out.push(`- ${names.map((n) => cell(code(n))).join(', ')}: ${cell(reason)}`);
    out.push('');
  }
  out.push(`<sub>${plan.mode} plan \`${plan.hash}\`</sub>`);
  return out.join('\n');
}

export function renderJson(plan: Plan): string {
  return JSON.stringify(plan, null, 2);
}
