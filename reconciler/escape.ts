// One escaping function per place text goes. Anything that came from a spec (keys, names,
// values, file names, observed.source, YAML errors quoting the source) or from a remote system
// (git, GitHub, hosts, terraform) passes through the function for where it is written, at the
// point it is written: messages and plans keep the raw value, renderers escape it.
//
//   terminal   text on a terminal, several lines allowed
//   logLine    one line on a terminal or in a log (terminal() and newlines too)
//   mdInline   Markdown paragraph text (PR comments, issue bodies)
//   mdCell     a Markdown table cell
//   mdBlock    several lines of Markdown paragraph text, line breaks kept
//   mdCode     a Markdown inline code span
//   mdFence    a Markdown fenced code block
//   mention    a GitHub login meant to be mentioned, or escaped text when it is not a login
//   mermaid    text inside a quoted Mermaid label or a message
//
// JSON output needs none of these: JSON.stringify escapes what JSON must.

import { redactUrl } from './redact.js';

/**
 * Characters a terminal obeys or hides rather than shows: C0 and C1 controls and DEL
 * (escape sequences, carriage returns, bells), format characters (bidirectional overrides and
 * isolates U+202A-202E and U+2066-2069, marks U+200E/F and U+061C, zero-width characters, the
 * byte order mark, tag characters), line and paragraph separators U+2028/2029, and lone surrogates.
 */
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu;

/** `\x1b` for a code point up to 0xff, `\u202e` up to 0xffff, `\u{e0041}` beyond. */
function visible(c: string): string {
  const cp = c.codePointAt(0)!;
  if (cp <= 0xff) return `\\x${cp.toString(16).padStart(2, '0')}`;
  if (cp <= 0xffff) return `\\u${cp.toString(16).padStart(4, '0')}`;
  return `\\u{${cp.toString(16)}}`;
}

/**
 * Text for a terminal: every control, format and separator character (see INVISIBLE) shown as a
 * visible escape such as `\x1b` or `\u202e`, never obeyed. Newlines and tabs are kept, so the
 * text may span lines; use logLine() for something that must stay on one line. Backslashes are
 * not doubled, so terminal(terminal(s)) === terminal(s).
 */
export function terminal(s: string): string {
  return String(s).replace(INVISIBLE, (c) => (c === '\n' || c === '\t' ? c : visible(c)));
}

/**
 * One line of terminal or log output: terminal(), newlines and tabs shown as `\x0a`, `\x09` too,
 * and the password of any URL or connection string in it masked (a log line is often an error
 * that quotes one).
 */
export function logLine(s: string): string {
  return redactUrl(String(s)).replace(INVISIBLE, visible);
}

/** Line breaks of every sort (CRLF, CR, LF, NEL, VT, FF, U+2028/2029), as a space. */
const collapseLines = (s: string) => String(s).replace(/\r\n|[\n\r\u0085\u000b\u000c\u2028\u2029\t]/g, ' ');

const HTML: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;' };

/** A zero-width space as an HTML entity: it breaks a mention, a reference or an autolink, and shows as nothing. */
const ZWSP = '&#8203;';

/**
 * Plain text inside a Markdown paragraph (GitHub Flavored Markdown, as in PR comments and issue
 * bodies), on one line:
 *  - newlines become spaces, and control and format characters show as escapes (terminal());
 *  - `&`, `<` and `>` become `&amp;`, `&lt;` and `&gt;`: no HTML (comments, `<details>`), entity
 *    or autolink in angle brackets, and no raw `<!--` in the source either;
 *  - `\ ` * _ [ ] | ~ $` are backslash-escaped everywhere, and `(` after `]` and `!` before `[`:
 *    no emphasis, code, link, image, table cell, strikethrough or math;
 *  - at the start, what would open a block (`#`, `>`, `-`, `+`, `=`, `1.`) is escaped;
 *  - `@name` (mentions, teams), `#12` and `GH-12` (references), `http://`, `www.` and
 *    `mailto:` (autolinks) get a zero-width space (as `&#8203;`) that breaks them.
 */
