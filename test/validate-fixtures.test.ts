// The corpus of broken specs: each fixture folder must fail with exactly these
// problems, at exactly these places, and `fleetspec validate` must exit 1 on it.
import { execFileSync } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bufferOutput } from '../reconciler/commands/output.js';
import { run } from '../reconciler/program.js';
import { loadSpecs } from '../reconciler/specs/load.js';
import { LIMITS, readSpecFile } from '../reconciler/specs/source.js';
import { line } from './helpers.js';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'broken');

const cases: Record<string, { code: string; lines: string[] }> = {
  'yaml-syntax': {
    code: 'yaml.bad-indent',
    lines: ['hosts/ai.yaml:4:1: YAML: Flow sequence in block collection must be sufficiently indented and end with a ]'],
  },
  'duplicate-key': { code: 'yaml.duplicate-key', lines: ['hosts/ai.yaml:4:1: duplicate key "name"'] },
  'alias-bomb': {
    code: 'yaml.alias-limit',
    lines: [
      'hosts/ai.yaml:6:9: aliases expand past the limit of 100 (Excessive alias count indicates a resource exhaustion attack)',
    ],
  },
  'proto-key': { code: 'yaml.forbidden-key', lines: ['hosts/ai.yaml:4:1: key "__proto__" is not allowed'] },
  'invalid-utf8': { code: 'file.encoding', lines: ['hosts/ai.yaml:4:15: invalid UTF-8 (byte 0xe9 at offset 54)'] },
  'empty-file': { code: 'file.empty', lines: ['hosts/ai.yaml:1:1: file holds no spec (it is empty or only comments)'] },
  'no-specs': { code: 'path.no-specs', lines: ['.:1:1: no spec files (*.yaml, *.yml) in this directory'] },
  'not-a-mapping': { code: 'spec.not-a-mapping', lines: ['hosts/ai.yaml:1:1: a spec is a mapping with kind: and name:, not a list'] },
  'missing-kind': { code: 'spec.missing-kind', lines: ['hosts/ai.yaml:1:1: missing "kind"'] },
  'unknown-kind': { code: 'spec.unknown-kind', lines: ['hosts/ai.yaml:1:7: unknown kind "Hots"'] },
  'missing-field': { code: 'schema.missing-field', lines: ['hosts/ai.yaml:1:1 hosts/ai: missing required field "address"'] },
  'unknown-field': { code: 'schema.unknown-field', lines: ['hosts/ai.yaml:3:1 hosts/ai: unknown field "adress"'] },
  'wrong-type': { code: 'schema.wrong-type', lines: ['hosts/ai.yaml:6:11 hosts/ai: expected a whole number, got string "11434"'] },
  'bad-size': { code: 'schema.bad-format', lines: ['hosts/ai.yaml:5:9 hosts/ai: "32 gigs" is not in the expected format'] },
  'port-out-of-range': { code: 'schema.out-of-range', lines: ['hosts/ai.yaml:6:11 hosts/ai: 70000 must be <= 65535'] },
  'bad-enum': { code: 'schema.not-allowed', lines: ['models/m.yaml:3:10 models/qwen2.5:7b: "olama" is not one of: ollama, llama.cpp, api'] },
  'bad-vm-zone': { code: 'schema.bad-format', lines: ['vms/vm.yaml:5:7 vms/supervisor-vm: "us-central1" is not in the expected format'] },
  'ticket-bad-id': { code: 'schema.bad-format', lines: ['tickets/T-1.yaml:2:5 tickets/T-1: "T-1" is not in the expected format'] },
  'duplicate-list-item': { code: 'schema.duplicate-item', lines: ['roles/developer.yaml:7:41 roles/developer: "tickets.work" is listed twice'] },
  'model-unknown-host': { code: 'ref.unknown-host', lines: ['models/m.yaml:3:7 models/qwen2.5:7b@AI: unknown host "AI"'] },
  'local-model-without-host': {
    code: 'ref.missing-host',
    lines: ['models/m.yaml:3:10 models/qwen2.5:7b: an ollama model needs the host that serves it'],
  },
  'ticket-unknown-role': { code: 'ref.unknown-role', lines: ['tickets/T-0001.yaml:5:11 tickets/T-0001: unknown role "devloper"'] },

  'allocation-collision': {
    code: 'ref.allocation-collision',
    lines: ['ports/consilio.yaml:8:11 ports/consilio: port 4001 is already allocated to service "api"'],
  },



  'dns-unknown-zone': {
    code: 'ref.unknown-zone',
    lines: ['dns/api.yaml:3:7 dns/api.consilio.153.se: unknown zone "153.se"'],
  },
  'dns-not-through-tunnel': {
    code: 'ref.not-through-tunnel',
    lines: ['dns/api.yaml:5:9 dns/api.consilio.153.se: routed to consilio/api but points at "origin.153.se", not the tunnel\'s hostname "tunnel.153.se"'],
  },
  'dns-outside-zone': {
    code: 'ref.outside-zone',
    lines: ['dns/api.yaml:2:7 dns/api.consilio.example.org: "api.consilio.example.org" is not inside zone "153.se"'],
  },
  'duplicate-name': {
    code: 'spec.duplicate-name',
    lines: ['hosts/ai.yaml:2:7 hosts/ai: hosts/ai is already defined at FIXTURE/hosts/ai-copy.yaml:3:7'],
  },
  'secret-literal': {
    code: 'secret.literal',
    lines: ['roles/developer.yaml:10:11 roles/developer: "apiKey" holds a literal value; secrets never go in specs'],
  },
  'secret-in-url': {
    code: 'secret.literal',
    lines: ['hosts/ai.yaml:5:5 hosts/ai: value looks like a URL with a password in it; secrets never go in specs'],
  },
  'secret-bad-reference': {
    code: 'secret.bad-reference',
    lines: ['roles/developer.yaml:10:11 roles/developer: malformed secret reference "secret:OpenRouter"'],
  },
  'capability-conflict': {
    code: 'ref.capability-conflict',
    lines: ['roles/developer.yaml:7:30 roles/developer: capability "deploy.production" is both granted and denied'],
  },
  'role-port-collision': {
    code: 'ref.port-collision',
    lines: ['roles/b.yaml:6:9 roles/monitor: SSH port 2200 is already used by roles/developer'],
  },
  'host-service-port-collision': {
    code: 'ref.port-collision',
    lines: ['hosts/ai.yaml:8:11 hosts/ai: port 8000 is already used by service "stt" on this host'],
  },
  'tab-indent': { code: 'yaml.tab-as-indent', lines: ['hosts/ai.yaml:5:1: YAML: Tabs are not allowed as indentation'] },
  'custom-tag': { code: 'yaml.tag-resolve-failed', lines: ['hosts/ai.yaml:4:5: YAML: Unresolved tag: tag:yaml.org,2002:js/function'] },
};

