#!/usr/bin/env bash
# Coverage-guided fuzzing of metaguard's file readers (tests/fuzz/): builds the libFuzzer
# targets with clang under ASan + UBSan in build-fuzz/, replays the regression inputs of
# fixtures/fuzz/<target>/ (every crash ever found), then fuzzes each target for SECONDS from
# seeds taken from fixtures/ and reports/. Prints one line per target: executions, execs/s,
# coverage (edges) and features reached. Any crash, leak, timeout or allocation over 512 MiB
# fails the run; the input is kept under build-fuzz/artifacts/.
#   scripts/fuzz.sh [SECONDS]           (default 60 a target)
#   FUZZ_TARGETS="fuzz_pickle ..."      only these targets;  BUILD_DIR=... (default build-fuzz)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build-fuzz}"
seconds="${1:-60}"
targets=(${FUZZ_TARGETS:-fuzz_pickle fuzz_zip_directory fuzz_checkpoint fuzz_safetensors_header fuzz_report})

"$root/scripts/install-packages.sh" --tests
CC=clang CXX=clang++ cmake -S "$root/tests/fuzz" -B "$build" -G Ninja >/dev/null
cmake --build "$build" -j "$(nproc)" -- "${targets[@]}" >/dev/null

# Seeds, made once per build folder: real files of each kind from the repository.
seeds="$build/seeds"
if [[ ! -d "$seeds" ]]; then
  # Made in a scratch folder and moved into place whole: a failure leaves no half set.
  final_seeds="$seeds"
  seeds="$build/seeds.partial"
  rm -rf "$seeds"
  mkdir -p "$seeds"/{pickle,checkpoint,safetensors_header,report}
  find "$root/fixtures/checkpoints" "$root/fixtures/models" -type f ! -name '*.json' ! -name '*.md' ! -name '*.py' \
    -exec cp -t "$seeds/checkpoint" {} +
  # Reports under 128 KiB: the big ones (a 70B model's) only slow each execution down.
  find "$root/reports" "$root/fixtures/scenarios" -type f -name '*.json' -size -128k | while read -r f; do
    cp "$f" "$seeds/report/$(echo "$f" | md5sum | cut -c1-12).json"
  done
  python3 - "$seeds" <<'PY'
import pathlib, struct, sys, zipfile
seeds = pathlib.Path(sys.argv[1])
for path in sorted((seeds / "checkpoint").iterdir()):
    data = path.read_bytes()
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                for name in archive.namelist():
                    if name.endswith("data.pkl"):
                        (seeds / "pickle" / (path.name + ".pkl")).write_bytes(archive.read(name))
        except Exception:
            pass  # the bad fixtures are bad on purpose
    elif len(data) >= 8:
        (length,) = struct.unpack("<Q", data[:8])
        if 0 < length <= len(data) - 8:
            (seeds / "safetensors_header" / (path.name + ".json")).write_bytes(data[8:8 + length])
PY
  mv "$seeds" "$final_seeds"
  seeds="$final_seeds"
fi
seed_dir() {
  case "$1" in
    fuzz_pickle) echo "$seeds/pickle" ;;
    fuzz_zip_directory|fuzz_checkpoint) echo "$seeds/checkpoint" ;;
    fuzz_safetensors_header) echo "$seeds/safetensors_header" ;;
    fuzz_report) echo "$seeds/report" ;;
  esac
}
dictionary() {
  case "$1" in
    fuzz_pickle) echo "$root/tests/fuzz/pickle.dict" ;;
    fuzz_zip_directory|fuzz_checkpoint) echo "$root/tests/fuzz/zip.dict" ;;
    *) echo "$root/tests/fuzz/json.dict" ;;
  esac
}

limits=(-rss_limit_mb=2048 -malloc_limit_mb=512 -timeout=10)
export ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
mkdir -p "$build/artifacts"
status=0
printf '%-26s %12s %10s %8s %8s %8s\n' target executions execs/s edges features corpus
for target in "${targets[@]}"; do
  binary="$build/$target"
  regressions="$root/fixtures/fuzz/$target"
  if [[ -d "$regressions" ]] && compgen -G "$regressions/*" >/dev/null; then
    if ! "$binary" "${limits[@]}" "$regressions"/* >"$build/$target.regressions.log" 2>&1; then
      echo "$target: a regression input of fixtures/fuzz/$target fails again (see $build/$target.regressions.log)"
      status=1
      continue
    fi
  fi
  corpus="$build/corpus/$target"
  mkdir -p "$corpus"
  log="$build/$target.log"
  if ! "$binary" "$corpus" "$(seed_dir "$target")" -dict="$(dictionary "$target")" -max_total_time="$seconds" \
      "${limits[@]}" -print_final_stats=1 -artifact_prefix="$build/artifacts/$target-" >"$log" 2>&1; then
    echo "$target: FOUND a problem; the input is under $build/artifacts/ (log: $log)"
    grep -E "ERROR|SUMMARY|terminate|what\(\)" "$log" | head -5 || true
    status=1
    continue
  fi
  done_line="$(grep -E $'^#[0-9]+[ \t]+DONE' "$log" | tail -1 || true)"
  executions="$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$log")"
  rate="$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+)/\1/p' "$log")"
  edges="$(sed -nE 's/.* cov: ([0-9]+) .*/\1/p' <<<"$done_line")"
  features="$(sed -nE 's/.* ft: ([0-9]+) .*/\1/p' <<<"$done_line")"
  units="$(sed -nE 's/.* corp: ([0-9]+)\/.*/\1/p' <<<"$done_line")"
  printf '%-26s %12s %10s %8s %8s %8s\n' "$target" "$executions" "$rate" "$edges" "$features" "$units"
done
exit "$status"
