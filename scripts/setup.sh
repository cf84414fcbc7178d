#!/usr/bin/env bash
# Installs what metaguard needs from Debian 12's packages (only what is missing), then
# configures and builds in build/ against Debian's LibTorch 1.13 (incrementally on later runs).
#   scripts/setup.sh [--tests] [TARGET...]   --tests also installs what the test suite needs;
#                                             TARGETs: build only those (default: everything)
# Environment: METAGUARD_WERROR=ON (CI) turns warnings into errors.
set -euo pipefail
cd "$(dirname "$0")/.."

tests=""
if [[ "${1:-}" == "--tests" ]]; then tests="--tests"; shift; fi
scripts/install-packages.sh $tests

werror="${METAGUARD_WERROR:-OFF}"
if [[ ! -f build/build.ninja ]]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMETAGUARD_WERROR="$werror" >/dev/null
else
  cmake -S . -B build -DMETAGUARD_WERROR="$werror" >/dev/null
fi
targets=()
for target in "$@"; do targets+=(--target "$target"); done
cmake --build build -j "$(nproc)" "${targets[@]}"
