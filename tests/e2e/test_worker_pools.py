"""Worker pool operations on the converged lab (runs after test_site_converge, which needs the lab
as site.yml leaves it): add a worker with add_worker.yml and see it take tasks; drain workers
mid-run with drain_worker.yml and lose no task. Adding a brand-new host is a known gap (see
NEW_HOST_GAP)."""

from __future__ import annotations

import time

import pytest
from lab_airflow import short_host, wait_for
from conftest import REPO, ansible_playbook, lab_exec

DAG = "cluster_smoke"
NEW = "lab-worker4"
DRAINED = ["lab-worker1"]
# Known gap (issue 4 note): pg_hba and PgBouncer's hba list the inventory's hosts, so a brand-new
# worker is refused by the database until the postgres hosts are re-converged. strict: once fixed,
# these start passing and the marker must go.
NEW_HOST_GAP = pytest.mark.xfail(strict=True, reason="new hosts need pg_hba/PgBouncer hba refreshed first")
EXTRA = ["-i", str(REPO / "tests/e2e/inventory_extra_worker.yml")]


def worker_state(host: str) -> str:
    return lab_exec(host, "systemctl", "is-active", "airflow-celery-worker").stdout.strip()


@pytest.fixture(scope="module")
def added_worker(first_converge):
    up = ansible_playbook(*EXTRA, "lab/up.yml", "--limit", f"localhost,{NEW}")
    assert up.proc.returncode == 0, up.output[-4000:]
    started = time.monotonic()
    run = ansible_playbook(*EXTRA, "playbooks/add_worker.yml", "--limit", NEW)
    (REPO / ".lab/add-worker.log").write_text(run.output + f"\nwall seconds: {time.monotonic() - started:.0f}\n")
    assert run.proc.returncode == 0, run.output[-6000:]
    return run


@NEW_HOST_GAP
def test_add_worker_touches_only_the_new_host(added_worker):
    assert set(added_worker.recap) == {NEW}, added_worker.recap
    assert worker_state(NEW) == "active"


def test_drain_mid_run_loses_no_task(api):
    run_id = api.trigger(DAG, {"probes": 12, "seconds": 20})

    def busy_on_drained_hosts():
        return [ti for ti in api.task_instances(DAG, run_id)
                if ti["state"] == "running" and short_host(ti) in DRAINED]

    assert wait_for(busy_on_drained_hosts, 300), "no task ever ran on the workers to drain"
    drain = ansible_playbook(*EXTRA, "playbooks/drain_worker.yml", "--limit", ",".join(DRAINED))
    assert drain.proc.returncode == 0, drain.output[-6000:]
    assert [worker_state(h) for h in DRAINED] == ["inactive"]

    assert api.wait_finished(DAG, run_id) == "success"
    tis = api.task_instances(DAG, run_id)
    assert len([ti for ti in tis if ti["task_id"] == "hostname_default"]) == 12
    # Every task succeeded on its first try: the drain killed or re-ran nothing.
    assert all(ti["state"] == "success" and ti["try_number"] == 1 for ti in tis), tis
    assert any(short_host(ti) in DRAINED for ti in tis if ti["task_id"] == "hostname_default")


@NEW_HOST_GAP
def test_new_worker_takes_the_pool_tasks(api, added_worker):
    """With the pool's other members drained, the new host must run every default-queue task."""
    drain = ansible_playbook(*EXTRA, "playbooks/drain_worker.yml", "--limit", "lab-worker2")
    assert drain.proc.returncode == 0, drain.output[-6000:]
    run_id, state = api.run_to_end(DAG, {"probes": 4, "seconds": 0})
    assert state == "success"
    default = [ti for ti in api.task_instances(DAG, run_id) if ti["queue"] == "default"]
    assert default and {short_host(ti) for ti in default} == {NEW}, default


def test_drained_workers_come_back_with_add_worker(first_converge):
    pool = ["lab-worker1", "lab-worker2"]
    run = ansible_playbook(*EXTRA, "playbooks/add_worker.yml", "--limit", ",".join(pool))
    assert run.proc.returncode == 0, run.output[-6000:]
    assert set(run.recap) == set(pool)
    assert [worker_state(h) for h in pool] == ["active", "active"]
