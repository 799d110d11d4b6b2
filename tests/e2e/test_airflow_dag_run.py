"""Airflow on the whole lab: components healthy, the smoke DAG triggered through the REST API runs
every queue's tasks on that queue's pool, and the api-server reads each task's log from the
worker that ran it (another host)."""

from __future__ import annotations

import json

import pytest
from lab_airflow import API_HOST, lab_secret, short_host
from conftest import lab_exec
from lab_inventory import pool_hosts

DAG = "cluster_smoke"


@pytest.fixture(scope="module")
def smoke_run(api):
    run_id, state = api.run_to_end(DAG)
    return state, api.task_instances(DAG, run_id)


def test_health_endpoint_reports_every_component_healthy(api):
    health = api.get("/api/v2/monitor/health")
    for component in ("metadatabase", "scheduler", "triggerer", "dag_processor"):
        assert health[component]["status"] == "healthy", health


def test_both_schedulers_are_active(first_converge):
    for host in ("lab-sched1", "lab-sched2"):
        out = lab_exec(host, "/usr/local/bin/airflow", "jobs", "check", "--job-type", "SchedulerJob", "--local")
        assert out.returncode == 0, (host, out.stdout, out.stderr)


def test_a_wrong_password_gets_no_token(api):
    status, _ = api.request("POST", "/auth/token", {"username": "admin", "password": "not-the-password"}, auth=False)
    assert status == 401
    status, _ = api.request("GET", "/api/v2/dags", auth=False)
    assert status == 401


def test_smoke_dag_runs_each_queue_on_its_pool(smoke_run):
    state, tis = smoke_run
    assert state == "success", tis
    pools = pool_hosts()
    for queue, hosts in pools.items():
        fanout = [ti for ti in tis if ti["task_id"] == f"hostname_{queue}"]
        assert len(fanout) == 4, fanout
        for ti in fanout:
            assert ti["state"] == "success" and ti["queue"] == queue, ti
            assert short_host(ti) in hosts, f"{queue} task ran on {ti['hostname']}, not on {sorted(hosts)}"


def test_task_logs_are_read_from_the_worker_that_ran_them(api, smoke_run):
    _, tis = smoke_run
    for ti in (t for t in tis if t["task_id"].startswith("hostname_") and t["map_index"] == 0):
        host = short_host(ti)
        assert host != API_HOST
        log = api.log(ti)
        assert f"probe 0 ran on {host}" in log, log[-2000:]


def test_flower_sees_every_worker_through_the_airflow_broker_user(first_converge):
    """Flower inspects workers over the broker as the restricted `airflow` Redis ACL user."""
    password = lab_secret("vault_airflow_flower_password")
    unauthenticated = lab_exec(API_HOST, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                               "http://127.0.0.1:5555/api/workers")
    assert unauthenticated.stdout == "401"
    out = lab_exec(API_HOST, "curl", "-sf", "-u", f"flower:{password}", "http://127.0.0.1:5555/api/workers?refresh=1")
    assert out.returncode == 0, out.stderr
    workers = json.loads(out.stdout)
    assert {name.split("@")[1] for name in workers} >= set().union(*pool_hosts().values()), workers
