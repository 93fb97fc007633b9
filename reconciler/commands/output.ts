/** Where commands write; the CLI passes the process streams, tests pass buffers. */
export interface Output {
  stdout(line: string): void;
  stderr(line: string): void;
  /** Whether human output may use ANSI colour. */
  color: boolean;
}

export function processOutput(): Output {
  const color = Boolean(process.stdout.isTTY) && !process.env.NO_COLOR && process.env.TERM !== 'dumb';
  return {
    stdout: (line) => process.stdout.write(line + '\n'),
    stderr: (line) => process.stderr.write(line + '\n'),
    color,
  };
}

export function bufferOutput(): Output & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, color: false, stdout: (l) => void out.push(l), stderr: (l) => void err.push(l) };
}
