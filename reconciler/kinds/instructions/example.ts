// The example `fleetspec init` writes into specs/instructions/ (reconciler/init/templates/specs.ts
// lists it): a core layer and a project layer whose target is the example role's home.

export const INSTRUCTIONS_EXAMPLE = {
  file: 'example-app.yaml',
  text: `# yaml-language-server: $schema=../schemas/instructions.schema.json
# Agent instructions in layers: core layers go to every target, meta layers to the targets of meta
# layers, a project's layers to its own targets. fleetspec writes them, core first, into its
# section of each target's CLAUDE.md and AGENTS.md (between <!-- fleetspec:begin/end --> markers);
# the rest of those files is the project's own and is kept as it is. Edit a core layer and one
# plan updates every target.
kind: Instructions
name: core-behaviors
# core: every target; meta: the meta-supervisor; project: one project (project: below).
layer: core
# Position within the layer, lowest first; ties go by name.
order: 10
# Markdown, written into files as data (never run). No secrets: use the secret store.
text: |
  # Core behaviors

  Take ports from your project's range; never a default port.
---
kind: Instructions
name: example-app
layer: project
# A project of specs/ports.
project: example-app
text: |
  # example-app

  Run the tests before you push.
# Where the files go: a folder of the role user's home, over the role's SSH endpoint.
targets:
  - role: operator
    dir: example-app
    # The default: both files.
    files: [CLAUDE.md, AGENTS.md]
`,
};
