#!/usr/bin/env bash
# Renders every example workload (examples/workloads/*.yaml) as an HTML report and loads each page in
# a real headless Chromium. Fails when Chromium logs a console message, a JavaScript error or a
# failed load, or when the rendered DOM lacks the report's parts (recommendation, ranked options,
# four inline SVG charts). Also prints each page to PDF, to check it is printable.
#
#   scripts/check-report-html.sh            # uses target/debug/gpuplan (builds it if missing)
#   GPUPLAN=path/to/gpuplan CHROMIUM=/usr/bin/chromium scripts/check-report-html.sh
#   scripts/check-report-html.sh more.yaml page.html   # also these workloads / existing pages
#                                                      # (a broken page shows the check fails)
#
# Needs Chromium (Debian: apt-get install -y chromium). Exit codes: 0 all pages clean, 1 a page
# failed, 2 Chromium not found. Output (pages, DOM dumps, logs, PDFs) stays in $OUT_DIR (default: a
# temporary directory, printed at the end).
set -euo pipefail
cd "$(dirname "$0")/.."

CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)}
if [ -z "$CHROMIUM" ]; then
  echo "check-report-html: chromium not found (apt-get install -y chromium); skipped" >&2
  exit 2
fi
GPUPLAN=${GPUPLAN:-target/debug/gpuplan}
if [ ! -x "$GPUPLAN" ]; then
  cargo build --quiet
fi
OUT_DIR=${OUT_DIR:-$(mktemp -d)}
mkdir -p "$OUT_DIR"

# the flags this sandbox needs: no sandbox as root, no GPU, no background network traffic
flags=(--headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update
       --disable-sync --no-first-run --disable-quic --enable-logging=stderr --v=0)

status=0
for input in examples/workloads/*.yaml "$@"; do
  [ -f "$input" ] || continue
  case "$input" in
    *.html|*.htm)
      name=$(basename "${input%.*}")
      page="$input" ;;
    *)
      name=$(basename "$input" .yaml)
      page="$OUT_DIR/$name.html"
      "$GPUPLAN" report --workload "$input" --out "$page" > /dev/null ;;
  esac
  profile=$(mktemp -d)
  # --dump-dom prints the DOM after load; console messages and load errors go to the log
  timeout 60 "$CHROMIUM" "${flags[@]}" --user-data-dir="$profile" --dump-dom "file://$(realpath "$page")" \
    > "$OUT_DIR/$name.dom.html" 2> "$OUT_DIR/$name.log" || { echo "FAIL $name: chromium exited with $?"; status=1; }
  timeout 60 "$CHROMIUM" "${flags[@]}" --user-data-dir="$profile" --no-pdf-header-footer \
    --print-to-pdf="$OUT_DIR/$name.pdf" "file://$(realpath "$page")" 2>> "$OUT_DIR/$name.log" > /dev/null || true
  rm -rf "$profile"

  problems=()
  # console messages log as "INFO:CONSOLE:<line>]" (older builds: "CONSOLE(<line>)")
  if grep -E ":CONSOLE[:(]|Uncaught|net::ERR_|Failed to load" "$OUT_DIR/$name.log" > "$OUT_DIR/$name.errors"; then
    problems+=("console/load errors: $(head -3 "$OUT_DIR/$name.errors" | tr '\n' ' ')")
  fi
  dom="$OUT_DIR/$name.dom.html"
  svgs=$( (grep -o '<svg' "$dom" || true) | wc -l)
  [ "$svgs" -ge 4 ] || problems+=("expected 4 inline SVG charts, found $svgs")
  for id in chart-memory chart-context chart-decode chart-cost; do
    grep -q "id=\"$id\"" "$dom" || problems+=("missing figure #$id")
  done
  grep -q "<h2>Recommendation</h2>" "$dom" || problems+=("missing the Recommendation section")
  grep -q "<h2>Options, ranked</h2>" "$dom" || problems+=("missing the ranked options")
  grep -q "<script" "$dom" && problems+=("the page carries a script")
  # self-contained: nothing to load (a missing local file is not logged, so no loads at all)
  grep -qE "<(img|link|iframe|object|embed)[ >]|src=\"|url\(" "$dom" && problems+=("the page loads a resource")
  [ -s "$OUT_DIR/$name.pdf" ] && head -c 5 "$OUT_DIR/$name.pdf" | grep -q "%PDF-" || problems+=("printing to PDF failed")

  if [ ${#problems[@]} -eq 0 ]; then
    echo "ok   $name: $svgs inline SVG charts, no console errors, printed to $(stat -c %s "$OUT_DIR/$name.pdf") bytes of PDF"
  else
    status=1
    for p in "${problems[@]}"; do echo "FAIL $name: $p"; done
  fi
done
echo "pages, DOM dumps, logs and PDFs: $OUT_DIR"
exit $status
