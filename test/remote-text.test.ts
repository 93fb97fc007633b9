import { describe, expect, it } from 'vitest';
import { remoteExcerpt, remoteField, remoteOf, RemoteTextError } from '../reconciler/remote-text.js';

describe('remoteExcerpt', () => {
  it('quotes short text as one code span, as it is', () => {
    expect(remoteExcerpt("model 'llama3:latest' not found")).toBe("`model 'llama3:latest' not found`");
    expect(remoteExcerpt('  \n ')).toBe('(empty)');
  });

  it('drops control and format characters, and makes every kind of line break one space', () => {
    expect(remoteExcerpt('a\r\nb\tc\u2028d\u0085e')).toBe('`a b c d e`');
    expect(remoteExcerpt('\u001b[2J\u001b]0;title\u0007ok\u0000\u007f\u009b')).toBe('`[2J]0;titleok`');
    // bidi override, zero-width space, byte order mark, a lone surrogate
    expect(remoteExcerpt('abc\u202edef\u200b\ufeff\ud800!')).toBe('`abcdef!`');
    expect(remoteExcerpt('emoji 😀 stays')).toBe('`emoji 😀 stays`');
  });

  it('writes what could end the quote or be read as HTML as JSON escapes', () => {
    expect(remoteExcerpt('<!-- x --> a `b` & c\\d')).toBe('`\\u003c!-- x --\\u003e a \\u0060b\\u0060 \\u0026 c\\\\d`');
  });

  it('cuts at max characters, quotes and ellipsis included, never inside an escape or a surrogate pair', () => {
    const long = '<'.repeat(100);
    const cut = remoteExcerpt(long, 40);
    expect(cut.length).toBeLessThanOrEqual(40);
    expect(cut).toBe('`' + '\\u003c'.repeat(6) + '…`');
    for (let max = 20; max <= 30; max++) {
      const excerpt = remoteExcerpt('😀'.repeat(50), max);
      expect(excerpt.length).toBeLessThanOrEqual(max);
      expect(excerpt).not.toMatch(/[\uD800-\uDFFF]/u);
    }
    const page = '<!-- [click](http://evil) @someone # Heading\n'.repeat(120);
    expect(page.length).toBeGreaterThan(5000);
    const excerpt = remoteExcerpt(page);
    expect(excerpt.length).toBeLessThanOrEqual(200);
    expect(excerpt.length).toBeGreaterThan(190);
    expect(excerpt).not.toContain('<');
    expect(excerpt.endsWith('…`')).toBe(true);
  });

  it('is carried by errors that quote it, and spread into plan entries only when present', () => {
    const error = new RemoteTextError('x failed: `y`', '`y`');
    expect(remoteOf(error)).toBe('`y`');
    expect(remoteOf(new Error('plain'))).toBeUndefined();
    expect(remoteOf('text')).toBeUndefined();
    expect(remoteField(undefined)).toEqual({});
    expect(remoteField('`y`')).toEqual({ remote: '`y`' });
  });
});
