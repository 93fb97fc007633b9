#!/usr/bin/env bash
# Lint and render every Mermaid source under docs/diagrams/src/ to docs/diagrams/svg/<name>.svg
# with @mermaid-js/mermaid-cli (mmdc, from this repository's lockfile) in a headless Chrome or
# Chromium that is already installed: puppeteer never downloads one (.puppeteerrc.cjs).
#
#   bash docs/diagrams/render.sh [SRC_DIR] [SVG_DIR]
#
# Every source is rendered first into a scratch folder; if any fails (a parse error), each
# failure is printed and SVG_DIR is left exactly as it was. Otherwise an SVG is replaced only
# when its bytes change (the render is deterministic: docs/diagrams/mermaid.json), and an SVG
# whose source is gone is removed. Exit codes: 0 done, 1 a diagram failed to render, 3 setup.
# The browser: PUPPETEER_EXECUTABLE_PATH, else CHROME_BIN, else chromium or google-chrome on PATH.
set -euo pipefail
shopt -s globstar nullglob

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
src=${1:-$here/src}
out=${2:-$here/svg}
mmdc=${MMDC:-$root/node_modules/.bin/mmdc}

if [ ! -x "$mmdc" ]; then
  echo "render.sh: no mmdc at $mmdc; run npm ci first" >&2
  exit 3
fi
browser=${PUPPETEER_EXECUTABLE_PATH:-${CHROME_BIN:-}}
if [ -z "$browser" ]; then
  for candidate in chromium chromium-browser google-chrome google-chrome-stable; do
    if command -v "$candidate" >/dev/null 2>&1; then browser=$(command -v "$candidate"); break; fi
  done
fi
if [ -z "$browser" ] || [ ! -x "$browser" ]; then
  echo "render.sh: no Chrome or Chromium found; install one (Debian: apt-get install chromium) or set PUPPETEER_EXECUTABLE_PATH" >&2
  exit 3
fi
export PUPPETEER_EXECUTABLE_PATH=$browser PUPPETEER_SKIP_DOWNLOAD=true

sources=("$src"/**/*.mmd)
if [ ${#sources[@]} -eq 0 ]; then
  echo "render.sh: no .mmd files under $src" >&2
  exit 3
fi

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
declare -A seen=()
failed=0
for f in "${sources[@]}"; do
  name=$(basename "$f" .mmd)
  if [ -n "${seen[$name]:-}" ]; then
    echo "render.sh: $f and ${seen[$name]} would both render to $name.svg; rename one" >&2
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
    echo "unchanged ${out#"$root"/}/$name"
  else
    cp "$svg" "$out/$name"
    echo "rendered  ${out#"$root"/}/$name"
  fi
done
for svg in "$out"/*.svg; do
  name=$(basename "$svg" .svg)
  if [ -z "${seen[$name]:-}" ]; then
    rm -f "$svg"
    echo "removed   ${svg#"$root"/} (its source is gone)"
  fi
done
