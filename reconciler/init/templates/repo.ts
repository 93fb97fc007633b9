// The repository-level files `fleetspec init` writes: README.md, .gitignore, and the diagram
// rendering script with its settings (the same rendering as fleetspec's own docs/diagrams).
import { MERMAID_CLI, PACKAGE_VARIABLE } from './workflows.js';

export const GITIGNORE = `# fleetspec's embedded state store and local run files
.fleetspec/
# Node
node_modules/
# Terraform work folders, state and saved plans (the synthesised stacks/*/cdk.tf.json are committed)
.terraform/
*.tfstate
*.tfstate.*
*.tfplan
# fleetspec plan --out files
plan.json
*.plan.json
`;

export function readme(version: string): string {
  return `# Fleet specs

The desired state of this fleet, as YAML, reconciled by fleetspec${version === 'unknown' ? '' : ` (this repository was
started with fleetspec ${version})`}. A loop validates each branch, plans it against the live
systems, opens a pull request with the plan and the policies' verdict, and applies it after an
approved merge. Nothing is applied that a person did not approve.

## Folders

| folder | what it holds |
|---|---|
| \`specs/\` | the desired state, one folder per kind: \`hosts\`, \`models\`, \`roles\`, \`tickets\`, \`ports\`, \`zones\`, \`dns\`, \`vms\`. Each holds a commented example: replace them with your own. |
| \`specs/schemas/\` | the JSON Schema of each kind, named on each spec file's first line so editors check and complete them (\`fleetspec schema --out specs/schemas\` rewrites them) |
| \`policies/\` | the rules every plan is judged by (\`fleetspec policy rules\` lists the built-in ones) |
| \`stacks/\` | the Terraform stacks synthesised from the specs (\`fleetspec stacks synth\`); the reconciler commits them to each pull request |
| \`docs/diagrams/\` | Mermaid diagrams drawn from the specs (\`fleetspec diagrams specs\`), rendered to SVG by the diagrams workflow |
| \`.github/workflows/\` | \`validate.yml\`: validate, plan offline and judge every pull request; \`diagrams.yml\`: render the diagrams |

Secrets never go in these files: a spec refers to one as \`secret:path/to/key\`, and its value
lives in fleetspec's state store (\`fleetspec secrets set path/to/key\`).

## Commands

\`\`\`sh
fleetspec validate specs          # syntax, schemas, references, secret literals, policies
fleetspec plan specs              # offline plan: exit 0 no changes, 2 changes, 1 invalid
fleetspec plan specs --live       # read hosts, models and roles over SSH too
fleetspec stacks synth            # rewrite stacks/ from the specs
fleetspec diagrams specs          # rewrite docs/diagrams/src/ from the specs
fleetspec init --from-hosts user@address[:port]   # read a host over SSH into specs/hosts/
fleetspec import specs            # write specs for what exists: DNS records, ports, models, tickets
fleetspec secrets set path/to/key # store a secret's value, read from standard input
fleetspec reconcile               # one tick of the loop
fleetspec daemon                  # the loop on a schedule
\`\`\`

\`fleetspec <command> --help\` explains each one. The offline plan needs no secrets and never
contacts a host; its state store is kept in \`.fleetspec/\` (or \`FLEETSPEC_STATE_DIR\`), or in
PostgreSQL when \`DATABASE_URL\` is set.

## The loop

Run the reconciler where it can reach the fleet (\`fleetspec daemon\`, or \`fleetspec reconcile\`
from cron), with this repository's URL, a GitHub token and the state store configured (see
fleetspec's documentation). Then:

1. Edit \`specs/\` on a branch and push it.
2. Within one tick the reconciler plans it live, commits the synthesised stacks and diagrams to
   the branch, and opens a pull request with the plan and the policies' verdict.
3. A member of a role with the \`approve\` capability (\`githubUsers:\` in \`specs/roles\`), never
   the author, approves the planned commit.
4. After the merge, the next tick applies exactly the approved plan and reports on the pull
   request. Drift between changes becomes a pull request, never a silent overwrite.

## GitHub Actions

The workflows install fleetspec from the repository variable \`${PACKAGE_VARIABLE}\` (Settings >
Secrets and variables > Actions > Variables): the URL of a fleetspec release tarball
(\`https://.../fleetspec-X.Y.Z.tgz\`) or any other spec \`npm install -g\` accepts. Pin a
release, so every run checks with the same fleetspec. \`diagrams.yml\` needs no fleetspec; it
renders with \`${MERMAID_CLI}\` and the runner's Chrome.

## Documentation

fleetspec's documentation is its README and \`docs/\` (\`docs/security.md\`, \`docs/deploy/\`, also
installed with the package under \`$(npm root -g)/fleetspec/\`), and \`fleetspec --help\`.
`;
}

