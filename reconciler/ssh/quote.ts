// Quoting for commands run through the remote login shell (assumed POSIX: sh, bash, dash, zsh).
import { quote } from 'shell-quote';

/**
 * One shell word that the remote shell reads back as exactly `value`.
 * shell-quote's `quote` is used as is: it round-trips newlines, both quote kinds, `$()`,
 * backticks, globs and the empty string (checked by a fuzz run against sh and bash, and by
 * test/ssh/ssh.test.ts against a real sshd).
 */
export function shellQuote(value: string): string {
  if (typeof value !== 'string') throw new TypeError(`shellQuote takes a string, got ${typeof value}`);
  // A command line is a C string: a NUL would silently cut the argument short.
  if (value.includes('\0')) throw new Error('a shell argument cannot contain a NUL byte; pass such data on stdin');
  return quote([value]);
}

/**
 * Builds a remote command with every interpolated value quoted as one word:
 * sh`cat ${path}` never runs what `path` contains. Numbers must be finite integers.
 */
export function sh(strings: TemplateStringsArray, ...values: (string | number)[]): string {
  let command = strings[0] ?? '';
  values.forEach((value, index) => {
    command += quoteValue(value) + (strings[index + 1] ?? '');
  });
  return command;
}

function quoteValue(value: string | number): string {
  if (typeof value === 'number') {
    // 1e21 or NaN would print as something no remote program expects as a number.
    if (!Number.isSafeInteger(value)) throw new Error(`sh\`\`: ${value} is not an integer; format it as a string first`);
    return String(value);
  }
  return shellQuote(value);
}
