#!/usr/bin/env bash
# Rehearses scripts/device-check.sh here, before device time is spent on it: in a private
# mount namespace (root only) where Debian's -dev packages the project builds with are hidden,
# as they are absent on the GPU machine, so everything must come from .device/debs; every step
# runs on the CPU (gpu_check skipped) with ten times the time limits (2 cores here, 16 there).
#   PYTHON=<a python with the GPU machine's torch version> bash scripts/device-rehearsal.sh
#   METAGUARD_REHEARSAL_PKG_CONFIG=keep  leaves pkg-config visible (the machine may have it)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/device-deps.sh"

hide_dirs=(/usr/include/boost /usr/include/fmt /usr/include/nlohmann /usr/include/yaml-cpp /usr/include/gloo
           /usr/lib/x86_64-linux-gnu/cmake /usr/lib/x86_64-linux-gnu/pkgconfig /usr/share/pkgconfig)
# (zlib's headers only: its libz.so is a link to the library everything here loads, and a
# mount over a link covers its target.)
hide_files=(/usr/include/zip.h /usr/include/zipconf.h /usr/include/zlib.h /usr/include/zconf.h
            /usr/lib/x86_64-linux-gnu/libzip.so* /usr/lib/x86_64-linux-gnu/libboost_program_options.*
            /usr/lib/x86_64-linux-gnu/libyaml-cpp.so* /usr/lib/x86_64-linux-gnu/libfmt.so*)
if [[ "${METAGUARD_REHEARSAL_PKG_CONFIG:-hide}" != keep ]]; then
  hide_files+=(/usr/bin/pkg-config)
fi

# There, python3's environment holds PyTorch and CMake (pip's, 4.x): a PYTHON given here puts
# its folder first on PATH, so the rehearsal uses that environment's cmake when it has one.
if [[ -n "${PYTHON:-}" ]]; then
  PATH="$(dirname "$PYTHON"):$PATH"
fi
# A fresh configure, as on that machine (its cache would keep where packages were found
# before); objects whose commands did not change are not rebuilt.
rm -f "$root/build-device/CMakeCache.txt"
export METAGUARD_CHECK_DEVICE=cpu METAGUARD_CHECK_TIME_SCALE="${METAGUARD_CHECK_TIME_SCALE:-10}"
# A folder is covered by an empty tmpfs, a file by /dev/null: the loader and the compiler then
# fail on it, which shows at once if anything still reached for the system's copy.
exec unshare --mount bash -c '
  set -e
  mount --make-rprivate /
  for dir in '"${hide_dirs[*]}"'; do [[ -d $dir ]] && mount -t tmpfs none "$dir"; done
  for file in '"${hide_files[*]}"'; do [[ -e $file ]] && mount --bind /dev/null "$file"; done
  exec bash "'"$root"'/scripts/device-check.sh"'
