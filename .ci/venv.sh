#!/usr/bin/env bash
# The Python tools of the chart, image and dashboard checks, in a venv kept between runs
# (re-created when .ci/requirements.txt changes). Prints the venv's path.
#   venv=$(bash .ci/venv.sh) && "$venv/bin/pytest" …
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${HIREBRIDGE_VENV:-$HOME/.cache/hirebridge/venv}"
stamp="$venv/.requirements"
if ! cmp -s .ci/requirements.txt "$stamp" 2>/dev/null; then
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r .ci/requirements.txt >&2
  cp .ci/requirements.txt "$stamp"
fi
echo "$venv"
