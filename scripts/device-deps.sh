#!/usr/bin/env bash
# Fetches, here, the Debian 12 packages the whole project builds with that the GPU machine lacks
# (its image has PyTorch, CMake, ninja and a compiler, but none of Debian's -dev packages and
# no network), into the ignored folder .device/debs (about 12 MB). scripts/device-check.sh
# unpacks them there into a private prefix; the device call carries the folder:
#   bash scripts/device-deps.sh      (here, once)
#   run: bash scripts/device-check.sh, carry [".device"]
# Idempotent: a package already fetched (same version) is not fetched again.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
debs="$root/.device/debs"

# Headers, CMake configs and the shared libraries they link, for CMakeLists.txt's
# find_package calls (cmake/BaseDependencies.cmake, Boost, zlib) and c10d's
# ProcessGroupGloo.hpp, which includes gloo's headers (a PyTorch wheel does not ship them).
packages=(libboost1.74-dev libboost-program-options1.74-dev libboost-program-options1.74.0
          libfmt-dev libfmt9 nlohmann-json3-dev libyaml-cpp-dev libyaml-cpp0.7
          libzip-dev libzip4 libgloo-dev zlib1g-dev zlib1g)

mkdir -p "$debs"
wanted=()
files=()
for package in "${packages[@]}"; do
  version=$(apt-cache policy "$package" | awk '/Candidate:/ {print $2}')
  if [[ -z "$version" || "$version" == "(none)" ]]; then
    echo "metaguard: error: Debian has no package $package here (apt-get update first?)" >&2
    exit 2
  fi
  # apt-get download names files package_version_arch.deb, with the epoch's ':' as %3a.
  file_prefix="${package}_${version//:/%3a}_"
  if ! compgen -G "$debs/$file_prefix*.deb" > /dev/null; then
    rm -f "$debs/${package}_"*.deb  # an older version: two would be unpacked over each other
    wanted+=("$package")
  fi
  files+=("$file_prefix")
done
if ((${#wanted[@]})); then
  echo "device-deps: fetching ${wanted[*]}" >&2
  # As root, apt warns that it fetches unsandboxed into root's folder: harmless here.
  (cd "$debs" && apt-get download -q "${wanted[@]}" 2>&1 | { grep -v unsandboxed || true; } >&2)
fi
# packages.txt names the file of each package; scripts/device-check.sh unpacks exactly these.
manifest=()
for file_prefix in "${files[@]}"; do
  found=("$debs/$file_prefix"*.deb)
  if [[ ! -f "${found[0]}" ]]; then
    echo "metaguard: error: ${file_prefix%%_*} was not fetched into $debs" >&2
    exit 2
  fi
  manifest+=("$(basename "${found[0]}")")
done
printf '%s\n' "${manifest[@]}" > "$debs/packages.txt.tmp" && mv "$debs/packages.txt.tmp" "$debs/packages.txt"
du -sh "$debs" | awk '{print "device-deps: " $1 " in .device/debs"}' >&2
