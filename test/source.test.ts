// The YAML layer on its own: positions, limits and the guards for hostile input.
import { describe, expect, it } from 'vitest';
import { findSecretLiterals } from '../reconciler/specs/secrets.js';
import { fromParsedFile, parseSpecText, positionOf, toParsedFile } from '../reconciler/specs/source.js';

describe('parseSpecText', () => {
  it('maps a path to the line and column of its value or key', () => {
    const { documents } = parseSpecText('x.yaml', 'kind: Host\nname: ai\nservices:\n  - name: ollama\n    port: 11434\n');
    const doc = documents[0]!;
    expect(positionOf(doc, ['services', 0, 'port'])).toEqual({ line: 5, col: 11 });
    expect(positionOf(doc, ['services', 0, 'port'], { key: true })).toEqual({ line: 5, col: 5 });
    // A path past what exists points at the nearest ancestor.
    expect(positionOf(doc, ['services', 0, 'missing', 'deeper'])).toEqual({ line: 4, col: 5 });
  });

  it('counts positions in later documents of a multi-document file from the file start', () => {
    const { documents } = parseSpecText('x.yaml', 'kind: Host\nname: a\n---\nkind: Host\nname: b\n');
    expect(documents).toHaveLength(2);
    expect(positionOf(documents[1]!, ['name'])).toEqual({ line: 5, col: 7 });
  });

  it('a file sent from a worker thread gives the same values and positions, its tree parsed again on demand', () => {
    // An empty document and a broken one between good ones: indices must still line up.
    const text = '\uFEFFkind: Host\nname: a\n---\n---\nkind: Host\nname: [b\n---\r\nkind: Host\r\nname: c\r\nservices:\r\n  - port: 22\r\n';
    const here = parseSpecText('x.yaml', text);
    const there = fromParsedFile(structuredClone(toParsedFile('x.yaml', here)));
    expect(there.diagnostics).toEqual(here.diagnostics);
    expect(there.documents.map((d) => [d.index, d.value])).toEqual(here.documents.map((d) => [d.index, d.value]));
    expect(here.documents.map((d) => d.index)).toEqual([0, 3]);
    for (const [i, path] of [[0, ['name']], [1, ['name']], [1, ['services', 0, 'port']], [1, ['services', 0, 'missing']]] as const) {
      expect(positionOf(there.documents[i]!, path)).toEqual(positionOf(here.documents[i]!, path));
      expect(positionOf(there.documents[i]!, path, { key: true })).toEqual(positionOf(here.documents[i]!, path, { key: true }));
    }
    expect(positionOf(there.documents[1]!, ['services', 0, 'port'])).toEqual({ line: 11, col: 11 });
  });

  it('accepts a byte-order mark and a few aliases, which are ordinary YAML', () => {
    const { documents, diagnostics } = parseSpecText('x.yaml', '\uFEFFkind: Host\nnet: &n [lan]\nagain: *n\n');
    expect(diagnostics).toEqual([]);
    expect(documents[0]!.value).toEqual({ kind: 'Host', net: ['lan'], again: ['lan'] });
  });

  it('rejects every prototype-reaching key without building the value', () => {
    const { documents, diagnostics } = parseSpecText('x.yaml', 'a:\n  constructor: 1\n  b:\n    prototype: 2\n');
    expect(documents).toEqual([]);
    expect(diagnostics.map((d) => `${d.line}:${d.col} ${d.message}`)).toEqual([
      '2:3 key "constructor" is not allowed',
      '4:5 key "prototype" is not allowed',
    ]);
  });

  it('treats a stream of only empty documents as an empty file', () => {
    expect(parseSpecText('x.yaml', '---\n---\n').diagnostics.map((d) => d.code)).toEqual(['file.empty']);
    expect(parseSpecText('x.yaml', '').diagnostics.map((d) => d.code)).toEqual(['file.empty']);
  });
});

describe('findSecretLiterals', () => {
  it('leaves public keys, references and ordinary URLs alone', () => {
    expect(
      findSecretLiterals({
        ssh: { hostKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKexample' },
        llm: { apiKey: 'secret:roles/developer/openrouter_api_key', baseUrl: 'https://openrouter.ai/api/v1' },
        tokens: 5,
        passwordless: true,
      }),
    ).toEqual([]);
  });

  it('finds secrets by field name and by shape, wherever they are', () => {
    const found = findSecretLiterals({
      db: { password: 'hunter2' },
      notes: ['-----BEGIN OPENSSH PRIVATE KEY-----', 'token ghp_abcdefghijklmnopqrstuvwxyz0123456789'],
      github_token: 12345,
    });
    expect(found.map((f) => `${f.path.join('.')} ${f.code}`)).toEqual([
      'db.password secret.literal',
      'notes.0 secret.literal',
      'notes.1 secret.literal',
      'github_token secret.literal',
    ]);
  });
  it('finds a password or token in a URL\'s query and in a key=value connection string', () => {
    const found = findSecretLiterals({
      a: 'postgres://u@db:5432/x?password=hunter2',
      b: 'https://api.example/v1?api_key=abc123&x=1',
      c: 'host=db user=u password=hunter2 dbname=x',
      d: 'https://example.com/search?q=password',
    });
    expect(found.map((f) => `${f.path.join('.')} ${f.message}`)).toEqual([
      "a value looks like a URL with a password or token in its query; secrets never go in specs",
      "b value looks like a URL with a password or token in its query; secrets never go in specs",
      'c value looks like a connection string with a password in it; secrets never go in specs',
    ]);
  });
});
