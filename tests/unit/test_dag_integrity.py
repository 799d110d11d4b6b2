"""Every DAG in dags/ imports, is acyclic, is attributable, and only uses queues someone serves."""

from __future__ import annotations

import re

import pytest
from conftest import DAGS, KUBERNETES_QUEUE, LAB_INVENTORY

EXPECTED_DAGS = {
    "cluster_smoke",
    "kubernetes_smoke",
    "spark_submit_transform",
    "clickstream_etl",
    "flink_clickstream_ingest",
    "dask_feature_engineering",
    "trino_daily_aggregation",
}

# Operators that drive Kubernetes from inside the cluster (in-cluster credentials of the task pod).
KUBERNETES_OPERATORS = {
    "SparkKubernetesOperator",
    "SparkSubmitOperator",
    "FlinkKubernetesOperator",
    "FlinkKubernetesSensor",
}


def all_tasks(dagbag):
    return [(dag, task) for dag in dagbag.dags.values() for task in dag.tasks]


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}, "\n".join(f"{f}:\n{e}" for f, e in dagbag.import_errors.items())


def test_expected_dags_present(dagbag):
    assert set(dagbag.dag_ids) == EXPECTED_DAGS


def test_helpers_are_not_parsed_as_dags(dagbag):
    parsed = {dag.relative_fileloc.split("/")[0] for dag in dagbag.dags.values()}
    assert not parsed & {"common", "spark", "flink", "dask"}
    ignored = (DAGS / ".airflowignore").read_text().split()
    assert "common/" in ignored


def test_no_cycles(dagbag):
    for dag in dagbag.dags.values():
        dag.check_cycle()  # raises AirflowDagCycleException


@pytest.mark.parametrize("dag_id", sorted(EXPECTED_DAGS))
def test_dag_metadata(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    assert dag.tags, "tags let the UI filter by team and engine"
    assert dag.doc_md or dag.description or dag.dag_display_name, "a docstring explains the pipeline"
    assert dag.catchup is False, "no surprise backfills when a DAG is switched on"
    assert dag.start_date is not None and dag.start_date.tzinfo is not None
    for task in dag.tasks:
        assert task.owner and task.owner != "airflow", f"{task.task_id}: set default_args owner"
        assert task.retries is not None


def test_serializable(dagbag):
    """The dag-processor stores serialized DAGs; executor_config pod_overrides must survive it."""
    from airflow.serialization.serialized_objects import DagSerialization

    for dag in dagbag.dags.values():
        data = DagSerialization.to_dict(dag)
        assert DagSerialization.from_dict(data).dag_id == dag.dag_id


def test_every_queue_is_served(dagbag, lab_queues):
    unserved = {
        f"{dag.dag_id}.{task.task_id}: {task.queue}"
        for dag, task in all_tasks(dagbag)
        if task.queue not in lab_queues | {KUBERNETES_QUEUE}
    }
    assert not unserved, f"no worker pool serves these queues (lab serves {sorted(lab_queues)}): {unserved}"


def test_lab_pools_cover_declared_queues(lab_queues):
    """The queues the site declares (preflight checks them) are exactly the lab pools' queues."""
    import yaml

    declared = yaml.safe_load((LAB_INVENTORY / "group_vars" / "all" / "cluster.yml").read_text())["airflow_celery_queues"]
    assert set(declared) == lab_queues
    assert KUBERNETES_QUEUE not in lab_queues, "kubernetes is the KubernetesExecutor's queue, never a Celery pool"


def test_kubernetes_work_goes_to_kubernetes(dagbag):
    for dag, task in all_tasks(dagbag):
        if type(task).__name__ in KUBERNETES_OPERATORS:
            assert task.queue == KUBERNETES_QUEUE, f"{dag.dag_id}.{task.task_id} needs in-cluster credentials"
        if task.executor_config:
            # Celery ignores executor_config: a pod_override on a Celery task would be a dead parameter.
            assert task.queue == KUBERNETES_QUEUE, f"{dag.dag_id}.{task.task_id} has a pod_override but runs on Celery"
            assert set(task.executor_config) == {"pod_override"}


SECRET_PATTERNS = re.compile(r"(password|passwd|secret_key|api_key|token)\s*[=:]\s*['\"][^'\"{]+['\"]|AKIA[0-9A-Z]{16}", re.I)


def test_no_secrets_in_dags():
    offenders = [
        str(path.relative_to(DAGS))
        for path in DAGS.rglob("*")
        if path.is_file() and path.suffix in {".py", ".yaml", ".yml", ".sql"} and SECRET_PATTERNS.search(path.read_text())
    ]
    assert not offenders, f"credentials belong in Airflow connections or Kubernetes Secrets: {offenders}"
