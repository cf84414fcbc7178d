#!/usr/bin/env bash
# Creates (or completes) the ignored virtual environment with the pinned PyTorch 2.x wheel
# (scripts/requirements-torch2.txt); prints its python. Idempotent: pip skips what is there.
#   METAGUARD_VENV=DIR (default: .venv in the repository)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${METAGUARD_VENV:-$root/.venv}"
requirements="$root/scripts/requirements-torch2.txt"

if [[ ! -x "$venv/bin/python" ]]; then
  echo "setup: creating the virtual environment $venv" >&2
  python3 -m venv "$venv"
fi
# A stamp of the requirements skips pip entirely when nothing changed.
stamp="$venv/.metaguard-requirements"
if ! cmp -s "$requirements" "$stamp" 2>/dev/null; then
  echo "setup: installing $(grep -v '^#' "$requirements" | tr '\n' ' ')into $venv" >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" >&2
  cp "$requirements" "$stamp"
fi
echo "$venv/bin/python"
