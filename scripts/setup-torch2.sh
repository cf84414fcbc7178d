#!/usr/bin/env bash
# The second configuration: metaguard built against the LibTorch inside a PyTorch 2.x wheel
# (CUDA build, from the virtual environment of scripts/setup-venv.sh) with its CUDA and NCCL
# code on (-DMETAGUARD_CUDA=ON), in build-torch2/. The interop tests use that wheel's python.
#   scripts/setup-torch2.sh [--tests] [TARGET...]
# Environment: METAGUARD_WERROR=ON, METAGUARD_VENV=DIR, METAGUARD_CUDA=OFF (no CUDA code).
set -euo pipefail
cd "$(dirname "$0")/.."

tests=""
if [[ "${1:-}" == "--tests" ]]; then tests="--tests"; shift; fi
scripts/install-packages.sh $tests
python="$(scripts/setup-venv.sh)"
prefix="$("$python" -c 'import torch; print(torch.utils.cmake_prefix_path)' 2>/dev/null)"

werror="${METAGUARD_WERROR:-OFF}"
cuda="${METAGUARD_CUDA:-ON}"
generator=()
[[ -f build-torch2/build.ninja ]] || generator=(-G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo)
cmake -S . -B build-torch2 "${generator[@]}" -DCMAKE_PREFIX_PATH="$prefix" -DMETAGUARD_CUDA="$cuda" \
  -DMETAGUARD_PYTHON="$python" -DMETAGUARD_WERROR="$werror" >/dev/null
targets=()
for target in "$@"; do targets+=(--target "$target"); done
cmake --build build-torch2 -j "$(nproc)" "${targets[@]}"
