#!/usr/bin/env bash
# Builds the torch-free checkpoint parser and its unit and property tests with
# AddressSanitizer + UndefinedBehaviorSanitizer (tests/sanitize/CMakeLists.txt) and runs them.
# Any sanitizer finding, leak, or single allocation over 256 MiB (the fixtures are a few KiB:
# such an allocation would come from trusting a length field) fails the run.
#   scripts/sanitize-checkpoint.sh [CATCH ARGS...]   e.g. "[pickle]" to run some tests only
#   BUILD_DIR=... (default build-sanitize)  JOBS=2  RC_PARAMS="max_success=5000" (more cases)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build-sanitize}"

cmake -S "$root/tests/sanitize" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$build" -j "${JOBS:-2}"

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1:max_allocation_size_mb=256:allocator_may_return_null=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export RC_PARAMS="${RC_PARAMS:-max_success=1000}"
"$build/checkpoint_sanitized" "$@" 2>&1 | tail -n 20
exit "${PIPESTATUS[0]}"
