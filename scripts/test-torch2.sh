#!/usr/bin/env bash
# The test suite against a PyTorch 2.x wheel's LibTorch with the CUDA and NCCL code compiled
# in (scripts/setup.sh --torch2): every test runs on the CPU (the wheel loads without a
# driver); tests that need a GPU skip, saying why. Interop tests use the wheel's python.
# Then the Python package, built against the same wheel, and its tests (tests/python).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --tests --torch2
ctest --test-dir build-torch2 --output-on-failure -j "$(nproc)"
python="$(scripts/install-python-module.sh)"
METAGUARD_CLI="$PWD/build-torch2/metaguard" "$python" -m pytest -q tests/python
