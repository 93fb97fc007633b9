import { styleText } from 'node:util';

export type Style = Parameters<typeof styleText>[0];

const styled = styleText as (style: Style, text: string, options?: { validateStream?: boolean }) => string;

/** ANSI styling when `enabled`; the caller decides (a TTY and no NO_COLOR), not the stream check. */
export function paint(style: Style, text: string, enabled: boolean | undefined): string {
  return enabled ? styled(style, text, { validateStream: false }) : text;
}
