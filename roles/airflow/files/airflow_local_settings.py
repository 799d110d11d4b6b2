# Managed by Ansible (role airflow, files/airflow_local_settings.py): local edits are overwritten.
"""Cluster policies and engine settings of this Airflow cluster.

Airflow imports this module from ``$AIRFLOW_HOME/config`` in every component. Cluster policies
(``task_policy``, ``dag_policy``, ``task_instance_mutation_hook``, ...) go here; ``__all__`` lists
the names Airflow should pick up, so helper imports do not leak into ``airflow.settings``.

The data the policies need (the cluster's queues) comes from ``cluster_policy.json`` next to this
file, rendered by Ansible from the inventory. The decisions live in small pure functions so the
unit tests (tests/unit/test_airflow_local_settings.py) run them without a database.
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


def load_policy(path: Path = POLICY_FILE) -> dict[str, Any] | None:
    """Read the policy data; None (policy off, logged) when the file is missing."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        log.warning("Cluster policy file %s is missing: task queues are not checked", path)
        return None
    return {
        "queues": frozenset(data["queues"]),
        "kubernetes_queue": data.get("kubernetes_queue"),
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
    The Kubernetes queue (if any) is allowed too: the executor routing sends it to pods.
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


_POLICY = load_policy()


def task_policy(task) -> None:
    """Reject DAGs with tasks on unknown queues (the DAG shows an import error naming the task)."""
    if _POLICY is None:
        return
    dag_id = getattr(getattr(task, "dag", None), "dag_id", None) or getattr(task, "dag_id", "?")
    message = queue_violation(dag_id, task.task_id, task.queue, _POLICY["queues"], _POLICY["kubernetes_queue"])
    if message:
        from airflow.exceptions import AirflowClusterPolicyViolation

        raise AirflowClusterPolicyViolation(message)
