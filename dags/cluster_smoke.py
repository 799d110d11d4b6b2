"""Smoke test of the Celery worker pools: which hosts serve which queue?

Fans out TASKS_PER_QUEUE mapped tasks on every Celery queue; each returns the hostname of the
worker that ran it. ``report`` collects them per queue. A queue nobody serves leaves its tasks
queued, so a run that never finishes names the missing pool.
"""

from __future__ import annotations

import socket

import pendulum

from airflow.sdk import dag, task

# The Celery queues of the cluster (inventory: airflow_worker_queues of each airflow_workers child
# group). tests/unit checks this against the lab inventory.
QUEUES = ("default", "etl")
TASKS_PER_QUEUE = 4


@dag(
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["smoke", "platform"],
    default_args={"owner": "platform", "retries": 0},
)
def cluster_smoke():
    @task
    def hostname(probe: int) -> str:
        host = socket.gethostname()
        print(f"probe {probe} ran on {host}")
        return host

    @task
    def report(hosts_by_queue: dict[str, list[str]]) -> dict[str, list[str]]:
        summary = {queue: sorted(set(hosts)) for queue, hosts in hosts_by_queue.items()}
        for queue, hosts in summary.items():
            print(f"queue {queue}: {len(hosts)} host(s): {', '.join(hosts)}")
        return summary

    report(
        {
            queue: hostname.override(task_id=f"hostname_{queue}", queue=queue).expand(
                probe=list(range(TASKS_PER_QUEUE))
            )
            for queue in QUEUES
        }
    )


cluster_smoke()
