// The contract every notification channel keeps (one module per channel in this folder, as each kind has
// its folder): a channel turns an event into one HTTP request, and send.ts delivers it with deadlines and
// bounded retries. A channel never sees the network, the URL's secret or the tick.

/** What fleetspec tells people about, outside GitHub. */
export type NotifyEventName = 'apply.applied' | 'apply.failed' | 'apply.rolled-back' | 'finding.new' | 'finding.cleared' | 'main.untrusted' | 'rollback.opened';

export interface NotifyEvent {
  event: NotifyEventName;
  /** owner/name of the reconciled repository. */
  repo: string;
  /** The run (tick) that saw it, as in `fleetspec runs show`. */
  run: number;
  /** One line, plain text: what happened and what to do. */
  summary: string;
  /** Where to look: the PR, commit or issue on GitHub. */
  url?: string;
  severity: 'info' | 'warning' | 'error';
}

/** One HTTP POST, as the channel's service documents it. */
export interface ChannelRequest {
  headers: Record<string, string>;
  body: string;
}

export const CHANNEL_NAMES = ['slack', 'ntfy', 'webhook'] as const;
export type ChannelName = (typeof CHANNEL_NAMES)[number];

export interface Channel {
  readonly name: ChannelName;
  /** The request that carries `event` to the channel's URL. */
  request(event: NotifyEvent): ChannelRequest;
}

/** A short title for an event: "fleetspec acme/fleet: apply failed". */
export function titleOf(e: NotifyEvent): string {
  const what: Record<NotifyEventName, string> = {
    'apply.applied': 'applied',
    'apply.failed': 'apply failed',
    'apply.rolled-back': 'apply failed, rolled back',
    'finding.new': 'new finding',
    'finding.cleared': 'finding cleared',
    'main.untrusted': 'default branch not trusted',
    'rollback.opened': 'rollback waiting for approval',
  };
  return `fleetspec ${e.repo}: ${what[e.event]}`;
}
