"""Unit tests of the cluster policy shipped by the airflow role (roles/airflow/files/airflow_local_settings.py).

Run with the Airflow venv (.venv-airflow): pytest tests/unit/test_airflow_local_settings.py
The pure-function tests need no Airflow; the DagBag test parses real DAG files with the policy plugged in.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import textwrap
from pathlib import Path

import pytest

MODULE_PATH = Path(__file__).resolve().parents[2] / "roles" / "airflow" / "files" / "airflow_local_settings.py"


def load_module(monkeypatch, tmp_path, policy: dict | None):
    """Import a fresh copy of the module with the given cluster_policy.json (None = no file)."""
    policy_file = tmp_path / "cluster_policy.json"
    if policy is not None:
        policy_file.write_text(json.dumps(policy))
    monkeypatch.setenv("AIRFLOW_CLUSTER_POLICY_FILE", str(policy_file))
    spec = importlib.util.spec_from_file_location(f"als_{tmp_path.name}", MODULE_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


QUEUES = frozenset({"default", "etl"})


@pytest.mark.parametrize("queue", ["default", "etl", "kubernetes"])
def test_known_queues_pass(monkeypatch, tmp_path, queue):
    mod = load_module(monkeypatch, tmp_path, {"queues": ["default", "etl"], "kubernetes_queue": "kubernetes"})
    assert mod.queue_violation("d", "t", queue, QUEUES, "kubernetes") is None


@pytest.mark.parametrize("queue", ["gpu", "", None, "Default"])
def test_unknown_queue_is_named_in_the_message(monkeypatch, tmp_path, queue):
    mod = load_module(monkeypatch, tmp_path, {"queues": ["default", "etl"]})
    message = mod.queue_violation("my_dag", "my_task", queue, QUEUES, "kubernetes")
    assert message is not None
    assert "my_dag.my_task" in message and repr(queue) in message
    assert "default, etl, kubernetes" in message


def test_without_kubernetes_queue_it_is_rejected(monkeypatch, tmp_path):
    mod = load_module(monkeypatch, tmp_path, {"queues": ["default"]})
    assert mod.queue_violation("d", "t", "kubernetes", frozenset({"default"}), None) is not None


def test_missing_policy_file_disables_the_check(monkeypatch, tmp_path):
    mod = load_module(monkeypatch, tmp_path, None)
    assert mod.load_policy(tmp_path / "absent.json") is None
    task = type("Task", (), {"task_id": "t", "queue": "anything", "dag_id": "d"})()
    mod.task_policy(task)  # no exception


def test_only_policies_are_exported(monkeypatch, tmp_path):
    # airflow.settings copies every exported name into its own globals.
    mod = load_module(monkeypatch, tmp_path, {"queues": ["default"]})
    assert mod.__all__ == ["task_policy"]


def test_pgbouncer_async_args_make_unique_statement_names(monkeypatch, tmp_path):
    mod = load_module(monkeypatch, tmp_path, {"queues": ["default"]})
    args = mod.PGBOUNCER_ASYNC_CONNECT_ARGS
    assert args["statement_cache_size"] == 0
    assert args["prepared_statement_name_func"]() != args["prepared_statement_name_func"]()


# --- With Airflow: the policy on real operators and in a DagBag ---------------------------------


@pytest.fixture
def airflow_home(monkeypatch, tmp_path):
    pytest.importorskip("airflow")
    home = tmp_path / "airflow_home"
    home.mkdir()
    monkeypatch.setenv("AIRFLOW_HOME", str(home))
    monkeypatch.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    monkeypatch.setenv("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
    return home


def test_task_policy_raises_cluster_policy_violation(monkeypatch, tmp_path, airflow_home):
    from airflow.exceptions import AirflowClusterPolicyViolation
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.sdk import DAG

    mod = load_module(monkeypatch, tmp_path, {"queues": ["default", "etl"], "kubernetes_queue": "kubernetes"})
    with DAG("policy_check", schedule=None):
        good = EmptyOperator(task_id="good", queue="etl")
        k8s = EmptyOperator(task_id="k8s", queue="kubernetes")
        bad = EmptyOperator(task_id="bad", queue="gpu")
    mod.task_policy(good)
    mod.task_policy(k8s)
    with pytest.raises(AirflowClusterPolicyViolation, match="policy_check.bad uses queue 'gpu'"):
        mod.task_policy(bad)


def test_dagbag_reports_violation_as_import_error(monkeypatch, tmp_path, airflow_home):
    from airflow import policies, settings
    from airflow.dag_processing.dagbag import DagBag

    mod = load_module(monkeypatch, tmp_path, {"queues": ["default"], "kubernetes_queue": "kubernetes"})
    manager = settings.get_policy_plugin_manager()
    before = set(map(id, manager.get_plugins()))
    assert policies.make_plugin_from_local_settings(manager, mod, {"task_policy"}) == {"task_policy"}
    try:
        dags = tmp_path / "dags"
        dags.mkdir()
        template = textwrap.dedent(
            """
            from airflow.sdk import DAG
            from airflow.providers.standard.operators.empty import EmptyOperator
            with DAG("{dag_id}", schedule=None):
                EmptyOperator(task_id="t", queue="{queue}")
            """
        )
        (dags / "ok.py").write_text(template.format(dag_id="ok_dag", queue="default"))
        (dags / "bad.py").write_text(template.format(dag_id="bad_dag", queue="nowhere"))
        bag = DagBag(dag_folder=str(dags))
        assert "ok_dag" in bag.dags
        assert "bad_dag" not in bag.dags
        errors = {Path(k).name: v for k, v in bag.import_errors.items()}
        assert "nowhere" in errors["bad.py"] and "AirflowClusterPolicyViolation" in errors["bad.py"]
    finally:
        for plugin in [p for p in manager.get_plugins() if id(p) not in before]:
            manager.unregister(plugin)
        sys.modules.pop(mod.__name__, None)
