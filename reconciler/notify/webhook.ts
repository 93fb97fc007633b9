// A generic JSON webhook: POST application/json, one event per request, in this documented shape
// (version 1; fields are only ever added):
//
//   { "version": 1, "event": "apply.failed", "severity": "error", "repo": "acme/fleet", "run": 42,
//     "summary": "…one line…", "url": "https://github.com/acme/fleet/pull/7", "at": "2025-01-02T03:04:05.000Z" }
//
// `event` is one of apply.applied, apply.failed, apply.rolled-back, finding.new, finding.cleared, rollback.opened,
// main.untrusted; `severity` info, warning or error; `url` is absent when there is nothing to link.
import type { Channel, NotifyEvent } from './types.js';

export const WEBHOOK_VERSION = 1;

export interface WebhookBody {
  version: typeof WEBHOOK_VERSION;
  event: NotifyEvent['event'];
  severity: NotifyEvent['severity'];
  repo: string;
  run: number;
  summary: string;
  url?: string;
  at: string;
}

export const webhook: Channel = {
  name: 'webhook',
  request(e: NotifyEvent) {
    const body: WebhookBody = { version: WEBHOOK_VERSION, event: e.event, severity: e.severity, repo: e.repo, run: e.run, summary: e.summary, ...(e.url ? { url: e.url } : {}), at: new Date().toISOString() };
    return { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
  },
};
