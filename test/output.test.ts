import { describe, expect, it } from 'vitest';
import { logLine, mdInline } from '../reconciler/escape.js';

describe('escaping text from git and GitHub', () => {
  it('logLine shows control characters instead of obeying them', () => {
    const branch = 'evil\u001b]0;owned\u0007\r\nmain 0000000: applied';
    const shown = logLine(branch);
    expect(shown).toBe('evil\\x1b]0;owned\\x07\\x0d\\x0amain 0000000: applied');
    expect(shown).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
    expect(logLine('feature/ünïcode-ok')).toBe('feature/ünïcode-ok');
  });

  it('mdInline keeps a path from opening a comment, a link, a heading or a table cell', () => {
    const path = 'specs/<!-- hide -->[x](https://evil)|#`code`\nline';
    const md = mdInline(path);
    expect(md).not.toContain('<!--');
    expect(md).not.toContain('](');
    expect(md).not.toMatch(/(^|[^\\])[|`<>[\]]/);
    expect(md).not.toContain('\n');
  });
});
