// The files of a new spec repository, and writing them without ever replacing one.
import { randomBytes } from 'node:crypto';
import { link, mkdir, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { renderSchema, schemaFileName } from '../commands/schema.js';
import { KINDS } from '../kinds/index.js';
import { POLICY_FILES } from './templates/policies.js';
import { GITIGNORE, MERMAID_JSON, PUPPETEER_JSON, RENDER_SH, readme } from './templates/repo.js';
import { EXAMPLE_SPECS } from './templates/specs.js';
import { DIAGRAMS_WORKFLOW, VALIDATE_WORKFLOW } from './templates/workflows.js';

export interface InitFile {
  /** Relative to the repository, with forward slashes. */
  path: string;
  text: string;
  mode?: number;
}

export type FileStatus = 'written' | 'kept';

/** Every file of a new spec repository but the generated ones (stacks, diagram sources) and hosts read over SSH. */
export function repositoryFiles(version: string): InitFile[] {
  const files: InitFile[] = [];
  for (const kind of KINDS) {
    const example = EXAMPLE_SPECS[kind.folder];
    // A kind without an example is a bug that test/init/ catches; it never stops init.
    if (example) files.push({ path: `specs/${kind.folder}/${example.file}`, text: example.text });
  }
  for (const kind of KINDS) files.push({ path: `specs/schemas/${schemaFileName(kind.folder)}`, text: renderSchema(kind.schema) });
  for (const [name, text] of Object.entries(POLICY_FILES)) files.push({ path: `policies/${name}`, text });
  files.push(
    { path: '.github/workflows/validate.yml', text: VALIDATE_WORKFLOW },
    { path: '.github/workflows/diagrams.yml', text: DIAGRAMS_WORKFLOW },
    { path: 'docs/diagrams/render.sh', text: RENDER_SH, mode: 0o755 },
    { path: 'docs/diagrams/mermaid.json', text: MERMAID_JSON },
    { path: 'docs/diagrams/puppeteer.json', text: PUPPETEER_JSON },
    { path: '.gitignore', text: GITIGNORE },
    { path: 'README.md', text: readme(version) },
  );
  return files;
}

/**
 * Writes `file` under `root` unless something (a file, a folder, a link, even a dangling one)
 * is there already: the text goes to a temporary file first and is hard-linked into place,
 * which fails rather than replaces, so a reader never sees half a file and nothing is lost.
 */
export async function writeNew(root: string, file: InitFile): Promise<FileStatus> {
  const target = join(root, ...file.path.split('/'));
  await mkdir(dirname(target), { recursive: true });
  const tmp = join(dirname(target), `.${randomBytes(6).toString('hex')}.fleetspec-init.tmp`);
  await writeFile(tmp, file.text, { flag: 'wx', mode: file.mode ?? 0o644 });
  try {
    await link(tmp, target);
    return 'written';
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return 'kept';
    throw error;
  } finally {
    await unlink(tmp).catch(() => {});
  }
}
