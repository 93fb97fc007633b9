// A plan rendered three ways: coloured text for terminals, Markdown for pull requests,
// JSON for machines. Every renderer shows every change; none decides anything.
import { paint, type Style } from '../color.js';
import { canonicalJson, hasChanges, summaryLine, type Action, type Plan } from './plan.js';

const SIGN: Record<Action, string> = { create: '+', update: '~', delete: '-', drift: '!', 'no-op': ' ' };
const COLOUR: Record<Action, Style> = { create: 'green', update: 'yellow', delete: 'red', drift: 'magenta', 'no-op': 'dim' };

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
    }
  }
  if (lines.length) lines.push('');
  lines.push(tint('bold', summaryLine(plan)));
  lines.push(tint('dim', `plan ${plan.hash}`));
  return lines.join('\n');
}

/** Markdown-safe inline code: a backtick fence longer than any run inside the text. */
function code(text: string): string {
  const longest = Math.max(0, ...(text.match(/`+/g) ?? []).map((r) => r.length));
  const fence = '`'.repeat(longest + 1);
  return `${fence}${longest ? ' ' : ''}${text}${longest ? ' ' : ''}${fence}`;
}

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');

export function renderMarkdown(plan: Plan): string {
  const out = [`### ${summaryLine(plan)}`, ''];
  const shown = plan.changes.filter((c) => c.action !== 'no-op');
  if (hasChanges(plan)) {
    out.push('| | resource | action | before | after | why |', '|---|---|---|---|---|---|');
    for (const c of shown) {
      out.push(`| ${SIGN[c.action]} | ${cell(code(`${c.kind}/${c.name}`))} | ${c.action} | ${cell(code(show(c.before)))} | ${cell(code(show(c.after)))} | ${cell(c.reason)} |`);
    }
    out.push('');
  }
  out.push(`<sub>plan \`${plan.hash}\`</sub>`);
  return out.join('\n');
}

export function renderJson(plan: Plan): string {
  return JSON.stringify(plan, null, 2);
}
