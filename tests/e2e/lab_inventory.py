"""What the lab inventory says about the worker pools: queue -> hosts serving it."""

from __future__ import annotations

import yaml
from conftest import REPO

LAB = REPO / "inventories/lab"


def pool_hosts(inventory: dict | None = None) -> dict[str, set[str]]:
    inventory = inventory or yaml.safe_load((LAB / "hosts.yml").read_text())
    pools = inventory["all"]["children"]["airflow"]["children"]["airflow_workers"]["children"]
    by_queue: dict[str, set[str]] = {}
    for pool, body in pools.items():
        queues = yaml.safe_load((LAB / "group_vars" / f"{pool}.yml").read_text())["airflow_worker_queues"]
        for queue in queues:
            by_queue.setdefault(queue, set()).update(body["hosts"])
    return by_queue
