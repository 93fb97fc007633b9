// ntfy (https://docs.ntfy.sh/publish/): POST the message as the body to the topic URL, with the
// Title, Priority (1-5), Tags (emoji short codes, comma-separated) and Click headers it documents.
// Header values are one line of printable ASCII (anything else becomes "?"): HTTP headers carry no more.
import { titleOf, type Channel, type NotifyEvent, type NotifyEventName } from './types.js';

const PRIORITY: Record<NotifyEvent['severity'], string> = { info: '3', warning: '4', error: '5' };
const TAGS: Record<NotifyEventName, string> = {
  'apply.applied': 'white_check_mark',
  'apply.failed': 'x',
  'apply.rolled-back': 'rewind',
  'finding.new': 'warning',
  'finding.cleared': 'heavy_check_mark',
  'main.untrusted': 'no_entry',
  'rollback.opened': 'leftwards_arrow_with_hook',
};

const header = (s: string) => s.replace(/[^\x20-\x7e]/g, '?').slice(0, 250);

export const ntfy: Channel = {
  name: 'ntfy',
  request(e: NotifyEvent) {
    return {
      headers: {
        'content-type': 'text/plain; charset=utf-8',
        Title: header(titleOf(e)),
        Priority: PRIORITY[e.severity],
        Tags: `fleetspec,${TAGS[e.event]}`,
        ...(e.url ? { Click: header(e.url) } : {}),
      },
      body: e.summary,
    };
  },
};
