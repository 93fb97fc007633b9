// docs/diagrams/render.sh, the diagrams workflow's own lint-and-render step, run here as the
// workflow runs it: @mermaid-js/mermaid-cli from the lockfile, driving an installed Chromium
// (Debian's here, the runner's Chrome on GitHub). Its output is deterministic, a source that
// does not parse fails the run without touching svg/, and an SVG whose source is gone goes.
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM } from './chromium.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const SCRIPT = join(ROOT, 'docs', 'diagrams', 'render.sh');

let dir: string;
let src: string;
let svg: string;

const render = () =>
  new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
    const env = { ...process.env, PUPPETEER_EXECUTABLE_PATH: CHROMIUM, PUPPETEER_SKIP_DOWNLOAD: 'true' };
    const child = execFile('bash', [SCRIPT, src, svg], { cwd: ROOT, env, timeout: 120_000 }, (err, stdout, stderr) =>
      done({ code: err ? ((err as { code?: number }).code ?? 3) : 0, stdout, stderr }),
    );
    child.stdin!.end();
  });

const svgs = async () => Object.fromEntries(await Promise.all((await readdir(svg)).sort().map(async (f) => [f, await readFile(join(svg, f), 'utf8')] as const)));

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleetspec-mmdc-'));
  src = join(dir, 'src');
  svg = join(dir, 'svg');
  await cp(join(ROOT, 'docs', 'diagrams', 'src'), src, { recursive: true });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('docs/diagrams/render.sh (the diagrams workflow step)', () => {
  let first: Record<string, string>;

  it('renders every generated source to an SVG with its labels', async () => {
    const r = await render();
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n').map((l) => l.split(/\s+/)[0])).toEqual(['rendered', 'rendered', 'rendered', 'rendered']);
    first = await svgs();
    expect(Object.keys(first)).toEqual(['flow.svg', 'roles.svg', 'states.svg', 'topology.svg']);
    for (const [name, text] of Object.entries(first)) {
      expect(text.startsWith('<svg'), name).toBe(true);
      expect(text, name).not.toMatch(/Syntax error/i);
    }
    expect(first['topology.svg']).toContain('linux-home');
    expect(first['topology.svg']).toContain('api.consilio.153.se');
    expect(first['roles.svg']).toContain('deploy.production');
    expect(first['states.svg']).toContain('WAIT_FOR_APPROVE');
    expect(first['flow.svg']).toContain('Reviewer: manager');
  }, 120_000);

  it('renders the same bytes again, so an unchanged diagram makes no commit', async () => {
    const r = await render();
    expect(r.code).toBe(0);
    expect(r.stdout.match(/^unchanged /gm)).toHaveLength(4);
    expect(await svgs()).toEqual(first);
  }, 120_000);

  it('fails on a source that does not parse, names it, and leaves svg/ as it was', async () => {
    await writeFile(join(src, 'broken.mmd'), 'flowchart LR\n  a["open label --> b\n');
    const r = await render();
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`render.sh: ${join(src, 'broken.mmd')} does not render:`);
    expect(r.stderr).toMatch(/Parse error on line \d+/);
    expect(r.stderr).toContain('render.sh: nothing written to');
    expect(await svgs()).toEqual(first);
    await rm(join(src, 'broken.mmd'));
  }, 120_000);

  it('removes the SVG of a source that is gone', async () => {
    await rm(join(src, 'flow.mmd'));
    const r = await render();
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^removed +\S*flow\.svg \(its source is gone\)$/m);
    expect(Object.keys(await svgs())).toEqual(['roles.svg', 'states.svg', 'topology.svg']);
  }, 120_000);
});
