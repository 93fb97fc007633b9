// Notifications: what a tick did that people want to hear of outside GitHub (apply results, findings
// new and cleared, a default branch not trusted), sent to the channels FLEETSPEC_NOTIFY names. Each
// channel's URL is a secret (fleetspec's own, from the store) and never printed: an error that could
// quote it is scrubbed first. A channel that fails is retried a bounded number of times, each attempt
// with its own deadline, then given up for this tick with a warning; it never fails or blocks the tick.
import pRetry from 'p-retry';
import { logLine } from '../escape.js';
import { redactUrl } from '../redact.js';
import { ntfy } from './ntfy.js';
import { slack } from './slack.js';
import { webhook } from './webhook.js';
import type { Channel, ChannelName, NotifyEvent } from './types.js';

export { CHANNEL_NAMES, type Channel, type ChannelName, type NotifyEvent, type NotifyEventName } from './types.js';
export { eventsOf } from './events.js';

export const CHANNELS: Record<ChannelName, Channel> = { slack, ntfy, webhook };

/** A configured channel: its kind, the URL (a secret) and where that came from, which may be printed. */
export interface ChannelTarget {
  name: ChannelName;
  url: string;
  /** What names it in messages: "slack (secret:meta/notify/slack)". */
  label: string;
}

export interface NotifyOptions {
  /** The repository's page, for links: https://github.com/owner/name. */
  web?: string;
  /** Attempts per event and channel, the first included; default 3. */
  attempts?: number;
  /** Deadline of one attempt (ms); default 5 s. */
  attemptTimeoutMs?: number;
  /** Wait before the first retry (ms), doubled for each next; default 500. */
  backoffMs?: number;
}

export const NOTIFY_DEFAULTS = { attempts: 3, attemptTimeoutMs: 5_000, backoffMs: 500, web: '' } as const;

/** A failure of one channel, its message free of the channel's URL. */
export class ChannelError extends Error {}

/** `text` without `url` in any form it may be quoted in (whole, without its query, its path, percent-decoded), and other credentials masked. */
export function scrubUrl(text: string, url: string): string {
  const forms = new Set<string>([url]);
  try {
    const u = new URL(url);
    forms.add(u.href);
    forms.add(`${u.origin}${u.pathname}`);
    if (u.pathname.length > 1) forms.add(u.pathname + u.search);
    if (u.search) forms.add(u.search.slice(1));
    for (const f of [...forms]) {
      try {
        forms.add(decodeURIComponent(f));
      } catch {
        // not percent-encoded
      }
    }
  } catch {
    // not a URL: the string itself is all there is
  }
  let out = text;
  for (const f of [...forms].filter((f) => f.length >= 4).sort((a, b) => b.length - a.length)) out = out.split(f).join('<url>');
  return redactUrl(out);
}

export class Notifier {
  readonly targets: readonly ChannelTarget[];
  private readonly options: Required<NotifyOptions>;

  constructor(targets: readonly ChannelTarget[], options: NotifyOptions = {}) {
    this.targets = targets;
    this.options = { ...NOTIFY_DEFAULTS, ...options };
  }

  /** The repository's page, for links in events. */
  get web(): string {
    return this.options.web;
  }

  /**
   * Sends `events` to every channel, channels side by side, events of one channel in order. A channel
   * whose event failed every attempt is skipped for the rest of this call. Never throws; what failed is
   * logged (`warn`) and returned, by label.
   */
  async send(events: readonly NotifyEvent[], warn: (message: string) => void): Promise<{ sent: number; failed: string[] }> {
    if (!events.length || !this.targets.length) return { sent: 0, failed: [] };
    let sent = 0;
    const failed: string[] = [];
    await Promise.all(
      this.targets.map(async (target) => {
        for (const event of events) {
          try {
            await this.deliver(target, event, warn);
            sent++;
          } catch (err) {
            const why = err instanceof Error ? err.message : String(err);
            warn(`warning: notify ${target.label}: ${event.event} not delivered after ${this.options.attempts} attempts: ${logLine(scrubUrl(why, target.url))}; the tick goes on without it`);
            failed.push(target.label);
            return;
          }
        }
      }),
    );
    return { sent, failed };
  }

  private deliver(target: ChannelTarget, event: NotifyEvent, warn: (message: string) => void): Promise<void> {
    const { attempts, attemptTimeoutMs, backoffMs } = this.options;
    const request = CHANNELS[target.name].request(event);
    return pRetry(
      async () => {
        let response: Response;
        try {
          response = await fetch(target.url, { method: 'POST', headers: request.headers, body: request.body, signal: AbortSignal.timeout(attemptTimeoutMs), redirect: 'error' });
        } catch (err) {
          const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
          const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
          throw new ChannelError(scrubUrl(timedOut ? `no answer within ${attemptTimeoutMs} ms` : `${err instanceof Error ? err.message : String(err)}${cause}`, target.url));
        }
        // The answer's body is not needed; reading it frees the connection.
        await response.arrayBuffer().catch(() => undefined);
        if (!response.ok) throw new ChannelError(`answered HTTP ${response.status}`);
      },
      {
        retries: Math.max(0, attempts - 1),
        minTimeout: backoffMs,
        factor: 2,
        randomize: false,
        shouldRetry: () => true,
        onFailedAttempt: ({ error, attemptNumber, retriesLeft }) => {
          if (retriesLeft > 0) warn(`notify ${target.label}: attempt ${attemptNumber} of ${attempts} failed (${logLine(scrubUrl(error.message, target.url))}); retrying`);
        },
      },
    );
  }
}
