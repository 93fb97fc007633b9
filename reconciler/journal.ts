// Lines for systemd's journal. When a service's standard output or error is connected to the
// journal, systemd sets JOURNAL_STREAM to that stream's "DEVICE:INODE" (systemd.exec(5)); a program
// tells it is writing to the journal by comparing them with fstat of its own stream (a stream
// redirected elsewhere, or a child given another pipe, inherits the variable but not the stream).
// journald reads a "<N>" at the start of each line as the line's syslog priority (sd-daemon(3):
// SD_ERR "<3>", SD_WARNING "<4>", SD_NOTICE "<5>", SD_INFO "<6>"), strips it, and stamps the line
// itself, so a line for the journal carries a prefix and no timestamp of its own. This holds for any
// text, so JSON log lines get the prefix too (journald's MESSAGE is then the bare JSON object).
import { fstatSync } from 'node:fs';

/** A line's syslog priority, as `journalctl -p` names them. */
export type Priority = 'err' | 'warning' | 'notice' | 'info';

/** sd-daemon(3)'s numbers: SD_ERR, SD_WARNING, SD_NOTICE, SD_INFO. */
export const PRIORITY_LEVEL: Readonly<Record<Priority, number>> = { err: 3, warning: 4, notice: 5, info: 6 };

/** Whether file descriptor `fd` is the journal stream JOURNAL_STREAM names (its "DEVICE:INODE" matches fstat of `fd`). */
export function isJournalStream(fd: number, env: NodeJS.ProcessEnv = process.env): boolean {
  const named = /^(\d+):(\d+)$/.exec(env.JOURNAL_STREAM?.trim() ?? '');
  if (!named) return false;
  try {
    const stat = fstatSync(fd, { bigint: true });
    return stat.dev === BigInt(named[1]!) && stat.ino === BigInt(named[2]!);
  } catch {
    return false; // a closed or invalid descriptor is no journal
  }
}

/** Which of the process's streams are the journal. */
export function journalStreams(env: NodeJS.ProcessEnv = process.env): { stdout: boolean; stderr: boolean } {
  if (!env.JOURNAL_STREAM) return { stdout: false, stderr: false };
  return { stdout: isJournalStream(1, env), stderr: isJournalStream(2, env) };
}

/** `text` as journal lines of `priority`: each line prefixed, since journald reads a priority per line. */
export function journalText(text: string, priority: Priority = 'info'): string {
  const prefix = `<${PRIORITY_LEVEL[priority]}>`;
  return text
    .split('\n')
    .map((line) => prefix + line)
    .join('\n');
}

/** The priority a journal line carries, and the line without it; undefined when it has no prefix. */
export function parseJournalLine(line: string): { priority: number; text: string } | undefined {
  const m = /^<([0-7])>(.*)$/s.exec(line);
  return m ? { priority: Number(m[1]), text: m[2]! } : undefined;
}