export function mdInline(s: string): string {
  return terminal(collapseLines(s))
    .replace(/[&<>]/g, (c) => HTML[c]!)
    .replace(/[\\`*_[\]|~$]/g, '\\$&')
    .replace(/\\\]\(/g, '\\]\\(')
    .replace(/!\\\[/g, '\\!\\[')
    .replace(/^(\s*)([#+\-=])/, '$1\\$2')
    .replace(/^(\s*\d+)([.)])/, '$1\\$2')
    .replace(/([@#])(?=[\p{L}\p{N}_-])/gu, `$1${ZWSP}`)
    .replace(/\b(gh)-(?=\d)/gi, `$1${ZWSP}-`)
    .replace(/([\p{L}\p{N}])(?=:\/\/)/gu, `$1${ZWSP}`)
    .replace(/\b(www|mailto|xmpp)(?=[.:])/gi, `$1${ZWSP}`)
    // :emoji: shortcodes
    .replace(/:(?=[a-z0-9_+-]+:)/gi, `:${ZWSP}`);
}

/** A Markdown table cell: mdInline(), which already keeps `|` and newlines from ending the cell or the row. */
export function mdCell(s: string): string {
  return mdInline(s);
}

/** Several lines of Markdown paragraph text: each line as mdInline(), line breaks (and blank lines between paragraphs) kept. */
export function mdBlock(s: string): string {
  return String(s)
    .split(/\r\n|[\n\r\u2028\u2029]/)
    .map((line) => (line.trim() ? mdInline(line) : ''))
    .join('\n');
}

const longestRun = (s: string, chars: RegExp) => Math.max(0, ...(s.match(chars) ?? []).map((r) => r.length));

/**
 * An inline code span that the text cannot close early: the backtick fence is longer than any
 * backtick run inside, with a space of padding when the text holds a backtick or begins and
 * ends with a space (Markdown strips one each side). Newlines become spaces and control and
 * format characters show as escapes. In a table cell pass `{ cell: true }`: GFM splits cells on
 * `|` even inside code, so it becomes `\|` (which GitHub shows as `|`).
 */
export function mdCode(s: string, opts: { cell?: boolean } = {}): string {
  let text = terminal(collapseLines(s));
  if (opts.cell) text = text.replace(/\|/g, '\\|');
  if (text === '') return '` `';
  const fence = '`'.repeat(longestRun(text, /`+/g) + 1);
  const pad = text.includes('`') || (text.startsWith(' ') && text.endsWith(' ')) ? ' ' : '';
  return `${fence}${pad}${text}${pad}${fence}`;
}

/**
 * A fenced code block holding `s` as it is, line for line: the fence is backticks, longer than
 * any backtick or tilde run inside (at least three), so no line of `s` can close it. Control and
 * format characters show as escapes (terminal()); `info` is the language word, if any.
 */
export function mdFence(s: string, info = ''): string {
  const text = terminal(String(s).replace(/\r\n/g, '\n'));
  const fence = '`'.repeat(Math.max(3, longestRun(text, /`+|~+/g) + 1));
  return `${fence}${info.replace(/[`\s]/g, '')}\n${text}\n${fence}`;
}

/** GitHub's form of a login: letters, digits and single dashes, up to 39 characters. */
const LOGIN = /^[A-Za-z0-9](?:-?[A-Za-z0-9]){0,38}$/;

/** `@login` for a GitHub login that is meant to be mentioned; anything else (a team `org/team`, a forged string) as mdInline() text. */
export function mention(login: string): string {
  return LOGIN.test(login) ? `@${login}` : mdInline(`@${login}`);
}

/**
 * Text inside a quoted Mermaid label (`id["…"]`) or a message (`A->>B: …`), on one line.
 * Whitespace runs become one space and control and format characters show as escapes. Mermaid
 * reads `"` as the end of a label, `;` as the end of a statement, `#…;` as an entity and
 * `%%{…}%%` as a directive, and renders `<…>` as HTML; each of those characters (and `&`, `` ` ``,
 * `{}`, `|`, `[]`) becomes an entity code such as `#34;`, which Mermaid turns back into the character.
 */
export function mermaid(value: string | number): string {
  return terminal(String(value).replace(/\s+/g, ' '))
    .trim()
    .replace(/[#"<>&;`{}|[\]%]/g, (c) => `#${c.codePointAt(0)};`);
}
