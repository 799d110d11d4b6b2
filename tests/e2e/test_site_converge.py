"""site.yml on the whole lab: converges, converges again with no change, and --check agrees (with
ansible.cfg's stock strategy, as production runs it)."""

from __future__ import annotations

import subprocess

import yaml

from conftest import INVENTORY, ansible_playbook, lab_exec


def inventory_addresses() -> dict[str, str]:
    data = yaml.safe_load(INVENTORY.read_text())
    found = {}

    def walk(group):
        for host, hvars in (group.get("hosts") or {}).items():
            found[host] = hvars["cluster_address"]
        for child in (group.get("children") or {}).values():
            walk(child)

    walk(data["all"])
    return found


def test_first_converge_reaches_every_host(first_converge):
    assert set(first_converge.recap) >= set(inventory_addresses())
    assert all(r["failed"] == 0 and r["unreachable"] == 0 for r in first_converge.recap.values())


def test_second_converge_changes_nothing(first_converge):
    # The run directly after the cold one (the session fixture makes it before any test runs).
    again = first_converge.second
    assert again.proc.returncode == 0, again.output[-4000:]
    assert again.changed == {}, f"not idempotent: {again.changed}"


def test_check_mode_reports_no_change(first_converge):
    # With the stock strategy: the lab converges with Mitogen's (lab/README.md); production does not.
    check = ansible_playbook("site.yml", "--check", "--diff", stock_strategy=True)
    assert check.proc.returncode == 0, check.output[-4000:]
    assert check.changed == {}, f"--check would change: {check.changed}\n{check.output[-4000:]}"


def test_every_host_finds_every_member_by_name(lab_hosts):
    addresses = inventory_addresses()
    for host in ("lab-pg1", "lab-worker3"):
        for peer, address in addresses.items():
            out = lab_exec(host, "getent", "hosts", peer).stdout.split()
            assert out and out[0] == address, (host, peer, out)


def test_airflow_user_exists_only_on_airflow_hosts(lab_hosts):
    assert lab_exec("lab-sched1", "id", "-u", "airflow").returncode == 0
    assert lab_exec("lab-worker1", "id", "-u", "airflow").returncode == 0
    assert lab_exec("lab-pg1", "id", "-u", "airflow").returncode != 0


def test_lab_hosts_carry_the_label_lab_down_removes_by():
    """make lab-down removes containers by this label only: each lab host must carry it."""
    label = yaml.safe_load((INVENTORY.parent / "group_vars/all/lab.yml").read_text())["lab_container_label"]
    listed = subprocess.run(["docker", "ps", "--filter", f"label={label}=host", "--format", "{{.Names}}"],
                            capture_output=True, text=True, check=True).stdout.split()
    assert set(inventory_addresses()) <= set(listed), listed


def unit_state(host: str, component: str) -> tuple[str, str, str]:
    """(MainPID, ActiveState, UnitFileState) of airflow-<component> on host."""
    out = lab_exec(host, "systemctl", "show", f"airflow-{component}",
                   "--property=MainPID,ActiveState,UnitFileState", "--value").stdout.split()
    return out[0], out[1], out[2]


def test_converge_starts_stopped_and_restarts_flagged_components_only(first_converge):
    # On lab-sched2 (lab-sched1 keeps scheduling meanwhile): one stopped component, one flagged
    # for a restart (what a config change leaves), one running but disabled.
    host = "lab-sched2"
    scheduler_pid, _, _ = unit_state(host, "scheduler")
    processor_pid, _, _ = unit_state(host, "dag-processor")
    lab_exec(host, "systemctl", "stop", "airflow-triggerer")
    lab_exec(host, "touch", "/opt/airflow/.restart-pending/scheduler")
    lab_exec(host, "systemctl", "disable", "airflow-dag-processor")

    run = ansible_playbook("playbooks/airflow.yml", "--limit", host)
    assert run.proc.returncode == 0, run.output[-4000:]
    assert unit_state(host, "triggerer")[1:] == ("active", "enabled")
    new_scheduler_pid, scheduler_active, _ = unit_state(host, "scheduler")
    assert scheduler_active == "active" and new_scheduler_pid != scheduler_pid, "flagged scheduler not restarted"
    # Disabled but running and unflagged: enabled again, not restarted.
    assert unit_state(host, "dag-processor") == (processor_pid, "active", "enabled")
    assert lab_exec(host, "ls", "-A", "/opt/airflow/.restart-pending").stdout == ""

    # Converged now: nothing changes and no host enters the rolling play.
    again = ansible_playbook("playbooks/airflow.yml", "--limit", host)
    assert again.proc.returncode == 0 and again.changed == {}, again.output[-4000:]
    rolling = again.output.split("PLAY [Apply pending restarts, one host at a time]", 1)[1]
    assert "skipping: no hosts matched" in rolling.split("PLAY", 1)[0]
