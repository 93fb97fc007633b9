// The GitHub workflows of a spec repository. Unlike fleetspec's own (which build it from its
// source), these install the fleetspec release that the repository variable FLEETSPEC_PACKAGE
// names: a release tarball URL, or anything else `npm install -g` takes.

/** The repository variable naming the fleetspec release the workflows install. */
export const PACKAGE_VARIABLE = 'FLEETSPEC_PACKAGE';

/** The Mermaid CLI the diagrams workflow renders with (the major version fleetspec's own diagrams are tested with). */
export const MERMAID_CLI = '@mermaid-js/mermaid-cli@11';

export const VALIDATE_WORKFLOW = `# On every pull request (and push to main): install fleetspec, validate the specs, plan
# offline, judge the plan by the policies, and check that the committed stacks and diagrams
# match the specs. No secrets are needed or read: the offline plan uses an embedded state
# store and never contacts a host.
#
# The repository variable ${PACKAGE_VARIABLE} names the fleetspec release to install: a release
# tarball URL (https://.../fleetspec-X.Y.Z.tgz) or another npm install spec. Set it under
# Settings > Secrets and variables > Actions > Variables.
name: validate
on:
  pull_request:
  push:
    branches: [main]
permissions:
  contents: read
concurrency:
  group: validate-\${{ github.event.pull_request.number || github.ref }}
  cancel-in-progress: true
jobs:
  validate:
    runs-on: ubuntu-latest
    timeout-minutes: 15
    env:
      NO_COLOR: '1'
      ${PACKAGE_VARIABLE}: \${{ vars.${PACKAGE_VARIABLE} }}
    steps:
      # The embedded state store lives outside the checkout (job-level env cannot name runner.temp).
      - name: State store folder
        run: echo "FLEETSPEC_STATE_DIR=$RUNNER_TEMP/fleetspec-state" >> "$GITHUB_ENV"
      - uses: actions/checkout@v4
      - uses: actions/setup-node@v4
        with:
          node-version: '20'
      - name: Install fleetspec
        run: |
          if [ -z "$${PACKAGE_VARIABLE}" ]; then
            echo "::error::set the repository variable ${PACKAGE_VARIABLE} to the fleetspec release to install (a release tarball URL or an npm install spec)"
            exit 1
          fi
          npm install -g --no-audit --no-fund "$${PACKAGE_VARIABLE}"
          fleetspec --version
      # As the reconciler does: a pull request is judged by its base branch's policies, so it
      # cannot loosen the rules that judge it.
      - name: Use the base branch's policies
        if: github.event_name == 'pull_request'
        env:
          BASE_REF: \${{ github.base_ref }}
        run: |
          git fetch --no-tags --depth=1 origin "refs/heads/$BASE_REF"
          base="$RUNNER_TEMP/base"
          mkdir -p "$base/policies"
          if git cat-file -e FETCH_HEAD:policies 2>/dev/null; then
            git archive FETCH_HEAD policies | tar -x -C "$base"
          fi
          echo "FLEETSPEC_POLICIES=$base/policies" >> "$GITHUB_ENV"
      - name: Validate the specs
        run: fleetspec validate specs --policies "\${FLEETSPEC_POLICIES:-policies}"
      - name: Plan offline
        # Exit code 2 means the plan has changes: expected on a pull request, not a failure.
        run: |
          code=0
          fleetspec plan specs --policies "\${FLEETSPEC_POLICIES:-policies}" --out "$RUNNER_TEMP/plan.json" --format markdown > "$RUNNER_TEMP/plan.md" || code=$?
          cat "$RUNNER_TEMP/plan.md"
          cat "$RUNNER_TEMP/plan.md" >> "$GITHUB_STEP_SUMMARY"
          [ "$code" -eq 0 ] || [ "$code" -eq 2 ]
      - name: Judge the plan by the policies
        run: fleetspec policy check "$RUNNER_TEMP/plan.json" --specs specs --policies "\${FLEETSPEC_POLICIES:-policies}"
      # The reconciler commits these to a pull request's branch; by hand: fleetspec stacks synth,
      # fleetspec diagrams specs.
      - name: The synthesised stacks match the specs
        run: fleetspec stacks synth --specs specs --check
      - name: The diagrams match the specs
        run: fleetspec diagrams specs --check
`;

export const DIAGRAMS_WORKFLOW = `# Render every Mermaid source in docs/diagrams/src/ to docs/diagrams/svg/ and commit the SVGs
# back. \`fleetspec diagrams specs\` (and the reconciler, in the pull requests it opens) writes the
# sources from specs/; this workflow only lints and renders them, with docs/diagrams/render.sh.
#
# SVGs are committed on main only: a commit made with GITHUB_TOKEN starts no workflow, so one on
# a pull request's branch would leave its head without a validate run.
name: diagrams
on:
  push:
    branches: [main]
    paths:
      - 'docs/diagrams/src/**'
      - 'docs/diagrams/*.json'
      - 'docs/diagrams/render.sh'
      - '.github/workflows/diagrams.yml'
  # On a pull request the diagrams are linted and rendered, not committed.
  pull_request:
    paths:
      - 'docs/diagrams/src/**'
      - 'docs/diagrams/*.json'
      - 'docs/diagrams/render.sh'
      - '.github/workflows/diagrams.yml'
  workflow_dispatch:
permissions:
  contents: write
concurrency:
  group: diagrams-\${{ github.ref }}
  cancel-in-progress: true
jobs:
  render:
    runs-on: ubuntu-latest
    timeout-minutes: 15
    env:
      # mmdc drives the runner's own Chrome; puppeteer must not download another.
      PUPPETEER_SKIP_DOWNLOAD: 'true'
      MERMAID_CLI: '${MERMAID_CLI}'
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-node@v4
        with:
          node-version: '20'
      - name: Install the Mermaid CLI
        run: npm install -g --no-audit --no-fund "$MERMAID_CLI"
      - name: Lint and render every .mmd
        run: bash docs/diagrams/render.sh
      - name: Commit the SVGs
        if: github.event_name != 'pull_request'
        uses: stefanzweifel/git-auto-commit-action@v5
        with:
          commit_message: 'docs(diagrams): render SVGs'
          file_pattern: 'docs/diagrams/svg/*.svg'
          commit_user_name: fleetspec-diagrams
          commit_user_email: fleetspec-diagrams@users.noreply.github.com
`;
