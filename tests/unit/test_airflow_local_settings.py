"""Unit tests of the cluster policy shipped by the airflow role (roles/airflow/files/airflow_local_settings.py).

Run with the Airflow venv (.venv-airflow): pytest tests/unit/test_airflow_local_settings.py
The pure-function tests need no Airflow; the DagBag test parses real DAG files with the policy plugged in.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import textwrap
from contextlib import contextmanager
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
CELERY_ONLY = ("CeleryExecutor",)
WITH_K8S = ("CeleryExecutor", "KubernetesExecutor")
K8S_PATH = "airflow.providers.cncf.kubernetes.executors.kubernetes_executor.KubernetesExecutor"
# cluster_policy.json as the airflow role renders it (templates/cluster_policy.json.j2).
POLICY_ON = {"queues": ["default"], "kubernetes_queue": "kubernetes", "executors": list(WITH_K8S)}
POLICY_OFF = {**POLICY_ON, "executors": list(CELERY_ONLY)}


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


# --- Executors: names, routing of the Kubernetes queue, unknown executors -----------------------


@pytest.mark.parametrize(
    ("entry", "names"),
    [
        ("CeleryExecutor", {"CeleryExecutor", "airflow.providers.celery.executors.celery_executor.CeleryExecutor"}),
        ("KubernetesExecutor", {"KubernetesExecutor", K8S_PATH}),
        (" k8s:KubernetesExecutor", {"k8s", "KubernetesExecutor", K8S_PATH}),
        ("my.pkg.MyExecutor", {"my.pkg.MyExecutor", "MyExecutor"}),
        ("mine:my.pkg.MyExecutor", {"mine", "my.pkg.MyExecutor", "MyExecutor"}),
    ],
)
def test_executor_names_match_airflows_lookup(monkeypatch, tmp_path, entry, names):
    mod = load_module(monkeypatch, tmp_path, POLICY_ON)
    assert mod.executor_names(entry) == names


def test_core_executor_paths_match_airflow(monkeypatch, tmp_path):
    pytest.importorskip("airflow")
    from airflow.executors.executor_loader import ExecutorLoader

    mod = load_module(monkeypatch, tmp_path, POLICY_ON)
    for name, path in mod.CORE_EXECUTORS.items():
        assert ExecutorLoader.executors[name] == path


def test_policy_file_carries_the_executor_list(monkeypatch, tmp_path):
    mod = load_module(monkeypatch, tmp_path, POLICY_ON)
    path = tmp_path / "p.json"
    path.write_text(json.dumps({**POLICY_ON, "executors": ["CeleryExecutor", "KubernetesExecutor"]}))
    assert mod.load_policy(path)["executors"] == WITH_K8S
    path.write_text(json.dumps({"queues": ["default"], "kubernetes_queue": "kubernetes"}))  # file of an older role
    assert mod.load_policy(path)["executors"] == CELERY_ONLY


def test_kubernetes_queue_is_routed_to_the_kubernetes_executor(monkeypatch, tmp_path):
    mod = load_module(monkeypatch, tmp_path, POLICY_ON)
    assert mod.kubernetes_queue_executor("d", "t", None, WITH_K8S) == ("KubernetesExecutor", None)
    for explicit in ("KubernetesExecutor", K8S_PATH):
        assert mod.kubernetes_queue_executor("d", "t", explicit, WITH_K8S) == (None, None)
    assert mod.kubernetes_queue_executor("d", "t", "k8s", ("CeleryExecutor", "k8s:KubernetesExecutor")) == (None, None)


def test_kubernetes_queue_with_another_executor_is_refused(monkeypatch, tmp_path):
    mod = load_module(monkeypatch, tmp_path, POLICY_ON)
    route, message = mod.kubernetes_queue_executor("my_dag", "my_task", "CeleryExecutor", WITH_K8S)
    assert route is None
    assert "my_dag.my_task" in message and "'CeleryExecutor'" in message


def test_kubernetes_queue_is_refused_while_the_offload_is_off(monkeypatch, tmp_path):
    mod = load_module(monkeypatch, tmp_path, POLICY_OFF)
    route, message = mod.kubernetes_queue_executor("my_dag", "my_task", None, CELERY_ONLY)
    assert route is None
    assert "my_dag.my_task" in message and "offload is off" in message
    assert "airflow_kubernetes_executor_enabled" in message


@pytest.mark.parametrize("executor", [None, "CeleryExecutor", "KubernetesExecutor", K8S_PATH])
def test_configured_executors_pass(monkeypatch, tmp_path, executor):
    mod = load_module(monkeypatch, tmp_path, POLICY_ON)
    assert mod.executor_violation("d", "t", executor, WITH_K8S) is None


@pytest.mark.parametrize(
    ("executor", "executors"),
    [("KubernetesExcutor", WITH_K8S), ("kubernetes", WITH_K8S), ("KubernetesExecutor", CELERY_ONLY), ("", WITH_K8S)],
)
def test_unknown_executor_is_named_with_the_allowed_ones(monkeypatch, tmp_path, executor, executors):
    mod = load_module(monkeypatch, tmp_path, POLICY_ON)
    message = mod.executor_violation("my_dag", "my_task", executor, executors)
    assert message is not None
    assert "my_dag.my_task" in message and repr(executor) in message
    assert f"Use one of: {', '.join(sorted(executors))}" in message


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

    mod = load_module(monkeypatch, tmp_path, {**POLICY_ON, "queues": ["default", "etl"]})
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


def test_task_policy_routes_plain_and_mapped_tasks(monkeypatch, tmp_path, airflow_home):
    from airflow.exceptions import AirflowClusterPolicyViolation
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.sdk import DAG, task

    mod = load_module(monkeypatch, tmp_path, POLICY_ON)
    with DAG("routing", schedule=None):
        plain = EmptyOperator(task_id="plain", queue="kubernetes")
        celery = EmptyOperator(task_id="celery", queue="default")
        native = EmptyOperator(task_id="native", executor="KubernetesExecutor")
        mapped = task(queue="kubernetes")(lambda x: x).override(task_id="mapped").expand(x=[1, 2])
        typo = EmptyOperator(task_id="typo", executor="KubernetesExcutor")
    for op in (plain, celery, native, mapped.operator):
        mod.task_policy(op)
    assert (plain.executor, celery.executor, native.executor) == ("KubernetesExecutor", None, "KubernetesExecutor")
    assert mapped.operator.executor == "KubernetesExecutor"
    with pytest.raises(AirflowClusterPolicyViolation, match="routing.typo uses executor 'KubernetesExcutor'"):
        mod.task_policy(typo)

    (tmp_path / "off").mkdir()
    off = load_module(monkeypatch, tmp_path / "off", POLICY_OFF)
    with DAG("routing_off", schedule=None):
        k8s = EmptyOperator(task_id="k8s", queue="kubernetes")
    with pytest.raises(AirflowClusterPolicyViolation, match="offload is off"):
        off.task_policy(k8s)


@contextmanager
def policy_plugged_in(module):
    """Register the module's task_policy with Airflow's policy manager like airflow.settings does."""
    from airflow import policies, settings

    manager = settings.get_policy_plugin_manager()
    before = set(map(id, manager.get_plugins()))
    assert policies.make_plugin_from_local_settings(manager, module, {"task_policy"}) == {"task_policy"}
    try:
        yield
    finally:
        for plugin in [p for p in manager.get_plugins() if id(p) not in before]:
            manager.unregister(plugin)
        sys.modules.pop(module.__name__, None)


DAG_FILE = textwrap.dedent(
    """
    from airflow.sdk import DAG
    from airflow.providers.standard.operators.empty import EmptyOperator
    with DAG("{dag_id}", schedule=None):
        EmptyOperator(task_id="t", {kwargs})
    """
)


def write_dags(folder: Path, dags: dict[str, str]) -> Path:
    folder.mkdir()
    for dag_id, kwargs in dags.items():
        (folder / f"{dag_id}.py").write_text(DAG_FILE.format(dag_id=dag_id, kwargs=kwargs))
    return folder


def test_dagbag_routes_the_kubernetes_queue_and_keeps_it_serialized(monkeypatch, tmp_path, airflow_home):
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization

    mod = load_module(monkeypatch, tmp_path, POLICY_ON)
    with policy_plugged_in(mod):
        folder = write_dags(tmp_path / "dags", {"k8s_dag": 'queue="kubernetes"', "celery_dag": 'queue="default"'})
        bag = DagBag(dag_folder=str(folder))
    assert bag.import_errors == {}
    assert bag.dags["k8s_dag"].get_task("t").executor == "KubernetesExecutor"
    assert bag.dags["celery_dag"].get_task("t").executor is None
    # What the dag-processor stores and the scheduler reads.
    stored = DagSerialization.from_dict(DagSerialization.to_dict(bag.dags["k8s_dag"]))
    assert stored.get_task("t").executor == "KubernetesExecutor"


def test_dagbag_misspelt_executor_is_an_import_error(monkeypatch, tmp_path, airflow_home):
    """Airflow's own parse-time check (dagbag.py _validate_executor_fields) runs before the policies."""
    from airflow.dag_processing.dagbag import DagBag

    mod = load_module(monkeypatch, tmp_path, POLICY_ON)
    with policy_plugged_in(mod):
        folder = write_dags(tmp_path / "dags", {"typo_dag": 'executor="KubernetesExcutor"'})
        bag = DagBag(dag_folder=str(folder))
    assert "typo_dag" not in bag.dags
    (error,) = bag.import_errors.values()
    assert "UnknownExecutorException" in error and "'KubernetesExcutor'" in error


