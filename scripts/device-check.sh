#!/usr/bin/env bash
# The GPU check, one prepared script for a lent machine with an NVIDIA GPU and a CUDA build of
# PyTorch (see docs/DEVICE.md). Builds against that machine's PyTorch and runs, each step
# timed and recorded as passed, failed or skipped (with the reason) in $OUT/device-summary.json:
#   1. gpu_check: the torch-side core on cuda:0 (tests/device, needs only LibTorch + headers)
#   2. the whole project with -DMETAGUARD_CUDA=ON (needs the Debian libraries of
#      scripts/install-packages.sh: Boost.program_options, libzip, gloo headers, fmt, json)
#   3. train --nproc 1 on cuda:0; train --nproc 2 with NCCL when there are two GPUs (NCCL
#      refuses two ranks on one GPU; skipped otherwise, saying so); train --nproc 2 with Gloo
#      on CUDA tensors (the two ranks share a GPU)
#   4. preflight --device cuda and the training fault scenarios on CUDA
# Finishes in under 8 minutes on 16 cores; every step has its own time limit.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-/tmp/metaguard-device-out}"
mkdir -p "$out"
python="${PYTHON:-python3}"
prefix=$("$python" -c 'import torch; print(torch.utils.cmake_prefix_path)' 2>/dev/null)
steps=()

# record NAME STATUS DETAIL SECONDS: one line of tab-separated fields, made JSON at the end
record() { steps+=("$1"$'\t'"$2"$'\t'"$(printf '%s' "$3" | tr '\t\n' '  ')"$'\t'"$4"); }
# run_step NAME LIMIT_S COMMAND...: output in $out/NAME.log
run_step() {
  local name=$1 limit=$2; shift 2
  local start=$SECONDS
  if timeout "$limit" "$@" > "$out/$name.log" 2>&1; then
    record "$name" passed "" $((SECONDS - start))
  else
    record "$name" failed "exit $?; see $name.log: $(tail -c 300 "$out/$name.log")" $((SECONDS - start))
  fi
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader > "$out/gpu.txt" 2>&1 || true
"$python" -c 'import torch; print(torch.__version__, torch.version.cuda, torch.cuda.is_available(), torch.cuda.device_count())' \
  > "$out/torch.txt" 2>&1 || true

# 1. The core on cuda:0.
run_step configure-core 120 cmake -S tests/device -B /tmp/metaguard-device -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" -DMETAGUARD_DEVICE_INCLUDE="$PWD/.device/include"
run_step build-core 240 cmake --build /tmp/metaguard-device -j "$(nproc)"
run_step gpu-check 120 /tmp/metaguard-device/gpu_check fixtures/models
cp "$out/gpu-check.log" "$out/gpu_check.json" 2>/dev/null || true

# 2. The whole project, CUDA and NCCL code on, when this machine has its libraries.
missing=()
for header in boost/program_options.hpp zip.h gloo/context.h nlohmann/json.hpp fmt/format.h; do
  [[ -f /usr/include/$header || -f "$PWD/.device/include/$header" ]] || missing+=("$header")
done
built=false
if ((${#missing[@]})); then
  record build-project skipped "this machine lacks ${missing[*]} (Debian packages of scripts/install-packages.sh)" 0
else
  run_step configure-project 120 cmake -S . -B /tmp/metaguard-cuda -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$prefix" -DMETAGUARD_CUDA=ON -DMETAGUARD_BUILD_TESTS=OFF -DMETAGUARD_BUILD_BENCH=OFF
  run_step build-project 300 cmake --build /tmp/metaguard-cuda -j "$(nproc)" --target metaguard metaguard-torch
  [[ -x /tmp/metaguard-cuda/metaguard-torch ]] && built=true
fi

# 3 and 4. The trainer and preflight on the GPU.
if $built; then
  mg=/tmp/metaguard-cuda/metaguard
  run_step version 30 "$mg" --version
  gpus=$("$python" -c 'import torch; print(torch.cuda.device_count())' 2>/dev/null || echo 0)
  run_step train-cuda-1 180 "$mg" train --nproc 1 --device cuda --steps 10 --out "$out/train-cuda-1" --format json
  if ((gpus >= 2)); then
    run_step train-nccl-2 180 "$mg" train --nproc 2 --device cuda --backend nccl --steps 10 --out "$out/train-nccl-2" --format json
  else
    record train-nccl-2 skipped "$gpus GPU(s): NCCL refuses two ranks on one GPU, so its process group cannot run here" 0
  fi
  run_step train-gloo-cuda-2 180 "$mg" train --nproc 2 --device cuda --backend gloo --steps 10 --out "$out/train-gloo-2" --format json
  run_step preflight-cuda 60 "$mg" preflight --model llama-2-70b --world-size 8 --device cuda --device-memory 139GiB \
    --format json --out "$out/preflight-70b.json"
  for fault in lora-ind-meta rope-cache-meta skip-broadcast to-empty-no-init; do
    # Each must stop (exit 1) naming the fault's finding: a zero exit is a failure here.
    start=$SECONDS
    if timeout 120 "$mg" train --nproc 2 --device cuda --backend gloo --steps 2 --inject "$fault" --format json \
         > "$out/fault-$fault.json" 2> "$out/fault-$fault.log"; then
      record "fault-$fault" failed "the run did not stop" $((SECONDS - start))
    elif [[ $? -eq 1 ]]; then
      record "fault-$fault" passed "stopped with exit 1" $((SECONDS - start))
    else
      record "fault-$fault" failed "exit code other than 1; see fault-$fault.log" $((SECONDS - start))
    fi
  done
else
  record trainer skipped "the project was not built here" 0
fi

# The summary, built by Python's json module (log tails may hold any character).
printf '%s\n' "${steps[@]}" | "$python" -c '
import json, sys
gpu, torch_line = (open(sys.argv[i]).read().strip() for i in (1, 2))
steps = []
for line in sys.stdin.read().splitlines():
    name, status, detail, seconds = line.split("\t")
    steps.append({"step": name, "status": status, "detail": detail, "seconds": int(seconds)})
json.dump({"gpu": gpu, "torch": torch_line, "steps": steps}, sys.stdout, indent=2)
print()
' "$out/gpu.txt" "$out/torch.txt" > "$out/device-summary.json"
cat "$out/device-summary.json"
