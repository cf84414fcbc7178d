#!/usr/bin/env bash
# On a machine with an NVIDIA GPU and a CUDA build of PyTorch: builds tests/device against
# that PyTorch's LibTorch and runs gpu_check. Headers for fmt and nlohmann-json come from
# .device/include (copied from this machine's Debian packages: see docs/DEVICE.md).
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
out="${OUT:-/tmp}"
cmake -S tests/device -B /tmp/metaguard-device -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" -DMETAGUARD_DEVICE_INCLUDE="$PWD/.device/include" > "$out/configure.log" 2>&1 \
  || { tail -40 "$out/configure.log"; exit 1; }
cmake --build /tmp/metaguard-device -j "$(nproc)" > "$out/build.log" 2>&1 || { grep -E "error" -A3 "$out/build.log" | head -60; exit 1; }
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
/tmp/metaguard-device/gpu_check fixtures/models | tee "$out/gpu_check.json"
