"""Smoke test of the Celery worker pools: which hosts serve which queue?

Fans out ``probes`` mapped tasks on every Celery queue; each returns the hostname of the worker
that ran it, after holding its slot for ``seconds`` (the drain tests use that to keep workers busy).
``report`` collects the hostnames per queue. A queue nobody serves leaves its tasks queued, so a
run that never finishes names the missing pool.
"""

from __future__ import annotations

import socket
import time

import pendulum

from airflow.sdk import Param, dag, task

# The Celery queues of the cluster (inventory: airflow_worker_queues of each airflow_workers child
# group). tests/unit checks this against the lab inventory.
QUEUES = ("default", "etl")


@dag(
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["smoke", "platform"],
    default_args={"owner": "platform", "retries": 0},
    params={
        "probes": Param(4, type="integer", minimum=1, description="Mapped tasks per queue."),
        "seconds": Param(0, type="integer", minimum=0, description="How long each probe runs."),
    },
)
def cluster_smoke():
    @task
    def probe_numbers(params: dict | None = None) -> list[int]:
        return list(range(params["probes"]))

    @task
    def hostname(probe: int, params: dict | None = None) -> str:
        time.sleep(params["seconds"])
        host = socket.gethostname()
        print(f"probe {probe} ran on {host}")
        return host

    @task
    def report(hosts_by_queue: dict[str, list[str]]) -> dict[str, list[str]]:
        summary = {queue: sorted(set(hosts)) for queue, hosts in hosts_by_queue.items()}
        for queue, hosts in summary.items():
            print(f"queue {queue}: {len(hosts)} host(s): {', '.join(hosts)}")
        return summary

    probes = probe_numbers()
    report({queue: hostname.override(task_id=f"hostname_{queue}", queue=queue).expand(probe=probes) for queue in QUEUES})


cluster_smoke()
