// Text that came from the far end of a connection (an Ollama reply, SSH command output, a GitHub
// or terraform error) is never trusted as prose: it may be kilobytes long, hold terminal escapes,
// or be Markdown and HTML written to look like fleetspec's own words in a pull request. Plans,
// findings and PR text carry only remoteExcerpt's short, escaped, code-quoted excerpt of it, and
// the plan entry that quotes one says so in its `remote` field.

/** Characters that may still be read as syntax after the code quotes: written as JSON \u escapes. */
const ESCAPED: Record<string, string> = { '\\': '\\\\', '`': '\\u0060', '<': '\\u003c', '>': '\\u003e', '&': '\\u0026' };

/**
 * At most `max` characters, backticks included, that show what a remote reply said and nothing
 * more: control and format characters (newlines, terminal escapes, bidi overrides, zero-width
 * marks) become spaces or go, runs of white space become one space, `\`` `<` `>` `&` and `\` are
 * written as JSON escapes (so it holds no HTML, no comment, nothing that ends the quote), and the
 * result is one Markdown code span, cut with "…" when the text was longer. Empty text is `(empty)`,
 * unquoted.
 */
export function remoteExcerpt(text: string, max = 200): string {
  const budget = Math.max(8, Math.floor(max)) - 2;
  // Only the start is ever shown; a reply of megabytes is not scanned whole.
  const clean = String(text)
    .slice(0, 64 * 1024)
    .replace(/[\t\n\v\f\r\u0085\u2028\u2029]/g, ' ')
    // Cc: C0, DEL, C1 (ESC of terminal escapes included); Cf: bidi overrides, zero-width marks; with the
    // u flag a surrogate class matches only lone halves.
    .replace(/[\p{Cc}\p{Cf}\uD800-\uDFFF]/gu, '')
    .replace(/\s+/g, ' ')
    .trim();
  if (clean === '') return '(empty)';
  const pieces = [...clean].map((c) => ESCAPED[c] ?? c);
  const whole = pieces.join('');
  if (whole.length <= budget) return `\`${whole}\``;
  let out = '';
  for (const piece of pieces) {
    if (out.length + piece.length > budget - 1) break;
    out += piece;
  }
  return `\`${out.trimEnd()}…\``;
}

/** The excerpt an error's message quotes (its `remote` field, as OllamaError and RemoteTextError set it), if any. */
export function remoteOf(error: unknown): string | undefined {
  const remote = typeof error === 'object' && error !== null ? (error as { remote?: unknown }).remote : undefined;
  return typeof remote === 'string' ? remote : undefined;
}

/** An error whose message quotes remote text; `remote` is the excerpt, exactly as it appears in the message. */
export class RemoteTextError extends Error {
  constructor(
    message: string,
    readonly remote: string,
  ) {
    super(message);
    this.name = 'RemoteTextError';
  }
}

/** `{ remote }` when there is an excerpt, else nothing: for spreading into a NotRead or a finding. */
export const remoteField = (remote: string | undefined): { remote?: string } => (remote === undefined ? {} : { remote });
