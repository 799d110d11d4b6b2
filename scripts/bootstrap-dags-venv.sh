#!/usr/bin/env bash
# .venv-airflow: the Airflow hosts' lock (roles/airflow/files/requirements.lock) plus the unit-test
# tools, so DAGs and manifests are tested on the controller with exactly the packages the hosts
# and the Kubernetes pod image run.
exec "$(dirname "$0")/sync-venv.sh" .venv-airflow roles/airflow/files/requirements.lock tests/unit/requirements-test.lock
