# Managed by Ansible (role airflow, files/airflow_local_settings.py): local edits are overwritten.
"""Cluster policies and engine settings of this Airflow cluster.

Airflow imports this module from ``$AIRFLOW_HOME/config`` in every component. Cluster policies
(``task_policy``, ``dag_policy``, ``task_instance_mutation_hook``, ...) go here; ``__all__`` lists
the names Airflow should pick up, so helper imports do not leak into ``airflow.settings``.

The data the policies need (the cluster's queues and executors) comes from ``cluster_policy.json``
next to this file, rendered by Ansible from the inventory. The decisions live in small pure
functions so the unit tests (tests/unit/test_airflow_local_settings.py) run them without a database.

What ``task_policy`` enforces, per task:
- the queue is one a worker pool serves, or the Kubernetes queue;
- the Kubernetes queue with no executor is routed to the KubernetesExecutor (the habit
  CeleryKubernetesExecutor taught, gone in Airflow 3), and refused when the offload is off;
- an explicit ``executor=`` names one of the executors in ``[core] executor``.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from pathlib import Path
from typing import Any

__all__ = ["task_policy"]

log = logging.getLogger(__name__)

POLICY_FILE = Path(os.environ.get("AIRFLOW_CLUSTER_POLICY_FILE", Path(__file__).with_name("cluster_policy.json")))

# Engine arguments for asyncpg behind PgBouncer in transaction pooling mode: no statement cache
# and unique names, because consecutive transactions may land on different server connections.
# Referenced from airflow.cfg: [database] sql_alchemy_connect_args_async.
PGBOUNCER_ASYNC_CONNECT_ARGS: dict[str, Any] = {
    "statement_cache_size": 0,
    "prepared_statement_name_func": lambda: f"__asyncpg_{uuid.uuid4()}__",
}

KUBERNETES_EXECUTOR = "KubernetesExecutor"
# Module paths of Airflow's core executor names (airflow.executors.executor_loader.ExecutorLoader
# .executors in 3.3.2; a unit test checks they still agree). Copied so the policy needs no import.
CORE_EXECUTORS = {
    "LocalExecutor": "airflow.executors.local_executor.LocalExecutor",
    "CeleryExecutor": "airflow.providers.celery.executors.celery_executor.CeleryExecutor",
    KUBERNETES_EXECUTOR: "airflow.providers.cncf.kubernetes.executors.kubernetes_executor.KubernetesExecutor",
}


def executor_names(entry: str) -> frozenset[str]:
    """Every name a task may use for one ``[core] executor`` entry.

    Mirrors ExecutorLoader: an entry is a core name, a module path, or ``alias:core name|module
    path``; tasks may then say the alias, the module path or the class name.
    """
    alias, _, target = entry.strip().rpartition(":")
    module_path = CORE_EXECUTORS.get(target, target)
    names = {module_path, module_path.rsplit(".", 1)[-1]}
    if target in CORE_EXECUTORS:
        names.add(target)
    if alias:
        names.add(alias)
    return frozenset(names)


def is_kubernetes_executor(entry: str) -> bool:
    return CORE_EXECUTORS[KUBERNETES_EXECUTOR] in executor_names(entry)


def load_policy(path: Path = POLICY_FILE) -> dict[str, Any] | None:
    """Read the policy data; None (policy off, logged) when the file is missing."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        log.warning("Cluster policy file %s is missing: task queues and executors are not checked", path)
        return None
    executors = [e for e in data.get("executors", ["CeleryExecutor"]) if e.strip()]
    return {
        "queues": frozenset(data["queues"]),
        "kubernetes_queue": data.get("kubernetes_queue"),
        "executors": tuple(executors),
    }


def queue_violation(
    dag_id: str,
    task_id: str,
    queue: str | None,
    queues: frozenset[str],
    kubernetes_queue: str | None,
) -> str | None:
    """Return why a task's queue is not allowed on this cluster, or None when it is.

    A Celery task must name a queue some worker pool serves, or it waits forever in the broker.
    The Kubernetes queue (if any) is allowed too: ``kubernetes_queue_executor`` decides its fate.
    """
    allowed = set(queues)
    if kubernetes_queue:
        allowed.add(kubernetes_queue)
    if queue in allowed:
        return None
    return (
        f"Task {dag_id}.{task_id} uses queue {queue!r}, which no worker pool of this cluster serves. "
        f"Use one of: {', '.join(sorted(allowed))}."
    )


