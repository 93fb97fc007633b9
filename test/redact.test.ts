// redactUrl: the one function every message holding a URL or a connection string goes through.
import { describe, expect, it } from 'vitest';
import { credentialsIn, redactUrl } from '../reconciler/redact.js';

const cases: [string, string, string][] = [
  ['userinfo password', 'postgres://u:hunter2@127.0.0.1:5432/db', 'postgres://u:***@127.0.0.1:5432/db'],
  ['password holding an @', 'postgres://u:p@ss@db.example:5432/db', 'postgres://u:***@db.example:5432/db'],
  ['password in the query', 'postgres://u@127.0.0.1:1/db?password=hunter2', 'postgres://u@127.0.0.1:1/db?password=***'],
  ['among other parameters', 'postgresql://u@h/db?sslmode=require&password=hunter2&application_name=x', 'postgresql://u@h/db?sslmode=require&password=***&application_name=x'],
  ['pass=', 'postgres://u@h/db?pass=hunter2', 'postgres://u@h/db?pass=***'],
  ['sslpassword=', 'postgres://u@h/db?sslmode=verify-full&sslpassword=hunter2', 'postgres://u@h/db?sslmode=verify-full&sslpassword=***'],
  ['upper case, before a fragment', 'postgres://u@h/db?PASSWORD=hunter2#x', 'postgres://u@h/db?PASSWORD=***#x'],
  ['both places at once', 'postgres://u:one@h/db?password=two', 'postgres://u:***@h/db?password=***'],
  ['inside quotes in a message', 'connecting to "postgres://u@h/db?password=hunter2" failed', 'connecting to "postgres://u@h/db?password=***" failed'],
  ['key=value connection string', 'host=127.0.0.1 port=1 user=u password=hunter2 dbname=db', 'host=127.0.0.1 port=1 user=u password=*** dbname=db'],
  ['quoted key=value with a blank and an escaped quote', "host=h password='hunter 2\\' x' dbname=db", 'host=h password=*** dbname=db'],
  ['blanks around =', 'host=h password = hunter2 sslpassword=abc', 'host=h password = *** sslpassword=***'],
  ['key=value at the start', 'password=hunter2 host=h', 'password=*** host=h'],
  ['git remote with a token as the password', 'https://x-access-token:ghp_abc123@github.com/o/r.git', 'https://x-access-token:***@github.com/o/r.git'],
  ['git remote with a token as the user', 'clone https://ghp_abc123@github.com/o/r.git: 401', 'clone https://***@github.com/o/r.git: 401'],
  ['LLM base URL with a key parameter', 'http://127.0.0.1:11434/v1?api_key=sk-123&x=1', 'http://127.0.0.1:11434/v1?api_key=***&x=1'],
  ['two URLs in one message', 'from postgres://a:one@h1/x to postgres://b:two@h2/y', 'from postgres://a:***@h1/x to postgres://b:***@h2/y'],
  ['a user name alone stays', 'postgres://fleetspec@127.0.0.1:5432/db and ssh://git@github.com/o/r', 'postgres://fleetspec@127.0.0.1:5432/db and ssh://git@github.com/o/r'],
  ['an empty password stays empty', 'postgres://u:@h/db?password=', 'postgres://u:@h/db?password='],
  ['no credentials, nothing changes', 'connect ECONNREFUSED 127.0.0.1:1 (https://example.com/a@b?sslmode=disable)', 'connect ECONNREFUSED 127.0.0.1:1 (https://example.com/a@b?sslmode=disable)'],
  ['passwordless is not a password', 'postgres://u@h/db?passwordless=true', 'postgres://u@h/db?passwordless=true'],
];

describe('redactUrl', () => {
  it.each(cases)('%s', (_name, text, expected) => {
    expect(redactUrl(text)).toBe(expected);
  });

  it('leaves no secret of the table in its output', () => {
    for (const [, text] of cases) expect(redactUrl(text), text).not.toMatch(/hunter|p@ss|ghp_|sk-1|:one@|:two@|=two/);
  });
});

describe('credentialsIn', () => {
  it('lists the raw and decoded values redactUrl masks, for scrubbing output that quotes them alone', () => {
    expect(credentialsIn('postgres://u:p%40ss@h/db?password=two%20words&sslpassword=three')).toEqual(['p%40ss', 'p@ss', 'two%20words', 'two words', 'three']);
    expect(credentialsIn("host=h password='a b' dbname=x")).toEqual(['a b']);
    expect(credentialsIn('postgres://u@h/db')).toEqual([]);
  });
});

describe('redactUrl keeps the message around a masked value', () => {
  it('stops a query or key=value password before a colon that ends it', () => {
    expect(redactUrl('at postgres://u@h:1/db?password=hunter2: connect ECONNREFUSED')).toBe('at postgres://u@h:1/db?password=***: connect ECONNREFUSED');
    expect(redactUrl('host=h password=hunter2: refused')).toBe('host=h password=***: refused');
    expect(redactUrl('postgres://u@h/db?password=a:b:c&x=1')).toBe('postgres://u@h/db?password=***&x=1');
  });
});
