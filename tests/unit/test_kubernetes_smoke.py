"""dags/kubernetes_smoke.py: parses under the cluster policy as the lab renders it (offload on), and each
task lands where the lab e2e test (tests/e2e/test_kubernetes_offload.py) expects it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import DAGS, KUBERNETES_QUEUE
from test_airflow_local_settings import POLICY_ON, load_module, policy_plugged_in

DAG_ID = "kubernetes_smoke"


@pytest.fixture
def smoke_dag(monkeypatch, tmp_path, lab_queues):
    pytest.importorskip("airflow")
    from airflow.dag_processing.dagbag import BundleDagBag

    monkeypatch.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    mod = load_module(monkeypatch, tmp_path, {**POLICY_ON, "queues": sorted(lab_queues)})
    with policy_plugged_in(mod):
        bag = BundleDagBag(dag_folder=str(DAGS / f"{DAG_ID}.py"), bundle_path=DAGS, bundle_name="dags-folder")
    assert bag.import_errors == {}
    return bag.dags[DAG_ID]


def test_routing_of_each_task(smoke_dag):
    tasks = {t.task_id: t for t in smoke_dag.tasks}
    assert set(tasks) == {"on_celery", "on_kubernetes_queue", "on_kubernetes_executor", "maybe_fail"}
    # Celery: no executor (the default, CeleryExecutor) on the default queue ([operators] default_queue).
    assert tasks["on_celery"].executor is None and tasks["on_celery"].queue == "default"
    # The Kubernetes queue is routed by the policy; executor= needs no queue.
    assert tasks["on_kubernetes_queue"].queue == KUBERNETES_QUEUE
    assert tasks["on_kubernetes_queue"].executor == "KubernetesExecutor"
    assert tasks["on_kubernetes_executor"].executor == "KubernetesExecutor"
    assert tasks["on_kubernetes_executor"].queue != KUBERNETES_QUEUE
    assert tasks["maybe_fail"].executor == "KubernetesExecutor"
    assert tasks["maybe_fail"].retries == 1 and tasks["maybe_fail"].retry_delay == timedelta(seconds=5)
    assert smoke_dag.params["fail"] is False


def test_pod_override_survives_serialization(smoke_dag):
    """What the scheduler reads (serialized DAG): the executor and the pod_override of the resources task."""
    from airflow.serialization.serialized_objects import DagSerialization

    stored = DagSerialization.from_dict(DagSerialization.to_dict(smoke_dag))
    task = stored.get_task("on_kubernetes_queue")
    assert task.executor == "KubernetesExecutor"
    (base,) = task.executor_config["pod_override"].spec.containers
    assert base.name == "base"
    assert base.resources.requests == {"cpu": "500m", "memory": "384Mi"}
    assert base.resources.limits == {"memory": "384Mi"}
    assert stored.get_task("on_kubernetes_executor").executor == "KubernetesExecutor"


def test_fail_param_makes_maybe_fail_raise(smoke_dag):
    fn = smoke_dag.get_task("maybe_fail").python_callable
    assert fn(params={"fail": False})
    with pytest.raises(RuntimeError, match="failing on purpose"):
        fn(params={"fail": True})
