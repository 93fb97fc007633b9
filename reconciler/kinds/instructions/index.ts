import { kindSchema, ref } from '../common.js';
import { defineKind, type Finding } from '../kind.js';
import { missingReference } from '../references.js';
import { ENV_FILE_DESCRIPTION, ENV_FILE_PATTERN } from '../roles/files.js';
import { LAYERS, MARKER_WORD, type LayerKind } from './assemble.js';

/** Where an assembled instructions file is written: files in a folder of a role user's home, over the role's SSH. */
export interface InstructionsTarget {
  role: string;
  /** Folder relative to the role user's home; absent: the home itself. */
  dir?: string;
  /** File names in that folder; default CLAUDE.md and AGENTS.md. */
  files?: string[];
}

export interface Instructions {
  kind: 'Instructions';
  name: string;
  layer: LayerKind;
  /** The project a project layer belongs to (a project of specs/ports). */
  project?: string;
  order?: number;
  description?: string;
  /** Markdown, written into the target files (never run). */
  text: string;
  /** Targets owned by this meta or project layer: each gets core + this layer's scope. */
  targets?: InstructionsTarget[];
}

export const DEFAULT_FILES = ['CLAUDE.md', 'AGENTS.md'] as const;
export const DEFAULT_ORDER = 100;
/** The largest layer text, in characters: it is copied into every target file. */
export const MAX_TEXT = 32_768;

/** A plain Markdown file name: no folder, no dot or dash first (so no `..`, no option), ending .md. */
export const FILE_NAME_PATTERN = '^[A-Za-z0-9_][A-Za-z0-9._-]{0,95}\\.md$';

const schema = kindSchema(
  'instructions',
  'Instructions',
  "One layer of agent instructions: core layers go to every target, meta layers to the meta-supervisor's targets, a project's layers to that project's targets. fleetspec assembles each target's CLAUDE.md / AGENTS.md section from them; text outside its markers is kept.",
  {
    required: ['kind', 'name', 'layer', 'text'],
    properties: {
      kind: { const: 'Instructions' },
      name: ref('name', 'the layer, such as core-behaviors or consilio'),
      layer: { enum: [...LAYERS], description: 'core: every target; meta: the targets of meta layers; project: the targets of layers of the same project' },
      project: ref('name', 'project layers: the project (a PortRange name in specs/ports, such as consilio)'),
      order: { type: 'integer', minimum: 0, maximum: 10000, description: `position within its layer, lowest first (default ${DEFAULT_ORDER}); ties go by name` },
      description: ref('text'),
      text: {
        type: 'string',
        minLength: 1,
        maxLength: MAX_TEXT,
        description: `the layer's Markdown, at most ${MAX_TEXT} characters; written into files as data, never run. It may not contain fleetspec's markers (fleetspec:begin / fleetspec:end)`,
      },
      targets: {
        type: 'array',
        minItems: 1,
        description: "meta and project layers: where the assembled files go. Core layers have none: they reach every target",
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['role'],
          properties: {
            role: ref('name', 'the role (specs/roles) whose home holds the files; written over its SSH endpoint'),
            dir: { type: 'string', pattern: ENV_FILE_PATTERN, description: ENV_FILE_DESCRIPTION.replace('the .env file', 'the folder').replace(' (default .env), such as app/.env', ', such as supervisor/consilio (default: the home)') },
            files: {
              type: 'array',
              minItems: 1,
              uniqueItems: true,
              description: 'the files to write in that folder (default CLAUDE.md and AGENTS.md)',
              items: { type: 'string', pattern: FILE_NAME_PATTERN, description: 'a plain Markdown file name such as CLAUDE.md: no folder, not starting with a dot or dash' },
            },
          },
        },
      },
    },
  },
);

/** The files of one target, relative to the role user's home. */
export function targetFiles(target: InstructionsTarget): string[] {
  return (target.files ?? [...DEFAULT_FILES]).map((f) => (target.dir ? `${target.dir}/${f}` : f));
}

/** Layers that share targets: meta layers, or the layers of one project. */
export const scopeOf = (i: Instructions): string | undefined => (i.layer === 'meta' ? 'meta' : i.layer === 'project' ? `project:${i.project}` : undefined);

export const instructions = defineKind<Instructions>({
  kind: 'Instructions',
  folder: 'instructions',
  description: 'layered agent instructions (core, meta, project) assembled into CLAUDE.md / AGENTS.md in roles\' homes',
  schema,
  nameOf: (i) => i.name,
  namePath: ['name'],
  references(resource, index) {
    const { value } = resource;
    const findings: Finding[] = [];
    if (value.layer === 'project' && value.project === undefined) {
      findings.push({ code: 'instructions.project-missing', path: ['layer'], message: 'a project layer names its project', hint: 'add project: <name>, a project of specs/ports such as consilio' });
    }
    if (value.layer !== 'project' && value.project !== undefined) {
      findings.push({ code: 'instructions.project-unused', path: ['project'], atKey: true, message: `project: is for project layers; this is a ${value.layer} layer`, hint: 'remove project:, or set layer: project' });
    }
    const project = value.layer === 'project' ? missingReference(index, 'ports', value.project, ['project']) : undefined;
    if (project) findings.push(project);
    if (value.layer === 'core' && value.targets) {
      findings.push({ code: 'instructions.core-targets', path: ['targets'], atKey: true, message: 'a core layer reaches every target; it has no targets of its own', hint: 'move the targets to a meta or project layer' });
    }
    const marker = new RegExp(MARKER_WORD.source, 'i').exec(value.text);
    if (marker) {
      findings.push({
        code: 'instructions.marker',
        path: ['text'],
        message: `text contains "${marker[0]}" (on line ${value.text.slice(0, marker.index).split('\n').length} of the text), fleetspec's section marker: it could end or open the section in the files it is written to`,
        hint: 'reword it (for example "fleetspec begin"); fleetspec escapes it anyway, but refuses it here',
      });
    }
    (value.targets ?? []).forEach((target, i) => {
      const role = missingReference(index, 'roles', target.role, ['targets', i, 'role']);
      if (role) findings.push(role);
    });
    // Each file has one owner: the first layer (in load order) that lists it.
    const mine = new Map<string, number>();
    (value.targets ?? []).forEach((t, i) => targetFiles(t).forEach((f) => mine.set(`${t.role}\0${f}`, mine.get(`${t.role}\0${f}`) ?? i)));
    for (const other of index.all('instructions')) {
      if (other === resource) break;
      for (const t of (other.value as Instructions).targets ?? []) {
        for (const f of targetFiles(t)) {
          const i = mine.get(`${t.role}\0${f}`);
          if (i === undefined) continue;
          findings.push({ code: 'instructions.target-twice', path: ['targets', i], message: `~/${f} of role ${t.role} is already a target of ${other.label}`, hint: 'list each file once: give it to one meta or project layer' });
          mine.delete(`${t.role}\0${f}`);
        }
      }
    }
    return findings;
  },
});
