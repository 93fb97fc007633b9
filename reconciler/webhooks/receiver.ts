// GitHub webhook deliveries at `POST /webhook` on the daemon's --listen server. A delivery only
// asks for a tick sooner: the tick reads git and GitHub afresh (level-based), so nothing in the
// payload is trusted or even parsed. Each delivery is bounded in size, verified with its
// HMAC-SHA256 signature (@octokit/webhooks-methods, constant time), de-duplicated by its
// X-GitHub-Delivery id, and only then pokes the daemon. Every rejection is one escaped log line
// naming the event and delivery id, never the secret or the payload.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { verify } from '@octokit/webhooks-methods';
import { logLine } from '../escape.js';
import type { RunTrigger } from '../state/ledger.js';
import { parseCommand } from '../loop/commands.js';
import { drainAfterAnswer } from '../http-drain.js';

/** The events that ask for a tick, and what the ledger records for the tick's run. */
export const WEBHOOK_EVENTS: Readonly<Record<string, RunTrigger>> = {
  push: 'push',
  pull_request: 'pull_request',
  pull_request_review: 'pull_request',
  issues: 'webhook',
  issue_comment: 'webhook',
};

export const DEFAULT_WEBHOOK_SECRET = 'meta/github/webhook_secret';
export const MAX_DELIVERY_BYTES = 1024 * 1024;
/** How many delivery ids are remembered to recognise a replay. */
export const REMEMBERED_DELIVERIES = 1000;

export interface WebhookOptions {
  secret: string;
  /** Asks the daemon for a tick; `stopped` when it will run none. */
  poke(reason: string, trigger: RunTrigger): 'queued' | 'coalesced' | 'stopped';
  log(level: 'info' | 'warning', message: string): void;
  /**
   * fleetspec's own GitHub login, once known: a delivery about what fleetspec itself did (its comments,
   * statuses, PRs) asks for no tick, or every tick that writes would start another.
   */
  self?: () => string | undefined;
  maxBytes?: number;
  remember?: number;
}

export type WebhookHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** One header's value for a log line: escaped and cut short, since it is whatever the sender wrote. */
const shown = (value: string | string[] | undefined) => {
  const text = Array.isArray(value) ? value.join(',') : (value ?? '');
  return text === '' ? '(none)' : logLine(text.length > 80 ? `${text.slice(0, 80)}…` : text).replace(/\s/g, '_');
};

export function webhookHandler(opts: WebhookOptions): WebhookHandler {
  const maxBytes = opts.maxBytes ?? MAX_DELIVERY_BYTES;
  const remember = opts.remember ?? REMEMBERED_DELIVERIES;
  /** Delivery ids in the order received; a Set keeps insertion order, so the oldest goes first. */
  const seen = new Set<string>();

  return (req, res) => {
    const event = req.headers['x-github-event'];
    const delivery = req.headers['x-github-delivery'];
    const what = `${shown(event)} delivery ${shown(delivery)}`;
    const answer = (status: number, body: string, headers: Record<string, string> = {}) => {
      if (res.headersSent) return;
      if (status === 204) res.writeHead(204, headers).end();
      else res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers }).end(`${body}\n`);
    };
    const reject = (status: number, why: string, headers: Record<string, string> = {}) => {
      opts.log('warning', `webhook: rejected ${what} (${status}): ${why}`);
      answer(status, why, headers);
    };

    if (req.method !== 'POST') return reject(405, `method ${shown(req.method)}, only POST`, { allow: 'POST' });
    const declared = Number(req.headers['content-length'] ?? NaN);
    // Larger than the limit: answered at once and the connection closed, the body never kept.
    if (declared > maxBytes) return tooLarge(`${declared} bytes declared`);
    if (typeof event !== 'string' || typeof delivery !== 'string' || typeof req.headers['x-hub-signature-256'] !== 'string') {
      req.resume();
      return reject(400, 'X-GitHub-Event, X-GitHub-Delivery or X-Hub-Signature-256 is missing');
    }

    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > maxBytes) {
        over = true;
        tooLarge(`more than ${maxBytes} bytes sent`);
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', () => {});
    req.on('end', () => {
      if (!over) void received(Buffer.concat(chunks).toString('utf8'), event, delivery, req.headers['x-hub-signature-256'] as string);
    });

    function tooLarge(why: string) {
      // No "Connection: close" (http-drain.ts says why).
      reject(413, `larger than ${maxBytes} bytes (${why})`);
      drainAfterAnswer(req);
    }

    async function received(payload: string, name: string, id: string, signature: string) {
      if (payload === '') return reject(400, 'the body is empty');
      let valid = false;
      try {
        valid = await verify(opts.secret, payload, signature);
      } catch {
        valid = false;
      }
      if (!valid) return reject(401, 'the X-Hub-Signature-256 signature does not match the webhook secret');
      if (seen.has(id)) {
        opts.log('warning', `webhook: ${what} received before: a replay or GitHub's redelivery, nothing to do`);
        return answer(200, 'received before: nothing to do');
      }
      const trigger = WEBHOOK_EVENTS[name];
      if (!trigger) {
        remembered(id);
        opts.log('warning', `webhook: ignored ${what} (204): ${name === 'ping' ? "GitHub's ping, " : ''}not an event that asks for a tick (${Object.keys(WEBHOOK_EVENTS).join(', ')})`);
        return answer(204, '');
      }
      const { sender, action } = senderOf(payload);
      const me = opts.self?.();
      // Except a pull request it opened: one opened outside a tick (an agent's proposal, fleetspec rollback on
      // the server) or by a tick after its branches were planned (a pulled ticket, a finding) waits for its plan.
      const opened = name === 'pull_request' && action === 'opened';
      if (me && sender && sender.toLowerCase() === me.toLowerCase() && !opened) {
        remembered(id);
        opts.log('info', `webhook: ${what}: sent by fleetspec's own account (${shown(sender)}), so no tick`);
        return answer(204, '');
      }
      // A comment giving a /fleetspec command (verified above): its tick is recorded as the command's.
      const outcome = opts.poke(`webhook ${shown(name)} ${shown(id)}`, name === 'issue_comment' && givesCommand(payload) ? 'command' : trigger);
      if (outcome === 'stopped') return reject(503, 'the daemon is stopping; no tick will run');
      remembered(id);
      opts.log('info', `webhook: ${what}: ${outcome === 'queued' ? 'a tick is asked for' : 'answered by the tick already asked for'}`);
      answer(202, outcome);
    }
  };

  function remembered(id: string) {
    seen.add(id);
    if (seen.size > remember) seen.delete(seen.values().next().value!);
  }
}

/** Whether an issue_comment delivery creates a comment whose first line is a /fleetspec command. */
function givesCommand(payload: string): boolean {
  try {
    const body = JSON.parse(payload) as { action?: unknown; comment?: { body?: unknown } };
    return body.action === 'created' && typeof body.comment?.body === 'string' && parseCommand(body.comment.body) !== undefined;
  } catch {
    return false;
  }
}

/** The login of the account whose action the delivery reports (GitHub's `sender`), and the action, if any. */
function senderOf(payload: string): { sender?: string; action?: string } {
  try {
    const body = JSON.parse(payload) as { sender?: { login?: unknown }; action?: unknown };
    return { ...(typeof body.sender?.login === 'string' ? { sender: body.sender.login } : {}), ...(typeof body.action === 'string' ? { action: body.action } : {}) };
  } catch {
    return {};
  }
}
