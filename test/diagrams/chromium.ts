// Renders Mermaid sources in real headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core), with the mermaid bundle from node_modules: what a reader's browser does
// with the SVGs on GitHub, minus the network. No browser is ever downloaded.
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env.FLEETSPEC_CHROMIUM ?? '/usr/bin/chromium';

/** Headless, no sandbox (tests run as root), and none of the background calls to Google's hosts. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
];

const require = createRequire(import.meta.url);
const MERMAID = require.resolve('mermaid/dist/mermaid.min.js');
export const MERMAID_VERSION = (require('mermaid/package.json') as { version: string }).version;
/** The configuration mmdc renders with in the diagrams workflow (deterministic ids and shapes). */
const CONFIG = JSON.parse(readFileSync(join(repositoryRoot(), 'docs', 'diagrams', 'mermaid.json'), 'utf8')) as Record<string, unknown>;

/** The repository holding this file, from test/diagrams/ or, compiled for bench/, dist/test/diagrams/. */
function repositoryRoot(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, 'docs', 'diagrams', 'mermaid.json'))) return dir;
  }
  throw new Error('docs/diagrams/mermaid.json not found above test/diagrams/');
}

export type Rendered =
  | {
      ok: true;
      svg: string;
      /** Every text node of the SVG, trimmed: one entry per label line. */
      texts: string[];
      /** The SVG's laid-out size, in CSS pixels. */
      width: number;
      height: number;
      /** Elements mermaid draws for a syntax error, and any <script> that got through. */
      errorMarks: number;
      scripts: number;
    }
  | { ok: false; error: string };

export interface MermaidPage {
  render(source: string): Promise<Rendered>;
  close(): Promise<void>;
}

export async function openMermaid(): Promise<MermaidPage> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: install Debian's chromium (apt-get install chromium), or set FLEETSPEC_CHROMIUM`);
  }
  const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
  try {
    const page: Page = await browser.newPage();
    // Nothing leaves the machine: the page is inline and every request is refused.
    await page.route('**/*', (route) => route.abort());
    await page.setContent('<!doctype html><html><head><meta charset="utf-8"></head><body></body></html>');
    await page.addScriptTag({ path: MERMAID });
    const ready = await page.evaluate((config) => {
      const m = (globalThis as any).mermaid;
      m?.initialize({ ...config, startOnLoad: false, securityLevel: 'strict' });
      return typeof m?.render === 'function';
    }, CONFIG);
    if (!ready) throw new Error(`mermaid did not load from ${MERMAID}`);
    let n = 0;
    return {
      render: (source) =>
        page.evaluate(
          async ({ id, source }) => {
            // Runs in the page: the DOM is reached through globalThis, as Node's types do not know it.
            const m = (globalThis as any).mermaid;
            const doc = (globalThis as any).document;
            try {
              await m.parse(source);
              const { svg } = await m.render(id, source);
              const holder = doc.createElement('div');
              holder.innerHTML = svg;
              doc.body.replaceChildren(holder);
              const el = holder.querySelector('svg');
              const texts: string[] = [];
              const walker = doc.createTreeWalker(el, 4 /* NodeFilter.SHOW_TEXT */);
              for (let node = walker.nextNode(); node; node = walker.nextNode()) {
                if (node.parentElement?.closest('style')) continue;
                const t = String(node.textContent ?? '').trim();
                if (t) texts.push(t);
              }
              const box = el.getBoundingClientRect();
              return {
                ok: true as const,
                svg,
                texts,
                width: box.width as number,
                height: box.height as number,
                // A syntax error's marks, or the stand-in graph mermaid draws for a source over maxTextSize.
                errorMarks: (el.querySelectorAll('.error-icon, .error-text').length as number) + texts.filter((t) => t === 'Maximum text size in diagram exceeded').length,
                scripts: el.querySelectorAll('script').length as number,
              };
            } catch (err) {
              return { ok: false as const, error: err instanceof Error ? err.message : String(err) };
            }
          },
          { id: `diagram${++n}`, source },
        ),
      close: () => browser.close(),
    };
  } catch (err) {
    await browser.close();
    throw err;
  }
}
