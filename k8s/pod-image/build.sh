#!/usr/bin/env bash
# Build the pod image from a context of exactly what it needs: the hosts' lock, a wheelhouse built
# from it by the controller's pip (as roles/python_venv does for the hosts), the DAGs, the Dockerfile.
# The docker build then needs no package index (air-gapped builders work the same way).
# Usage: k8s/pod-image/build.sh -t IMAGE[:TAG] [more docker build options, e.g. --build-arg ...]
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
lock="$repo/roles/airflow/files/requirements.lock"
python="${PYTHON:-python3}"

context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
cp "$repo/k8s/pod-image/Dockerfile" "$lock" "$context/"
"$python" -m pip wheel --quiet --no-deps --wheel-dir "$context/wheels" --requirement "$lock"
# The DAG folder as dag sync ships it: no byte-code caches.
tar -C "$repo" --exclude=__pycache__ -cf - dags | tar -C "$context" -xf -

docker build "$@" "$context"
