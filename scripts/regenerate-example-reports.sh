#!/usr/bin/env bash
# Regenerates the committed example reports (examples/reports/) from the example workloads
# (examples/workloads/). Run after a change to the catalog, the estimator or the report; the test
# tests/report_examples.rs fails when a committed report recommends something else than a fresh
# sizing does.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet
gpuplan=target/debug/gpuplan
out=examples/reports
mkdir -p "$out"
rm -f "$out"/*.html "$out"/*.md "$out"/*.svg "$out"/*.png
"$gpuplan" report --workload examples/workloads/moe-chat-50-users.yaml --out "$out/moe-chat-50-users.html"
"$gpuplan" report --workload examples/workloads/moe-chat-50-users.yaml --out "$out/moe-chat-50-users.md" --charts svg
"$gpuplan" report --workload examples/workloads/mini-consumer-longest-context.yaml --out "$out/mini-consumer-longest-context.html"
"$gpuplan" report --workload examples/workloads/mini-consumer-longest-context.yaml --out "$out/mini-consumer-longest-context.md" --charts png
"$gpuplan" report --workload examples/workloads/mini-api-requests-per-second.yaml --out "$out/mini-api-requests-per-second.html"
"$gpuplan" report --workload examples/workloads/moe-at-home-offload.yaml --out "$out/moe-at-home-offload.html"