def kubernetes_queue_executor(
    dag_id: str,
    task_id: str,
    executor: str | None,
    executors: tuple[str, ...],
) -> tuple[str | None, str | None]:
    """Decide the executor of a task on the Kubernetes queue: (executor to set, violation).

    No executor: route it to the KubernetesExecutor, or refuse it when the cluster has none (no
    Celery pool serves that queue either, so the task would wait forever). An explicit executor
    must be the KubernetesExecutor: any other would send the task to a queue nobody serves.
    """
    k8s_entries = [e for e in executors if is_kubernetes_executor(e)]
    if not k8s_entries:
        return None, (
            f"Task {dag_id}.{task_id} uses the Kubernetes queue, but the Kubernetes offload is off on this "
            f"cluster ([core] executor = {','.join(executors)}): nothing would ever run it. Use a Celery queue, "
            f"or ask the platform team to enable the offload (airflow_kubernetes_executor_enabled)."
        )
    if executor is None:
        return KUBERNETES_EXECUTOR, None
    if any(executor in executor_names(e) for e in k8s_entries):
        return None, None
    return None, (
        f"Task {dag_id}.{task_id} uses the Kubernetes queue with executor {executor!r}: that queue is only run "
        f"by the KubernetesExecutor. Drop executor= (the queue routes it), or use a Celery queue."
    )


def executor_violation(dag_id: str, task_id: str, executor: str | None, executors: tuple[str, ...]) -> str | None:
    """Return why a task's explicit executor is not one of the cluster's, or None when it is.

    Airflow 3.3.2 refuses an unknown executor while parsing (airflow/dag_processing/dagbag.py,
    _validate_executor_fields, before the cluster policies run), but against the parsing host's own
    airflow.cfg and without naming the DAG or the valid names. Should a task slip through (a host
    whose configuration differs, a serialized DAG from before a change), the scheduler only logs
    "Executor, %s, was not found but a Task or Callback was configured to use it" and skips the task
    on every loop, leaving it scheduled forever (airflow/jobs/scheduler_job_runner.py,
    _try_to_load_executor and its caller in _executable_task_instances_to_queued). This check uses
    the inventory's list, identical on every host, and says what to write instead.
    """
    if executor is None:
        return None
    allowed = frozenset().union(*(executor_names(e) for e in executors)) if executors else frozenset()
    if executor in allowed:
        return None
    short = sorted(n for n in allowed if "." not in n)
    return (
        f"Task {dag_id}.{task_id} uses executor {executor!r}, which this cluster does not run "
        f"([core] executor = {','.join(executors)}). Use one of: {', '.join(short)} (or leave executor unset)."
    )


def _set_executor(task, executor: str) -> None:
    try:
        task.executor = executor
    except AttributeError:  # MappedOperator: read-only property over its partial kwargs
        task.partial_kwargs["executor"] = executor


_POLICY = load_policy()


def task_policy(task) -> None:
    """Route the Kubernetes queue and reject unknown queues or executors.

    A violation makes the DAG an import error naming the task (AirflowClusterPolicyViolation).
    """
    if _POLICY is None:
        return
    from airflow.exceptions import AirflowClusterPolicyViolation

    dag_id = getattr(getattr(task, "dag", None), "dag_id", None) or getattr(task, "dag_id", "?")
    executor = getattr(task, "executor", None)
    message = queue_violation(dag_id, task.task_id, task.queue, _POLICY["queues"], _POLICY["kubernetes_queue"])
    if message is None and _POLICY["kubernetes_queue"] and task.queue == _POLICY["kubernetes_queue"]:
        route, message = kubernetes_queue_executor(dag_id, task.task_id, executor, _POLICY["executors"])
        if route:
            _set_executor(task, route)
    if message is None:
        message = executor_violation(dag_id, task.task_id, executor, _POLICY["executors"])
    if message:
        raise AirflowClusterPolicyViolation(message)
