#!/usr/bin/env bash
# Create or refresh a venv from lock files with uv (pinned). Re-running with unchanged locks does
# nothing: a stamp in the venv records the locks' hash.
# Usage: scripts/sync-venv.sh VENV LOCK [LOCK...]
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.9
venv=$1
shift
stamp="$venv/.requirements.sha256"
# The stamp also covers how the venv is built (bytecode compiled; see below).
want=$( { cat "$@"; echo "compile-bytecode"; } | sha256sum | cut -d' ' -f1)

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

if ! command -v uv >/dev/null 2>&1 || [ "$(uv --version | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  echo "[venv] installing uv $UV_VERSION" >&2
  python3 -m pip install --quiet "uv==$UV_VERSION"
fi

echo "[venv] syncing $venv from $*" >&2
# The hosts run Python 3.11 (Debian 12); the controller tools and tests use the same minor version.
[ -x "$venv/bin/python" ] || uv venv --quiet --python 3.11 "$venv"
# Byte-compiled up front: with PYTHONDONTWRITEBYTECODE set (as on these machines) Python would
# compile every imported module from source in every process, and Ansible forks a process per task
# and host that loads its plugins again (docs/benchmarks.md).
uv pip sync --quiet --compile-bytecode --python "$venv/bin/python" "$@"
echo "$want" >"$stamp"
