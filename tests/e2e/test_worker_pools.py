"""Worker pool operations on the converged lab (runs after test_site_converge, which needs the lab
as site.yml leaves it): add a brand-new worker with add_worker.yml alone and see it take tasks;
drain the pool's other workers mid-run with drain_worker.yml and lose no task; bring them back."""

from __future__ import annotations

import time

import pytest
from lab_airflow import short_host, wait_for
from conftest import REPO, ansible_playbook, lab_exec

DAG = "cluster_smoke"
NEW = "lab-worker4"
DRAINED = ["lab-worker1", "lab-worker2"]  # the rest of workers_default: NEW must carry the pool
EXTRA = ["-i", str(REPO / "tests/e2e/inventory_extra_worker.yml")]
OUTSIDE = ["-i", str(REPO / "tests/e2e/inventory_worker_outside_block.yml")]


def worker_state(host: str) -> str:
    return lab_exec(host, "systemctl", "is-active", "airflow-celery-worker").stdout.strip()


@pytest.fixture(scope="module")
def new_host(first_converge):
    """A fresh Debian container for lab-worker4, nothing on it yet."""
    up = ansible_playbook(*EXTRA, "lab/up.yml", "--limit", f"localhost,{NEW}")
    assert up.proc.returncode == 0, up.output[-4000:]
    return NEW


@pytest.fixture(scope="module")
def added_worker(new_host):
    started = time.monotonic()
    run = ansible_playbook(*EXTRA, "playbooks/add_worker.yml", "--limit", new_host)
    (REPO / ".lab/add-worker.log").write_text(run.output + f"\nwall seconds: {time.monotonic() - started:.0f}\n")
    assert run.proc.returncode == 0, run.output[-6000:]
    # Directly after the cold run, before any test changes the host (see conftest.first_converge).
    run.second = ansible_playbook(*EXTRA, "playbooks/add_worker.yml", "--limit", new_host)
    return run


def test_add_worker_refuses_a_host_the_database_would_reject(new_host):
    run = ansible_playbook(*OUTSIDE, "playbooks/add_worker.yml", "--limit", new_host)
    assert run.proc.returncode != 0
    assert f"The database would refuse {new_host}" in run.output, run.output[-4000:]
    assert "cluster_database_client_networks" in run.output
    assert run.recap[new_host]["changed"] == 0, run.recap
    assert worker_state(new_host) != "active"


def test_add_worker_touches_only_the_new_host(added_worker):
    assert set(added_worker.recap) == {NEW}, added_worker.recap
    assert worker_state(NEW) == "active"


def test_add_worker_second_run_changes_nothing(added_worker):
    again = added_worker.second
    assert again.proc.returncode == 0, again.output[-4000:]
    assert again.changed == {}, f"not idempotent: {again.changed}"


def test_drain_mid_run_loses_no_task(api, added_worker):
    run_id = api.trigger(DAG, {"probes": 12, "seconds": 20})

    def busy_on_drained_hosts():
        return [ti for ti in api.task_instances(DAG, run_id)
                if ti["state"] == "running" and short_host(ti) in DRAINED]

    assert wait_for(busy_on_drained_hosts, 300), "no task ever ran on the workers to drain"
    drain = ansible_playbook(*EXTRA, "playbooks/drain_worker.yml", "--limit", ",".join(DRAINED))
    assert drain.proc.returncode == 0, drain.output[-6000:]
    assert [worker_state(h) for h in DRAINED] == ["inactive", "inactive"]

    assert api.wait_finished(DAG, run_id) == "success"
    tis = api.task_instances(DAG, run_id)
    assert len([ti for ti in tis if ti["task_id"] == "hostname_default"]) == 12
    # Every task succeeded on its first try: the drain killed or re-ran nothing.
    assert all(ti["state"] == "success" and ti["try_number"] == 1 for ti in tis), tis
    assert any(short_host(ti) in DRAINED for ti in tis if ti["task_id"] == "hostname_default")


def test_new_worker_takes_the_pool_tasks(api, added_worker):
    """With the pool's other members drained, the new host runs every default-queue task."""
    run_id, state = api.run_to_end(DAG, {"probes": 4, "seconds": 0})
    assert state == "success"
    default = [ti for ti in api.task_instances(DAG, run_id) if ti["queue"] == "default"]
    assert default and {short_host(ti) for ti in default} == {NEW}, default


def test_drained_workers_come_back_with_add_worker(first_converge):
    run = ansible_playbook(*EXTRA, "playbooks/add_worker.yml", "--limit", ",".join(DRAINED))
    assert run.proc.returncode == 0, run.output[-6000:]
    assert set(run.recap) == set(DRAINED)
    assert [worker_state(h) for h in DRAINED] == ["active", "active"]
