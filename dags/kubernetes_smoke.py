"""Smoke test of the Kubernetes offload: where does each kind of task run?

Three tasks report the hostname of the process that ran them:

- ``on_celery``: no queue, so the default Celery queue (a ``workers_default`` host);
- ``on_kubernetes_queue``: ``queue="kubernetes"``, which the cluster policy routes to the
  KubernetesExecutor, with per-task resources (``pod_resources``, merged into the pod template);
- ``on_kubernetes_executor``: ``executor="KubernetesExecutor"`` named directly (Airflow 3 multi-executor).

``on_kubernetes_executor`` keeps its pod running for the run's ``seconds`` param after printing, so
its log can be read while the pod runs (the api-server reads it through the Kubernetes API).
``maybe_fail`` runs on Kubernetes too and fails on purpose when the run's ``fail`` param is true; it
retries once after a few seconds, so such a run shows a Kubernetes retry and then a failed run.
The lab runs it against the Kubernetes API test double (tests/e2e/test_kubernetes_offload.py).
"""

from __future__ import annotations

import socket
import time
from datetime import timedelta

import pendulum

from airflow.sdk import Param, dag, task
from common.k8s_resources import pod_resources
from common.settings import KUBERNETES_QUEUE

# Requests of the pod of on_kubernetes_queue (the e2e test finds them in the created pod).
POD_CPU = "500m"
POD_MEMORY = "384Mi"


@dag(
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["smoke", "platform", "kubernetes"],
    default_args={"owner": "platform", "retries": 0},
    params={
        "fail": Param(False, type="boolean", description="Make maybe_fail fail (it retries once first)."),
        "seconds": Param(0, type="integer", minimum=0, description="How long on_kubernetes_executor's pod runs."),
    },
)
def kubernetes_smoke():
    @task
    def on_celery() -> str:
        host = socket.gethostname()
        print(f"on_celery ran on {host}")
        return host

    @task(queue=KUBERNETES_QUEUE, executor_config=pod_resources(cpu=POD_CPU, memory=POD_MEMORY))
    def on_kubernetes_queue() -> str:
        host = socket.gethostname()
        print(f"on_kubernetes_queue ran on {host}")
        return host

    @task(executor="KubernetesExecutor")
    def on_kubernetes_executor(params: dict | None = None) -> str:
        host = socket.gethostname()
        print(f"on_kubernetes_executor ran on {host}")
        time.sleep(params["seconds"])
        return host

    @task(queue=KUBERNETES_QUEUE, retries=1, retry_delay=timedelta(seconds=5))
    def maybe_fail(params: dict | None = None) -> str:
        host = socket.gethostname()
        print(f"maybe_fail ran on {host}")
        if params["fail"]:
            raise RuntimeError("failing on purpose: the run was triggered with conf {'fail': true}")
        return host

    [on_celery(), on_kubernetes_queue(), on_kubernetes_executor()] >> maybe_fail()


kubernetes_smoke()
