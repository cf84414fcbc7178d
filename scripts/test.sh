#!/usr/bin/env bash
# The test suite: set up (with the test dependencies), build, run every test under ctest,
# then the checkpoint parser's tests again under AddressSanitizer and UBSan.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --tests
ctest --test-dir build --output-on-failure -j "$(nproc)"
scripts/sanitize-checkpoint.sh
