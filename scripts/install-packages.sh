#!/usr/bin/env bash
# Installs from Debian 12's packages only what is missing (idempotent).
#   scripts/install-packages.sh [--tests]   --tests adds what the test suite needs
set -euo pipefail

packages=(build-essential cmake ninja-build pkg-config ccache libtorch-dev libgloo-dev libfmt-dev
          libboost-program-options-dev nlohmann-json3-dev libzip-dev libyaml-cpp-dev libopenblas0-pthread
          catch2 librapidcheck-dev python3-venv)
if [[ "${1:-}" == "--tests" ]]; then
  # python3-torch writes and reads real PyTorch files; chromium renders the HTML report;
  # clang and its runtime build the libFuzzer targets (scripts/fuzz.sh).
  packages+=(python3-torch chromium libxml2-utils clang libclang-rt-14-dev)
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
