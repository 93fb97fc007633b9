// Slack incoming webhook (https://api.slack.com/messaging/webhooks): POST application/json {"text": …}.
// The text is mrkdwn: &, < and > are escaped as Slack asks, so a value cannot make a link or a mention.
import { titleOf, type Channel, type NotifyEvent } from './types.js';

const slackText = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export const slack: Channel = {
  name: 'slack',
  request(e: NotifyEvent) {
    const lines = [`*${slackText(titleOf(e))}*`, slackText(e.summary), ...(e.url ? [`<${encodeURI(e.url)}|run ${e.run}>`] : [`run ${e.run}`])];
    return { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: lines.join('\n') }) };
  },
};
