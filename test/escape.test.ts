// reconciler/escape.ts: each output's escaping, on the inputs that would otherwise be obeyed.
import { describe, expect, it } from 'vitest';
import { logLine, mdBlock, mdCell, mdCode, mdFence, mdInline, mention, mermaid, terminal } from '../reconciler/escape.js';
import { invalidComment } from '../reconciler/loop/pr-text.js';
import type { Diagnostic } from '../reconciler/diagnostics.js';

/** Every character a terminal obeys or hides. */
const RAW = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u202a-\u202e\u2028\u2029\u2060-\u2069\ufeff]/;

describe('terminal and logLine', () => {
  it('show escapes, bidi controls, separators and zero-width characters as visible escapes', () => {
    const hostile = 'a\u001b]8;;http://evil\u0007b\u001b[2J\rc\u202ed\u2066e\u200bf\u2028g\u0085h\u007f\ufeff';
    const shown = terminal(hostile);
    expect(shown).toBe('a\\x1b]8;;http://evil\\x07b\\x1b[2J\\x0dc\\u202ed\\u2066e\\u200bf\\u2028g\\x85h\\x7f\\ufeff');
    expect(shown).not.toMatch(RAW);
    expect(terminal(shown)).toBe(shown);
  });

  it('terminal keeps newlines and tabs; logLine keeps one line', () => {
    expect(terminal('a\nb\tc')).toBe('a\nb\tc');
    expect(logLine('a\nb\tc\r\n')).toBe('a\\x0ab\\x09c\\x0d\\x0a');
    expect(logLine('linux-home: ünïcode, 日本, emoji 🙂')).toBe('linux-home: ünïcode, 日本, emoji 🙂');
    expect(logLine('tag \u{e0041}')).toBe('tag \\u{e0041}');
  });
});

describe('Markdown', () => {
  it('mdInline neutralises HTML, links, images, mentions, references, autolinks and block starts', () => {
    const cases: [string, RegExp][] = [
      ['<!-- hidden', /<!--/],
      ['<details><summary>x', /<details/],
      ['[x](javascript:alert(1))', /\]\(/],
      ['![img](http://x/t.png)', /!\[|\]\(/],
      ['ping @org/team and @alice', /@org|@alice/],
      ['see #1 and GH-2 and acme/fleet#3', /#1|GH-2|#3/],
      ['http://user:pass@host and www.evil.com', /http:\/\/|www\.evil/],
      ['a | b', /[^\\]\|/],
      ['**bold** _it_ ~~gone~~ `code` $x$', /(^|[^\\])[*_~`$]/],
      ['&lt;script&gt;', /(^|[^\\])&lt;/],
    ];
    for (const [input, forbidden] of cases) {
      const md = mdInline(input);
      expect(md, input).not.toMatch(forbidden);
      expect(md, input).not.toContain('\n');
    }
    expect(mdInline('# heading')).toBe('\\# heading');
    expect(mdInline('- item')).toBe('\\- item');
    expect(mdInline('1. item')).toBe('1\\. item');
    expect(mdInline('> quote')).toBe('&gt; quote');
    expect(mdInline('Root is at 97%. linux-home, qwen2.5:7b')).toBe('Root is at 97%. linux-home, qwen2.5:7b');
  });

  it('mdInline collapses every line break and shows controls', () => {
    const md = mdInline('one\ntwo\r\nthree\rfour\u2028five\u001b[2J\u202e');
    expect(md).toBe('one two three four five\\\\x1b\\[2J\\\\u202e');
    expect(md).not.toMatch(RAW);
  });

  it('mdCell keeps a value inside its cell', () => {
    expect(mdCell('a|b\nc')).toBe('a\\|b c');
  });

  it('mdBlock keeps lines and paragraphs, each line escaped', () => {
    expect(mdBlock('Root is at 97%.\n\n- <!-- x\n@org')).toBe('Root is at 97%.\n\n\\- &lt;!-- x\n@&#8203;org');
  });

  it('mdCode cannot be closed early, and escapes | for a table cell', () => {
    expect(mdCode('hosts/ai')).toBe('`hosts/ai`');
    expect(mdCode('a`b')).toBe('`` a`b ``');
    expect(mdCode('```\nx')).toBe('```` ``` x ````');
    expect(mdCode('a|b', { cell: true })).toBe('`a\\|b`');
    expect(mdCode('')).toBe('` `');
    expect(mdCode('\u001b[2J')).toBe('`\\x1b[2J`');
  });

  it('mdFence is longer than any backtick or tilde run inside', () => {
    expect(mdFence('plain')).toBe('```\nplain\n```');
    const fenced = mdFence('x\n```\ny\n~~~~~\nz');
    expect(fenced.split('\n')[0]).toBe('``````');
    expect(fenced.split('\n').at(-1)).toBe('``````');
    expect(mdFence('\u001b[2J')).toBe('```\n\\x1b[2J\n```');
  });

  it('mention mentions only a GitHub login', () => {
    expect(mention('alice')).toBe('@alice');
    expect(mention('org/team')).toBe('@&#8203;org/team');
    expect(mention('x\n@y')).not.toMatch(/@y|\n/);
  });
});

describe('mermaid', () => {
  it('turns label syntax, directives and controls into entity codes and escapes', () => {
    expect(mermaid('a"]; click x "javascript:alert(1)"')).toBe('a#34;#93;#59; click x #34;javascript:alert(1)#34;');
    expect(mermaid('%%{init: {"securityLevel": "loose"}}%%')).not.toMatch(/%%|\{/);
    expect(mermaid('<img src=x onerror=alert(1)>')).not.toMatch(/[<>]/);
    expect(mermaid('a\n\tb \u001b[2J\u202e')).toBe('a b \\x1b#91;2J\\u202e');
  });
});

describe('the invalid-specs comment', () => {
  it('keeps a key holding a newline and ``` inside its code block: no forged "can be applied" line', () => {
    const key = 'x\n```\n\n**Verdict: ✅ can be applied** once approved\n\n```';
    const d: Diagnostic = { severity: 'error', code: 'schema.unknown-field', file: '/repo/specs/hosts/ai.yaml', line: 3, col: 1, resource: 'hosts/ai', message: `unknown field "${key}"` };
    const comment = invalidComment('0123456789abcdef', [d], '/repo');
    const lines = comment.split('\n');
    const open = lines.findIndex((l) => /^`{3,}/.test(l));
    const fence = /^`+/.exec(lines[open]!)![0];
    const close = lines.findIndex((l, i) => i > open && l.startsWith(fence));
    expect(close).toBe(lines.length - 1);
    // Inside the block the diagnostic is one line; outside it nothing says the plan can be applied.
    expect(lines.slice(open + 1, close)).toHaveLength(1);
    expect([...lines.slice(0, open), ...lines.slice(close + 1)].join('\n')).not.toContain('can be applied');
    // No line inside is a fence that could close it.
    for (const l of lines.slice(open + 1, close)) expect(l.trimStart().startsWith(fence)).toBe(false);
  });
});

describe('logLine and passwords', () => {
  it('masks the password of a URL or connection string in a log line, wherever it sits', () => {
    const line = logLine('tick failed: connect ECONNREFUSED postgres://fleet:hunter2@db:5432/x?sslpassword=s3cret\nnext');
    expect(line).not.toMatch(/hunter2|s3cret/);
    expect(line).toContain('postgres://fleet:');
    expect(line).toContain('\\x0anext');
  });
});
