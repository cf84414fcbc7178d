#!/usr/bin/env bash
# Builds and installs the metaguard Python package (pyproject.toml: scikit-build-core, the
# extension built against the environment's own torch) into the ignored virtual environment
# of scripts/setup-venv.sh, or into the Python given as $1. Idempotent: the build folder
# build-python/ is kept, so a second install recompiles only what changed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${1:-$("$root/scripts/setup-venv.sh")}"
echo "setup: building the metaguard Python package against $("$python" -c 'import torch; print("torch", torch.__version__)')" >&2
"$python" -m pip install --quiet --disable-pip-version-check --no-build-isolation --no-deps "$root" >&2
echo "$python"
