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
# Every step has its own time limit, cut to what is left of a total budget (450 s by default,
# METAGUARD_CHECK_BUDGET_S); the summary and the logs' archive are rewritten after every step,
# so a call stopped at its limit still brings back all that ran.
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
deadline=$((SECONDS + ${METAGUARD_CHECK_BUDGET_S:-450} * time_scale))
prefix=$("$python" -c 'import torch; print(torch.utils.cmake_prefix_path)' 2>/dev/null)
steps=()

# summarize: $OUT/device-summary.json from the steps so far, by Python's json module (log
# tails may hold any byte), and the logs' archive.
summarize() {
  printf '%s\n' "${steps[@]}" | "$python" -c '
import json, sys
gpu, torch_line = (open(sys.argv[i], errors="replace").read().strip() for i in (1, 2))
steps = []
for line in sys.stdin.buffer.read().decode("utf-8", "replace").splitlines():
    name, status, detail, seconds = line.split("\t")
    steps.append({"step": name, "status": status, "detail": detail, "seconds": int(seconds)})
json.dump({"gpu": gpu, "torch": torch_line, "device": sys.argv[3], "steps": steps}, sys.stdout, indent=2)
print()
' "$logs/gpu.txt" "$logs/torch.txt" "$device" > "$out/device-summary.json.tmp" &&
    mv "$out/device-summary.json.tmp" "$out/device-summary.json"
  tar -czf "$out/device-logs.tar.gz.tmp" -C "$logs" . && mv "$out/device-logs.tar.gz.tmp" "$out/device-logs.tar.gz"
}
# record NAME STATUS DETAIL SECONDS: one line of tab-separated fields
record() {
  steps+=("$1"$'\t'"$2"$'\t'"$(printf '%s' "$3" | tr '\t\n' '  ')"$'\t'"$4")
  summarize
}
# limit_for LIMIT_S: the step's limit (scaled), cut to what is left of the budget; fails when
# too little is left to start a step, and the step is then recorded by record_out_of_time NAME.
limit_for() {
  local limit=$(($1 * time_scale)) left=$((deadline - SECONDS))
  ((left >= 10)) || return 1
  echo $((limit < left ? limit : left))
}
record_out_of_time() { record "$1" skipped "out of time (the budget of METAGUARD_CHECK_BUDGET_S is spent)" 0; }
# run_step NAME LIMIT_S COMMAND...: output in $logs/NAME.log; true when it passed
run_step() {
  local name=$1 limit start=$SECONDS status
  if ! limit=$(limit_for "$2"); then
    record_out_of_time "$name"
    return 1
  fi
  shift 2
  timeout "$limit" "$@" > "$logs/$name.log" 2>&1
  status=$?
  if ((status == 0)); then
    record "$name" passed "" $((SECONDS - start))
  else
    record "$name" failed "exit $status (124: over its ${limit} s); see $name.log: $(tail -c 300 "$logs/$name.log")" \
      $((SECONDS - start))
  fi
  return $status
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader > "$logs/gpu.txt" 2>&1 || true
# The NCCL package beside torch too: the build refuses an nccl.h that is not the one torch pins.
{ "$python" -c 'import torch; print(torch.__version__, torch.version.cuda, torch.cuda.is_available(), torch.cuda.device_count())'
  "$python" -m pip show nvidia-nccl-cu13 nvidia-nccl-cu12 2>/dev/null | grep -E '^(Name|Version):' | tr '\n' ' '
} > "$logs/torch.txt" 2>&1
summarize

# 0. The Debian packages, unpacked into a private prefix (never over /: they could break the
#    machine's own libraries). Without .device/debs the machine's own packages are used.
deps=/tmp/metaguard-deps
prefixes="$prefix"
if [[ -f .device/debs/packages.txt ]]; then
  start=$SECONDS
  rm -rf "$deps" && mkdir -p "$deps"
  problems=()
  while read -r deb; do  # packages.txt: the .deb files device-deps.sh fetched, one a line
    if [[ ! -f ".device/debs/$deb" ]]; then
      problems+=("$deb missing")
    elif command -v dpkg-deb > /dev/null; then
      dpkg-deb -x ".device/debs/$deb" "$deps" || problems+=("$deb did not unpack")
    else  # a .deb is an ar archive holding data.tar.xz (Debian 12's)
      ar p ".device/debs/$deb" data.tar.xz | tar -xJ -C "$deps" || problems+=("$deb did not unpack")
    fi
  done < .device/debs/packages.txt
  # Absolute links in the packages (libz.so -> /lib/x86_64-linux-gnu/libz.so.1.2.13) point
  # into the prefix instead of at whatever that path is on this machine.
  while read -r link; do
    target=$(readlink "$link")
    [[ -e "$deps$target" ]] && ln -sfn "$deps$target" "$link"
  done < <(find "$deps" -type l -lname '/*')
  if ((${#problems[@]})); then
    record unpack-deps failed "${problems[*]}" $((SECONDS - start))
  else
    record unpack-deps passed "$(wc -l < .device/debs/packages.txt) packages into $deps" $((SECONDS - start))
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
#    ninja goes on past a failure (-k 0), so one program that does not build stops only the
#    steps that need it.
build=build-device
programs=("$build/metaguard" "$build/metaguard-torch" "$build/tests/device/gpu_check")
rm -f "${programs[@]}"  # a rerun on a warm machine must not run last call's programs
run_step configure-project 120 cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$prefixes" -DMETAGUARD_CUDA=ON -DMETAGUARD_BUILD_TESTS=OFF -DMETAGUARD_BUILD_BENCH=OFF &&
  run_step build-project 360 cmake --build "$build" -j "$(nproc)" --target metaguard metaguard-torch gpu_check -- -k 0
trainer_built=false
[[ -x "$build/metaguard" && -x "$build/metaguard-torch" ]] && trainer_built=true
built=()
for program in "${programs[@]}"; do
  [[ -x "$program" ]] && built+=("$program")
done
if ((${#built[@]})); then
  # Every library the programs load resolves (the unpacked ones through their run path).
  unresolved=$(ldd "${built[@]}" 2>&1 | grep 'not found' | sort -u)
  if [[ -z "$unresolved" ]]; then record libraries passed "${built[*]}" 0; else record libraries failed "$unresolved" 0; fi
fi

# 2. The torch-side core on cuda:0 (tests/device/gpu_check.cpp).
if [[ ! -x "$build/tests/device/gpu_check" ]]; then
  record gpu-check skipped "gpu_check was not built here (see configure-project.log, build-project.log)" 0
elif [[ "$device" == cuda ]]; then
  run_step gpu-check 120 "$build/tests/device/gpu_check" fixtures/models
else
  record gpu-check skipped "rehearsal on $device" 0
fi

# 3 and 4. The trainer and preflight on the GPU.
if $trainer_built; then
  mg="$build/metaguard"
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
  # Each fault must stop the run (exit 1) with its own finding in the report, as the
  # integration tests expect on the CPU (tests/integration/train_fault_test.cpp): exit 1 alone
  # could be a lost rank or a crash.
  for fault_code in lora-ind-meta:meta-nonpersistent-buffer rope-cache-meta:meta-nonpersistent-buffer \
                    skip-broadcast:meta-parameter to-empty-no-init:uninitialized-storage; do
    fault=${fault_code%%:*} code=${fault_code#*:} start=$SECONDS
    if ! limit=$(limit_for 120); then
      record_out_of_time "fault-$fault"
      continue
    fi
    timeout "$limit" "$mg" train --nproc 2 --device "$device" --backend gloo --steps 2 --inject "$fault" \
      --format json > "$logs/fault-$fault.json" 2> "$logs/fault-$fault.log"
    status=$?
    found=$("$python" -c 'import json, sys; print(sum(f.get("code") == sys.argv[2] for f in json.load(open(sys.argv[1]))["findings"]))' \
              "$logs/fault-$fault.json" "$code" 2>/dev/null || echo 0)
    if ((status == 1 && found > 0)); then
      record "fault-$fault" passed "stopped with exit 1; $found $code finding(s)" $((SECONDS - start))
    elif ((status == 0)); then
      record "fault-$fault" failed "the run did not stop" $((SECONDS - start))
    else
      record "fault-$fault" failed "exit $status with $found $code finding(s) (wanted exit 1 and at least one); see fault-$fault.log" \
        $((SECONDS - start))
    fi
  done
else
  record trainer skipped "metaguard was not built here (see configure-project.log, build-project.log)" 0
fi

cat "$out/device-summary.json"
