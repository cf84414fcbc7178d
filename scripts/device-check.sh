#!/usr/bin/env bash
# The GPU check, one prepared script for a lent machine with an NVIDIA GPU and a CUDA build of
# PyTorch (see docs/DEVICE.md). Builds against that machine's PyTorch and runs, each step
# timed and recorded as passed, failed or skipped (with the reason) in $OUT/device-summary.json:
#   0. unpacks the Debian packages scripts/device-deps.sh fetched into .device/debs (the GPU
#      machine has PyTorch, CMake, ninja and a compiler, but none of Debian's -dev packages)
#   1. the whole project with -DMETAGUARD_CUDA=ON (targets metaguard, metaguard-torch, gpu_check)
#   2. gpu_check: materialization, the guard and training on cuda:0 (tests/device)
#   3. train --nproc 1 on cuda:0; train --nproc 2 with NCCL when there are two GPUs (NCCL
#      refuses two ranks on one GPU; skipped otherwise, saying so); train --nproc 2 with Gloo
#      on CUDA tensors (the two ranks share a GPU)
#   4. preflight --device cuda and the training fault scenarios on CUDA
# Finishes in under 8 minutes on 16 cores; every step has its own time limit.
#
# A rehearsal on a machine without a GPU runs the same steps on the CPU (gpu_check skipped):
#   METAGUARD_CHECK_DEVICE=cpu METAGUARD_CHECK_TIME_SCALE=10 PYTHON=... bash scripts/device-check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
# $OUT brings back at most 8 files: the summary and one archive of every step's log.
out="${OUT:-/tmp/metaguard-device-out}"
logs=/tmp/metaguard-device-logs
rm -rf "$logs" && mkdir -p "$out" "$logs"
python="${PYTHON:-python3}"
device="${METAGUARD_CHECK_DEVICE:-cuda}"
time_scale="${METAGUARD_CHECK_TIME_SCALE:-1}"
prefix=$("$python" -c 'import torch; print(torch.utils.cmake_prefix_path)' 2>/dev/null)
steps=()

