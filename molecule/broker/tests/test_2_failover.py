"""Failover behaviour. The tests run in file order and move the master around."""

import os
import pathlib
import re
import subprocess
import time

from conftest import (
    NODES, SCENARIO, address, admin, client_write, docker, healthy, info, masters_by_sentinels, name_of,
    sentinel, wait_until, MASTER_NAME,
)

# Bounds for the failover tests; the README explains the timings (down-after 2 s).
FAILOVER_BOUND_S = 15


def _other(master_ip):
    return next(n for n in NODES if address(n) != master_ip)


def test_manual_failover_moves_the_master_and_clients_follow(cluster):
    old = cluster
    client = _other(old)
    key = f"failover:manual:{time.time()}"
    assert client_write(client, key, "before")["ok"]
    assert sentinel(client, "SENTINEL", "FAILOVER", MASTER_NAME) == "OK"
    new = wait_until(lambda: (lambda m: m if m and m != old else False)(healthy()), 60,
                     message="a new healthy master after SENTINEL FAILOVER")
    assert new != old
    assert info(name_of(old))["role"] == "slave"
    result = client_write(client, key, "after")
    assert result["ok"] and result["master"] == new, result
    # Nothing written before the failover was lost.
    assert admin(name_of(new), "LRANGE", key, "0", "-1").splitlines() == ["before", "after"]


def test_killing_the_master_elects_a_new_one_and_writes_continue(cluster):
    old = cluster
    victim = name_of(old)
    client = _other(old)
    key = f"failover:crash:{time.time()}"
    assert client_write(client, key, "before")["ok"]
    docker("kill", victim)
    try:
        started = time.monotonic()
        result = client_write(client, key, "after", timeout=FAILOVER_BOUND_S)
        elapsed = time.monotonic() - started
        assert result["ok"], result
        assert result["master"] != old
        print(f"first acknowledged write {result['elapsed']:.1f}s after the kill ({elapsed:.1f}s incl. docker exec)")
        survivors = [n for n in NODES if n != victim]
        assert {masters_by_sentinels()[n] for n in survivors} == {result["master"]}
        assert admin(name_of(result["master"]), "LRANGE", key, "0", "-1").splitlines() == [
            "before", "after"]
    finally:
        docker("start", victim)
    # The old master comes back, is turned into a replica by Sentinel and the group heals.
    assert address(victim) == old, "the restarted container must keep its address"
    master = wait_until(healthy, 90, interval=1, message="the group to heal after restarting the old master")
    assert master != old
    assert info(victim)["role"] == "slave"


def test_reconverge_after_failover_changes_nothing_and_keeps_the_master(cluster):
    # Re-run the scenario's converge (same play as playbooks/broker.yml) against the moved
    # master. It must report changed=0 and leave the master where Sentinel put it.
    master_before = cluster
    inventory = os.environ.get("MOLECULE_INVENTORY_FILE")
    assert inventory, "run through `molecule verify`: it provides the inventory and ANSIBLE_CONFIG"
    res = subprocess.run(
        ["ansible-playbook", "--inventory", str(pathlib.Path(inventory).parent), str(SCENARIO / "converge.yml")],
        capture_output=True, text=True, timeout=900, env={**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"},
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    recap = re.findall(r"(mol-broker-\S+)\s*:\s*ok=\d+\s+changed=(\d+)", res.stdout)
    assert sorted(h for h, _ in recap) == NODES, res.stdout[-2000:]
    assert all(changed == "0" for _, changed in recap), res.stdout[-3000:]
    assert f"Master of {MASTER_NAME}: {master_before}" in res.stdout
    time.sleep(3)
    assert healthy(expected_master=master_before) == master_before