def test_dagbag_policy_message_when_offload_is_off(monkeypatch, tmp_path, airflow_home):
    """Executors this host knows ([core] executor of the unit tier lists both) but the cluster does not run."""
    from airflow.dag_processing.dagbag import DagBag

    mod = load_module(monkeypatch, tmp_path, POLICY_OFF)
    with policy_plugged_in(mod):
        folder = write_dags(
            tmp_path / "dags",
            {"queue_dag": 'queue="kubernetes"', "executor_dag": 'executor="KubernetesExecutor"', "ok_dag": 'queue="default"'},
        )
        bag = DagBag(dag_folder=str(folder))
    assert set(bag.dags) == {"ok_dag"}
    errors = {Path(k).stem: v for k, v in bag.import_errors.items()}
    assert "AirflowClusterPolicyViolation" in errors["queue_dag"] and "offload is off" in errors["queue_dag"]
    assert "executor_dag.t uses executor 'KubernetesExecutor'" in errors["executor_dag"]
    assert "Use one of: CeleryExecutor" in errors["executor_dag"]


def test_project_dags_parse_with_the_policy(monkeypatch, tmp_path, airflow_home, lab_queues):
    """dags/ under the policy as the lab renders it with the offload on: no import error, and every task on
    the Kubernetes queue ends up on the KubernetesExecutor."""
    from airflow.dag_processing.dagbag import BundleDagBag
    from conftest import DAGS, KUBERNETES_QUEUE

    mod = load_module(monkeypatch, tmp_path, {**POLICY_ON, "queues": sorted(lab_queues)})
    with policy_plugged_in(mod):
        bag = BundleDagBag(dag_folder=str(DAGS), bundle_path=DAGS, bundle_name="dags-folder")
    assert bag.import_errors == {}
    k8s_tasks = [t for dag in bag.dags.values() for t in dag.tasks if t.queue == KUBERNETES_QUEUE]
    assert k8s_tasks, "the example DAGs have Kubernetes tasks"
    assert {t.executor for t in k8s_tasks} == {"KubernetesExecutor"}