# record NAME STATUS DETAIL SECONDS: one line of tab-separated fields, made JSON at the end
record() { steps+=("$1"$'\t'"$2"$'\t'"$(printf '%s' "$3" | tr '\t\n' '  ')"$'\t'"$4"); }
# run_step NAME LIMIT_S COMMAND...: output in $logs/NAME.log; true when it passed
run_step() {
  local name=$1 limit=$(($2 * time_scale)); shift 2
  local start=$SECONDS status
  timeout "$limit" "$@" > "$logs/$name.log" 2>&1
  status=$?
  if ((status == 0)); then
    record "$name" passed "" $((SECONDS - start))
  else
    record "$name" failed "exit $status; see $name.log: $(tail -c 300 "$logs/$name.log")" $((SECONDS - start))
  fi
  return $status
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader > "$logs/gpu.txt" 2>&1 || true
"$python" -c 'import torch; print(torch.__version__, torch.version.cuda, torch.cuda.is_available(), torch.cuda.device_count())' \
  > "$logs/torch.txt" 2>&1 || true

# 0. The Debian packages, unpacked into a private prefix (never over /: they could break the
#    machine's own libraries). Without .device/debs the machine's own packages are used.
deps=/tmp/metaguard-deps
prefixes="$prefix"
if compgen -G ".device/debs/*.deb" > /dev/null; then
  start=$SECONDS
  rm -rf "$deps" && mkdir -p "$deps"
  unpacked=0
  for deb in .device/debs/*.deb; do
    if command -v dpkg-deb > /dev/null; then
      dpkg-deb -x "$deb" "$deps"
    else  # a .deb is an ar archive holding data.tar.xz (Debian 12's)
      ar p "$deb" data.tar.xz | tar -xJ -C "$deps"
    fi && unpacked=$((unpacked + 1))
  done
  total=$(compgen -G ".device/debs/*.deb" | wc -l)
  if ((unpacked == total)); then
    record unpack-deps passed "$unpacked packages into $deps" $((SECONDS - start))
  else
    record unpack-deps failed "$unpacked of $total packages unpacked into $deps" $((SECONDS - start))
  fi
  # Config files are searched under each prefix's <name>*/ too, whatever the compiler's
  # multiarch folder; gloo's headers (c10d includes them) come through CPATH.
  multiarch="$deps/usr/lib/x86_64-linux-gnu"
  prefixes="$prefix;$deps/usr;$multiarch/cmake"
  export CPATH="$deps/usr/include${CPATH:+:$CPATH}"
  export CMAKE_LIBRARY_PATH="$multiarch" CMAKE_INCLUDE_PATH="$deps/usr/include"
  export PKG_CONFIG_LIBDIR="$multiarch/pkgconfig:$deps/usr/share/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$deps"
else
  record unpack-deps skipped "no .device/debs (run scripts/device-deps.sh here and carry .device): the machine's own packages are used" 0
fi

# 1. The whole project, CUDA and NCCL code on, and gpu_check. Built inside the checkout, as a
#    user builds it: the programs find the model configs and data they ship in fixtures/.
build=build-device
built=false
run_step configure-project 120 cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$prefixes" -DMETAGUARD_CUDA=ON -DMETAGUARD_BUILD_TESTS=OFF -DMETAGUARD_BUILD_BENCH=OFF &&
  run_step build-project 360 cmake --build "$build" -j "$(nproc)" --target metaguard metaguard-torch gpu_check &&
  built=true

# 2. The torch-side core on cuda:0 (tests/device/gpu_check.cpp).
if ! $built; then
  record gpu-check skipped "the project was not built here" 0
elif [[ "$device" == cuda ]]; then
  run_step gpu-check 120 "$build/tests/device/gpu_check" fixtures/models
else
  record gpu-check skipped "rehearsal on $device" 0
fi

# 3 and 4. The trainer and preflight on the GPU.
if $built; then
  mg="$build/metaguard"
  # Every library the programs load resolves (the unpacked ones through their run path).
  start=$SECONDS
  unresolved=$(ldd "$build/metaguard" "$build/metaguard-torch" "$build/tests/device/gpu_check" 2>&1 | grep 'not found' | sort -u)
  if [[ -z "$unresolved" ]]; then
    record libraries passed "" $((SECONDS - start))
  else
    record libraries failed "$unresolved" $((SECONDS - start))
  fi
  if version=$(timeout 30 "$mg" --version 2>&1); then record version passed "$version" 0; else record version failed "$version" 0; fi
  gpus=$("$python" -c 'import torch; print(torch.cuda.device_count())' 2>/dev/null || echo 0)
  run_step train-$device-1 180 "$mg" train --nproc 1 --device "$device" --steps 10 --out "$logs/train-$device-1" --format json
  if [[ "$device" == cuda ]] && ((gpus >= 2)); then
    run_step train-nccl-2 180 "$mg" train --nproc 2 --device cuda --backend nccl --steps 10 --out "$logs/train-nccl-2" --format json
  else
    record train-nccl-2 skipped "$gpus GPU(s) on $device: NCCL refuses two ranks on one GPU, so its process group cannot run here" 0
  fi
  run_step train-gloo-$device-2 180 "$mg" train --nproc 2 --device "$device" --backend gloo --steps 10 \
    --out "$logs/train-gloo-2" --format json
  run_step preflight-$device 60 "$mg" preflight --model llama-2-70b --world-size 8 --device "$device" --device-memory 139GiB \
    --format json --out "$logs/preflight-70b.json"
  for fault in lora-ind-meta rope-cache-meta skip-broadcast to-empty-no-init; do
    # Each must stop (exit 1) naming the fault's finding: a zero exit is a failure here.
    start=$SECONDS
    timeout $((120 * time_scale)) "$mg" train --nproc 2 --device "$device" --backend gloo --steps 2 --inject "$fault" \
      --format json > "$logs/fault-$fault.json" 2> "$logs/fault-$fault.log"
    status=$?
    if ((status == 1)); then
      record "fault-$fault" passed "stopped with exit 1" $((SECONDS - start))
    elif ((status == 0)); then
      record "fault-$fault" failed "the run did not stop" $((SECONDS - start))
    else
      record "fault-$fault" failed "exit $status, not 1; see fault-$fault.log" $((SECONDS - start))
    fi
  done
else
  record trainer skipped "the project was not built here (see configure-project.log, build-project.log)" 0
fi

# The summary, built by Python's json module (log tails may hold any character).
printf '%s\n' "${steps[@]}" | "$python" -c '
import json, sys
gpu, torch_line = (open(sys.argv[i]).read().strip() for i in (1, 2))
steps = []
for line in sys.stdin.read().splitlines():
    name, status, detail, seconds = line.split("\t")
    steps.append({"step": name, "status": status, "detail": detail, "seconds": int(seconds)})
json.dump({"gpu": gpu, "torch": torch_line, "device": sys.argv[3], "steps": steps}, sys.stdout, indent=2)
print()
' "$logs/gpu.txt" "$logs/torch.txt" "$device" > "$out/device-summary.json"
tar -czf "$out/device-logs.tar.gz" -C "$logs" .
cat "$out/device-summary.json"
