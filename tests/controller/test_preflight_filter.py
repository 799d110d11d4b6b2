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


def test_client_networks_must_be_cidr_blocks():
    groups, hostvars = cluster()
    for pg in ("pg1", "pg2", "pg3"):
        hostvars[pg]["pgbouncer_allowed_networks"] = ["10.20.1.0/24", "10.20.1.5/24"]
        hostvars[pg]["postgresql_ha_client_networks"] = ["10.20.1.0/24", "10.20.1.x"]
    found = problems(groups, hostvars)
    assert len(found) == 2
    assert found[0].startswith("pgbouncer_allowed_networks has '10.20.1.5/24' (on pg1, pg2, pg3)")
    assert found[1].startswith("postgresql_ha_client_networks has '10.20.1.x' (on pg1, pg2, pg3)")


def test_five_node_quorum_is_fine_and_four_is_not():
    assert problems(*cluster(postgres=["p1", "p2", "p3", "p4", "p5"])) == []
    assert any("group 'postgres' has 4 host(s)" in p for p in problems(*cluster(postgres=["p1", "p2", "p3", "p4"])))


KUBECONFIG = "apiVersion: v1\nclusters: [{name: k, cluster: {server: 'https://k8s:6443'}}]\nusers: [{name: u, user: {}}]\n"


def kubernetes_cluster():
    """The Airflow hosts with the KubernetesExecutor switched on and everything it needs."""
    groups, hostvars = cluster(airflow=["s1", "a1", "w1"])
    for host in groups["airflow"]:
        hostvars[host]["airflow_kubernetes_executor_enabled"] = True
        hostvars[host]["airflow_kubernetes_kubeconfig"] = KUBECONFIG
    hostvars["s1"]["k8s_offload_pod_image"] = "registry.example.com/airflow/airflow-pod:3.3.2-1"
    hostvars["s1"]["k8s_offload_execution_api_url"] = "https://api.example.com:8080/execution/"
    return groups, hostvars


def test_kubernetes_executor_complete_has_no_problems():
    assert problems(*kubernetes_cluster()) == []
    groups, hostvars = kubernetes_cluster()
    del hostvars["w1"]["airflow_kubernetes_kubeconfig"]  # workers do not get it by default
    assert problems(groups, hostvars) == []


def test_kubernetes_executor_off_needs_nothing():
    groups, hostvars = cluster(airflow=["s1", "a1", "w1"])
    hostvars["s1"]["airflow_kubernetes_executor_enabled"] = False
    assert problems(groups, hostvars) == []


def test_kubernetes_executor_without_kubeconfig_and_pod_image():
    groups, hostvars = kubernetes_cluster()
    for host in ("s1", "a1"):
        hostvars[host]["airflow_kubernetes_kubeconfig"] = "  "
    del hostvars["s1"]["k8s_offload_pod_image"]
    del hostvars["s1"]["k8s_offload_execution_api_url"]
    found = problems(groups, hostvars)
    assert len(found) == 3, found
    assert found[0].startswith("airflow_kubernetes_kubeconfig is not set on a1, s1")
    assert "vault_airflow_kubernetes_kubeconfig" in found[0]
    assert found[1].startswith("k8s_offload_pod_image is not set on s1")
    assert found[2].startswith("k8s_offload_execution_api_url is not set on s1")


def test_kubeconfig_that_is_not_one_is_refused():
    groups, hostvars = kubernetes_cluster()
    hostvars["s1"]["airflow_kubernetes_kubeconfig"] = "CHANGE_ME"
    [problem] = problems(groups, hostvars)
    assert problem.startswith("airflow_kubernetes_kubeconfig on s1 is not a kubeconfig")


def test_kubeconfig_groups_can_include_the_workers():
    groups, hostvars = kubernetes_cluster()
    del hostvars["w1"]["airflow_kubernetes_kubeconfig"]
    hostvars["w1"]["airflow_kubernetes_kubeconfig_groups"] = ["airflow_scheduler", "airflow_api", "airflow_workers"]
    [problem] = problems(groups, hostvars)
    assert problem.startswith("airflow_kubernetes_kubeconfig is not set on w1")


def test_kubernetes_executor_on_some_hosts_only_is_refused():
    groups, hostvars = kubernetes_cluster()
    hostvars["w1"]["airflow_kubernetes_executor_enabled"] = False
    [problem] = problems(groups, hostvars)
    assert problem.startswith("airflow_kubernetes_executor_enabled is true on a1, s1 but false on w1")