export const RENDER_SH = `#!/usr/bin/env bash
# Lint and render every Mermaid source under docs/diagrams/src/ to docs/diagrams/svg/<name>.svg
# with the Mermaid CLI (mmdc: MMDC, else on PATH; npm install -g ${MERMAID_CLI}) in a headless
# Chrome or Chromium that is already installed.
#
#   bash docs/diagrams/render.sh [SRC_DIR] [SVG_DIR]
#
# Every source is rendered first into a scratch folder; if any fails, each failure is printed
# and SVG_DIR is left as it was. Otherwise an SVG is replaced only when its bytes change, and an
# SVG whose source is gone is removed. Exit codes: 0 done, 1 a diagram failed to render, 3 setup.
# The browser: PUPPETEER_EXECUTABLE_PATH, else CHROME_BIN, else chromium or google-chrome on PATH.
set -euo pipefail
shopt -s globstar nullglob

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
src=\${1:-$here/src}
out=\${2:-$here/svg}
mmdc=\${MMDC:-$(command -v mmdc || true)}

if [ -z "$mmdc" ] || [ ! -x "$mmdc" ]; then
  echo "render.sh: no mmdc; npm install -g ${MERMAID_CLI}, or set MMDC" >&2
  exit 3
fi
browser=\${PUPPETEER_EXECUTABLE_PATH:-\${CHROME_BIN:-}}
if [ -z "$browser" ]; then
  for candidate in chromium chromium-browser google-chrome google-chrome-stable; do
    if command -v "$candidate" >/dev/null 2>&1; then browser=$(command -v "$candidate"); break; fi
  done
fi
if [ -z "$browser" ] || [ ! -x "$browser" ]; then
  echo "render.sh: no Chrome or Chromium found; install one or set PUPPETEER_EXECUTABLE_PATH" >&2
  exit 3
fi
export PUPPETEER_EXECUTABLE_PATH=$browser PUPPETEER_SKIP_DOWNLOAD=true

sources=("$src"/**/*.mmd)
if [ \${#sources[@]} -eq 0 ]; then
  echo "render.sh: no .mmd files under $src (fleetspec diagrams specs writes them)" >&2
  exit 3
fi

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
declare -A seen=()
failed=0
for f in "\${sources[@]}"; do
  name=$(basename "$f" .mmd)
  if [ -n "\${seen[$name]:-}" ]; then
    echo "render.sh: $f and \${seen[$name]} would both render to $name.svg; rename one" >&2
    failed=1
    continue
  fi
  seen[$name]=$f
  if ! "$mmdc" --quiet -p "$here/puppeteer.json" -c "$here/mermaid.json" -i "$f" -o "$scratch/$name.svg" >"$scratch/$name.log" 2>&1; then
    echo "render.sh: $f does not render:" >&2
    grep -v '^    at ' "$scratch/$name.log" | sed 's/^/  /' >&2
    failed=1
  fi
done
if [ "$failed" -ne 0 ]; then
  echo "render.sh: nothing written to $out" >&2
  exit 1
fi

mkdir -p "$out"
for svg in "$scratch"/*.svg; do
  name=$(basename "$svg")
  if cmp -s "$svg" "$out/$name"; then
    echo "unchanged \${out#"$root"/}/$name"
  else
    cp "$svg" "$out/$name"
    echo "rendered  \${out#"$root"/}/$name"
  fi
done
for svg in "$out"/*.svg; do
  name=$(basename "$svg" .svg)
  if [ -z "\${seen[$name]:-}" ]; then
    rm -f "$svg"
    echo "removed   \${svg#"$root"/} (its source is gone)"
  fi
done
`;

/** Deterministic rendering, so an SVG changes only when its diagram does. */
export const MERMAID_JSON = JSON.stringify({ deterministicIds: true, deterministicIDSeed: 'fleetspec', handDrawnSeed: 1, maxTextSize: 1000000, maxEdges: 5000 }, null, 2) + '\n';

/** Chrome's flags on CI runners (no user namespaces for its sandbox there). */
export const PUPPETEER_JSON =
  JSON.stringify({ args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic'] }, null, 2) + '\n';
