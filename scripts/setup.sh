#!/usr/bin/env bash
# Installs what metaguard needs from Debian 12's packages (only what is missing), then
# configures and builds in build/ (incrementally on later runs).
#   scripts/setup.sh [--tests]   --tests also installs what the test suite needs
# Environment: METAGUARD_WERROR=ON (CI) turns warnings into errors.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential cmake ninja-build pkg-config libtorch-dev libgloo-dev libfmt-dev
          libboost-program-options-dev nlohmann-json3-dev libzip-dev libopenblas0-pthread
          catch2 librapidcheck-dev)
if [[ "${1:-}" == "--tests" ]]; then
  # python3-torch writes and reads real PyTorch files; chromium renders the HTML report.
  packages+=(python3-torch chromium libxml2-utils)
fi

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

werror="${METAGUARD_WERROR:-OFF}"
if [[ ! -f build/build.ninja ]]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMETAGUARD_WERROR="$werror" >/dev/null
else
  cmake -S . -B build -DMETAGUARD_WERROR="$werror" >/dev/null
fi
cmake --build build -j "$(nproc)"
