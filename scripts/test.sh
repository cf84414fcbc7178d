#!/usr/bin/env bash
# The test suite: set up (with the test dependencies), build, run every test under ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --tests
ctest --test-dir build --output-on-failure -j "$(nproc)"
