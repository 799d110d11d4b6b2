"""cluster_smoke fans out on every Celery queue of the lab and reports hostnames per queue."""

from __future__ import annotations

import socket

import pytest


@pytest.fixture(scope="module")
def smoke(dagbag):
    return dagbag.dags["cluster_smoke"]


def test_queues_match_lab_pools(smoke, lab_queues):
    import cluster_smoke

    assert set(cluster_smoke.QUEUES) == lab_queues


def test_one_mapped_fanout_per_queue(smoke, lab_queues):
    report = smoke.get_task("report")
    for queue in lab_queues:
        fanout = smoke.get_task(f"hostname_{queue}")
        assert fanout.queue == queue
        assert fanout.is_mapped
        assert fanout.upstream_task_ids == {"probe_numbers"}
        assert fanout.task_id in report.upstream_task_ids
    assert len(smoke.tasks) == len(lab_queues) + 2


def test_probes_param_sets_the_fanout_width(smoke):
    assert smoke.params["probes"] == 4
    assert smoke.get_task("probe_numbers").python_callable(params={"probes": 3}) == [0, 1, 2]


def test_hostname_task_returns_the_hostname(smoke):
    fanout = smoke.get_task("hostname_default")
    assert fanout.python_callable(probe=0, params={"seconds": 0}) == socket.gethostname()


def test_report_groups_distinct_hosts_per_queue(smoke):
    report = smoke.get_task("report").python_callable
    result = report({"default": ["w2", "w1", "w2", "w1"], "etl": ["w3", "w3"]})
    assert result == {"default": ["w1", "w2"], "etl": ["w3"]}
