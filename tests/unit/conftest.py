"""Shared fixtures of the unit tier: run with .venv-airflow/bin/pytest tests/unit (no DB, no network)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
LAB_INVENTORY = REPO / "inventories" / "lab"

# Airflow reads its configuration on import: point it at a throwaway home before anything imports it.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="airflow-unit-"))
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS)
# The production executor list (design.md): DAGs must parse under it.
os.environ["AIRFLOW__CORE__EXECUTOR"] = "CeleryExecutor,KubernetesExecutor"
# The DAG processor puts the bundle root on sys.path; helper tests import `common` the same way.
if str(DAGS) not in sys.path:
    sys.path.insert(0, str(DAGS))

KUBERNETES_QUEUE = "kubernetes"


@pytest.fixture(scope="session")
def dagbag():
    """The DAG folder parsed like the dag-processor does (LocalDagBundle at dags/)."""
    from airflow.dag_processing.dagbag import BundleDagBag

    return BundleDagBag(dag_folder=str(DAGS), bundle_path=DAGS, bundle_name="dags-folder")


def _child_groups(node: dict, group: str) -> dict | None:
    """Find `group` anywhere in an inventory YAML tree; return its definition."""
    for name, child in (node.get("children") or {}).items():
        if name == group:
            return child or {}
        found = _child_groups(child or {}, group)
        if found is not None:
            return found
    return None


@pytest.fixture(scope="session")
def lab_worker_queues() -> dict[str, set[str]]:
    """Queues served by each worker pool of the lab: child groups of airflow_workers -> airflow_worker_queues."""
    inventory = yaml.safe_load((LAB_INVENTORY / "hosts.yml").read_text())
    workers = _child_groups(inventory["all"], "airflow_workers")
    assert workers and workers.get("children"), "inventory has no airflow_workers child groups"
    pools = {}
    for group, definition in workers["children"].items():
        assert (definition or {}).get("hosts"), f"worker pool {group} has no hosts"
        group_vars = yaml.safe_load((LAB_INVENTORY / "group_vars" / f"{group}.yml").read_text()) or {}
        pools[group] = set(group_vars.get("airflow_worker_queues") or [])
    return pools


@pytest.fixture(scope="session")
def lab_queues(lab_worker_queues) -> set[str]:
    return set().union(*lab_worker_queues.values())
