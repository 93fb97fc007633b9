import { journalStreams, journalText, type Priority } from '../journal.js';

/** Where commands write; the CLI passes the process streams, tests pass buffers. */
export interface Output {
  /** One line (or several) of results; `priority` matters only where the stream is systemd's journal. */
  stdout(line: string, priority?: Priority): void;
  /** Progress, warnings and errors; `priority` as for stdout (an error: 'err', so `journalctl -p err` shows it). */
  stderr(line: string, priority?: Priority): void;
  /** Whether human output may use ANSI colour. */
  color: boolean;
  /**
   * Which streams are systemd's journal (JOURNAL_STREAM, journal.ts): every line written there
   * carries its priority prefix (info when none is given), and log lines leave out their own
   * timestamp since journald adds one. Absent: neither is.
   */
  journal?: { stdout: boolean; stderr: boolean };
}

export function processOutput(): Output {
  const color = Boolean(process.stdout.isTTY) && !process.env.NO_COLOR && process.env.TERM !== 'dumb';
  const journal = journalStreams();
  return {
    stdout: (line, priority) => process.stdout.write((journal.stdout ? journalText(line, priority) : line) + '\n'),
    stderr: (line, priority) => process.stderr.write((journal.stderr ? journalText(line, priority) : line) + '\n'),
    color,
    ...(journal.stdout || journal.stderr ? { journal } : {}),
  };
}

export function bufferOutput(): Output & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, color: false, stdout: (l) => void out.push(l), stderr: (l) => void err.push(l) };
}
