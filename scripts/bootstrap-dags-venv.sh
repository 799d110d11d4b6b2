#!/usr/bin/env bash
# Create or refresh .venv-airflow: the Airflow hosts' lock (roles/airflow/files/requirements.lock)
# plus the unit-test tools (tests/unit/requirements-test.lock), so DAGs and manifests are tested on
# the controller with exactly the packages the hosts and the Kubernetes pod image run.
# Same stamp pattern as bootstrap-controller.sh: re-running with unchanged locks does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.9
venv=.venv-airflow
locks=(roles/airflow/files/requirements.lock tests/unit/requirements-test.lock)
stamp="$venv/.requirements.sha256"
want=$(cat "${locks[@]}" | sha256sum | cut -d' ' -f1)

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/pytest" ]; then
  exit 0
fi

if ! command -v uv >/dev/null 2>&1 || [ "$(uv --version | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  echo "[dags-venv] installing uv $UV_VERSION" >&2
  python3 -m pip install --quiet "uv==$UV_VERSION"
fi

echo "[dags-venv] syncing $venv from ${locks[*]}" >&2
# The hosts run Python 3.11 (Debian 12); test with the same minor version.
[ -x "$venv/bin/python" ] || uv venv --quiet --python 3.11 "$venv"
uv pip sync --quiet --python "$venv/bin/python" "${locks[@]}"
echo "$want" >"$stamp"
