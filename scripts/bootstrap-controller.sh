#!/usr/bin/env bash
# Create or refresh the controller venv (.venv) from the committed lock, requirements.txt.
# Uses uv (pinned) for speed; re-running with an unchanged lock does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.9
venv=.venv
stamp="$venv/.requirements.sha256"
want=$(sha256sum requirements.txt | cut -d' ' -f1)

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/ansible-playbook" ]; then
  exit 0
fi

if ! command -v uv >/dev/null 2>&1 || [ "$(uv --version | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  echo "[controller] installing uv $UV_VERSION" >&2
  python3 -m pip install --quiet "uv==$UV_VERSION"
fi

echo "[controller] syncing $venv from requirements.txt" >&2
[ -x "$venv/bin/python" ] || uv venv --quiet --python python3 "$venv"
uv pip sync --quiet --python "$venv/bin/python" requirements.txt
echo "$want" >"$stamp"
