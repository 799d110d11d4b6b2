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
    again = ansible_playbook("site.yml")
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
