#!/usr/bin/env bash
# Fetches, here, the Debian 12 packages the whole project builds with that the GPU machine lacks
# (its image has PyTorch, CMake, ninja and a compiler, but none of Debian's -dev packages and
# no network), into the ignored folder .device/debs (about 11 MB). scripts/device-check.sh
# unpacks them there into a private prefix; the device call carries the folder:
#   bash scripts/device-deps.sh      (here, once)
#   run: bash scripts/device-check.sh, carry [".device"]
# Idempotent: a package already fetched (same version) is not fetched again.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
debs="$root/.device/debs"

# Headers, CMake configs and the shared libraries they link, for CMakeLists.txt's
# find_package calls (cmake/BaseDependencies.cmake, Boost) and c10d's ProcessGroupGloo.hpp,
# which includes gloo's headers (a PyTorch wheel does not ship them).
packages=(libboost1.74-dev libboost-program-options1.74-dev libboost-program-options1.74.0
          libfmt-dev libfmt9 nlohmann-json3-dev libyaml-cpp-dev libyaml-cpp0.7
          libzip-dev libzip4 libgloo-dev)

mkdir -p "$debs"
wanted=()
for package in "${packages[@]}"; do
  version=$(apt-cache policy "$package" | awk '/Candidate:/ {print $2}')
  if [[ -z "$version" || "$version" == "(none)" ]]; then
    echo "metaguard: error: Debian has no package $package here (apt-get update first?)" >&2
    exit 2
  fi
  # apt-get download names files package_version_arch.deb, with the epoch's ':' as %3a.
  if ! ls "$debs/${package}_${version//:/%3a}_"*.deb >/dev/null 2>&1; then
    rm -f "$debs/${package}_"*.deb  # an older version: two would be unpacked over each other
    wanted+=("$package")
  fi
done
if ((${#wanted[@]})); then
  echo "device-deps: fetching ${wanted[*]}" >&2
  # As root, apt warns that it fetches unsandboxed into root's folder: harmless here.
  (cd "$debs" && apt-get download -q "${wanted[@]}" 2>&1 | grep -v unsandboxed >&2 || true)
fi
du -sh "$debs" | awk '{print "device-deps: " $1 " in .device/debs"}' >&2
