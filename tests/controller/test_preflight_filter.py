"""The preflight filter on its own: cases that need facts or shapes a local run cannot fake."""

from __future__ import annotations

import importlib.util

from conftest import REPO

spec = importlib.util.spec_from_file_location("cluster_preflight", REPO / "filter_plugins/cluster_preflight.py")
cluster_preflight = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cluster_preflight)

SETTINGS = {
    "quorum_groups": ["postgres", "redis"],
    "required_groups": ["postgres", "redis", "airflow_scheduler", "airflow_api", "airflow_workers"],
    "celery_queues": ["default"],
    "secrets": [{"name": "vault_x", "groups": ["postgres"]}],
}


def cluster(**overrides):
    groups = {
        "postgres": ["pg1", "pg2", "pg3"],
        "redis": ["r1", "r2", "r3"],
        "airflow_scheduler": ["s1"],
        "airflow_api": ["a1"],
        "airflow_workers": ["w1"],
        "workers_default": ["w1"],
    }
    groups.update(overrides)
    hosts = sorted({h for members in groups.values() for h in members})
    groups["all"] = hosts
    hostvars = {
        h: {
            "cluster_address": f"192.0.2.{i + 1}",
            "vault_x": "s3cr3t-" * 4,
            "ansible_facts": {"distribution": "Debian", "distribution_major_version": "12", "hostname": h},
        }
        for i, h in enumerate(hosts)
    }
    hostvars["w1"]["airflow_worker_queues"] = ["default"]
    return groups, hostvars


def problems(groups, hostvars, **settings):
    return cluster_preflight.cluster_preflight_problems(groups, hostvars, {**SETTINGS, **settings})


def test_valid_cluster_has_no_problems():
    assert problems(*cluster()) == []


def test_non_debian_12_host_is_refused():
    groups, hostvars = cluster()
    hostvars["r2"]["ansible_facts"].update(distribution="Ubuntu", distribution_major_version="22")
    assert problems(groups, hostvars) == [
        "host r2 runs Ubuntu 22: this project supports Debian 12 (bookworm) only. Reinstall it with Debian 12 "
        "or remove it from the inventory."
    ]


def test_cloned_hosts_with_the_same_name_are_refused():
    groups, hostvars = cluster()
    hostvars["pg2"]["ansible_facts"]["hostname"] = "pg1"
    [problem] = problems(groups, hostvars)
    assert problem.startswith("hosts pg1, pg2 share the host name 'pg1'")


def test_same_short_name_in_two_domains_is_refused():
    groups, hostvars = cluster(redis=["r1.a.example", "r1.b.example", "r3"])
    for host in ("r1.a.example", "r1.b.example"):
        hostvars[host]["ansible_facts"]["hostname"] = "r1"
    [problem] = problems(groups, hostvars)
    assert "share the host name 'r1'" in problem


def test_worker_in_two_pools_is_refused():
    groups, hostvars = cluster(workers_etl=["w1"])
    found = problems(groups, hostvars)
    assert any("worker w1 is in 2 pools (workers_default, workers_etl)" in p for p in found)


def test_address_must_be_ipv4():
    groups, hostvars = cluster()
    hostvars["s1"]["cluster_address"] = "sched-1"
    assert problems(groups, hostvars)[0].startswith("host s1: cluster_address is 'sched-1', not an IPv4 address")


def test_queue_list_must_be_a_list_of_names():
    groups, hostvars = cluster()
    hostvars["w1"]["airflow_worker_queues"] = "default"
    assert any("airflow_worker_queues must be a non-empty list" in p for p in problems(groups, hostvars))


def test_short_secret_is_refused():
    groups, hostvars = cluster()
    hostvars["pg1"]["vault_x"] = "short"
    assert any("secret vault_x looks like a placeholder or is too short" in p for p in problems(groups, hostvars))


def test_five_node_quorum_is_fine_and_four_is_not():
    assert problems(*cluster(postgres=["p1", "p2", "p3", "p4", "p5"])) == []
    assert any("group 'postgres' has 4 host(s)" in p for p in problems(*cluster(postgres=["p1", "p2", "p3", "p4"])))
