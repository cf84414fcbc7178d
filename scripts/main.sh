#!/usr/bin/env bash
# The main job: set up, build, then a pre-flight check of the default model (micro, LoRA on
# query and value, world size 2). The report is printed and written to reports/runs/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh metaguard metaguard-torch  # only what the main job runs, not the test suite
mkdir -p reports/runs
build/metaguard preflight --format json --out reports/runs/preflight-micro.json "$@" || status=$?
build/metaguard preflight "$@"
echo "report: reports/runs/preflight-micro.json"
exit "${status:-0}"
