#!/usr/bin/env bash
# Installs what metaguard needs (only what is missing), then configures and builds
# (incrementally on later runs) one of the two configurations:
#   default   build/ against Debian's LibTorch 1.13 (CPU)
#   --torch2  build-torch2/ against the LibTorch inside the pinned PyTorch 2.x wheel (CUDA
#             build) of the ignored virtual environment (scripts/setup-venv.sh), CUDA and NCCL
#             code on; the interop tests use that wheel's python
#   scripts/setup.sh [--tests] [--torch2] [TARGET...]   --tests also installs what the test
#                                                       suite needs; TARGETs: build only those
# Environment: METAGUARD_WERROR=ON (CI) turns warnings into errors; METAGUARD_VENV=DIR;
# METAGUARD_CUDA=OFF builds the --torch2 configuration without its CUDA code.
set -euo pipefail
cd "$(dirname "$0")/.."

tests=""
config=debian
while (($#)); do
  case "$1" in
    --tests) tests="--tests"; shift ;;
    --torch2) config=torch2; shift ;;
    *) break ;;
  esac
done
scripts/install-packages.sh $tests

build=build
flags=()
if [[ "$config" == torch2 ]]; then
  build=build-torch2
  python="$(scripts/setup-venv.sh)"
  prefix="$("$python" -c 'import torch; print(torch.utils.cmake_prefix_path)')" ||
    { echo "setup: $python cannot import torch (see above); remove the virtual environment and run again" >&2; exit 1; }
  flags=(-DCMAKE_PREFIX_PATH="$prefix" -DMETAGUARD_CUDA="${METAGUARD_CUDA:-ON}" -DMETAGUARD_PYTHON="$python")
  # The model against LitGPT itself, which the virtual environment holds.
  [[ -n "$tests" ]] && flags+=(-DMETAGUARD_LITGPT_TESTS=ON)
fi
[[ -f "$build/build.ninja" ]] || flags+=(-G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo)
cmake -S . -B "$build" "${flags[@]}" -DMETAGUARD_WERROR="${METAGUARD_WERROR:-OFF}" >/dev/null
targets=()
for target in "$@"; do targets+=(--target "$target"); done
cmake --build "$build" -j "$(nproc)" "${targets[@]}"