describe('broken spec fixtures', () => {
  it('covers at least 25 kinds of mistake', () => {
    expect(Object.keys(cases).length).toBeGreaterThanOrEqual(25);
  });

  for (const [name, expected] of Object.entries(cases)) {
    it(`${name}: reports exactly the expected problem and location`, async () => {
      const dir = join(FIXTURES, name);
      const loaded = await loadSpecs(dir);
      const lines = loaded.diagnostics.map((d) => line(d, dir).replace(dir, 'FIXTURE'));
      expect(lines).toEqual(expected.lines);
      expect(loaded.diagnostics[0]!.code).toBe(expected.code);
      expect(loaded.diagnostics[0]!.hint, 'every problem says what to do').toBeTruthy();

      const out = bufferOutput();
      expect(await run(['validate', dir], out)).toBe(1);
      expect(out.out.join('\n')).toContain(`:${loaded.diagnostics[0]!.line}:${loaded.diagnostics[0]!.col}`);
    });
  }

  it('refuses a file over the size limit before parsing it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fleetspec-'));
    await mkdir(join(dir, 'hosts'));
    await writeFile(join(dir, 'hosts', 'big.yaml'), 'kind: Host\nnotes:\n' + '  - padding\n'.repeat(LIMITS.maxFileBytes / 10));
    const loaded = await loadSpecs(dir);
    expect(loaded.diagnostics.map((d) => d.code)).toEqual(['file.too-large']);
    expect(loaded.diagnostics[0]!.message).toMatch(/over the 1048576-byte limit/);
  });

  it('says a spec path that is not a regular file is one, without waiting for a writer', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fleetspec-'));
    const fifo = join(dir, 'pipe.yaml');
    execFileSync('mkfifo', [fifo]);
    // The file listing skips what is not a file; one swapped in after it (a race) reaches the
    // reader, which must not open it the blocking way: a FIFO would wait for a writer forever.
    const read = readSpecFile(fifo);
    expect(read.diagnostics.map((d) => d.code)).toEqual(['file.not-regular']);
    expect(read.documents).toEqual([]);
    await rm(dir, { recursive: true, force: true });
  });

  it('reports a missing path as invalid input, not a crash', async () => {
    const out = bufferOutput();
    expect(await run(['validate', join(FIXTURES, 'does-not-exist')], out)).toBe(1);
    expect(out.out.join('\n')).toContain('no such file or directory');
  });

  it('reports every problem of a run, across files and kinds, in file order', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fleetspec-'));
    await mkdir(join(dir, 'hosts'));
    await mkdir(join(dir, 'models'));
    await writeFile(join(dir, 'hosts', 'ai.yaml'), 'kind: Host\nname: ai\nadress: x\n');
    await writeFile(join(dir, 'models', 'm.yaml'), 'kind: Model\nname: a\nhost: ai\nruntime: ollama\n---\nkind: Model\nname: b\nruntime: olama\n');
    const loaded = await loadSpecs(dir);
    expect(loaded.diagnostics.map((d) => line(d, dir))).toEqual([
      'hosts/ai.yaml:1:1 hosts/ai: missing required field "address"',
      'hosts/ai.yaml:3:1 hosts/ai: unknown field "adress"',
      'models/m.yaml:8:10 models/b: "olama" is not one of: ollama, llama.cpp, api',
    ]);
  });
});
