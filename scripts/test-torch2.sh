#!/usr/bin/env bash
# The test suite against a PyTorch 2.x wheel's LibTorch with the CUDA and NCCL code compiled
# in (scripts/setup-torch2.sh): every test runs on the CPU (the wheel loads without a
# driver); tests that need a GPU skip, saying why. Interop tests use the wheel's python.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-torch2.sh --tests
ctest --test-dir build-torch2 --output-on-failure -j "$(nproc)"
