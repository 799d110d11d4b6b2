"""Preflight against broken inventories: every problem reported at once, nothing changed.

Each case runs the real site.yml. The fixture hosts use the local connection, so a run that got
past preflight would start changing this machine: the assertions check that only the preflight
play ran and that nothing reported a change.
"""

from __future__ import annotations

import re

from conftest import run_playbook


def plays_run(output: str) -> list[str]:
    return re.findall(r"^PLAY \[(.+?)\]", output, re.MULTILINE)


def assert_stopped_in_preflight(result, *messages: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert plays_run(output) == ["Preflight"], output
    assert not re.search(r"changed=[1-9]", output), output
    for message in messages:
        assert message in output, f"missing {message!r} in:\n{output}"


def test_valid_inventory_passes_preflight(inventory):
    result = run_playbook("playbooks/preflight.yml", inventory.write())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Preflight passed for 10 host(s)." in result.stdout


def test_every_problem_is_reported_in_one_run(inventory):
    inventory.groups["postgres"]["hosts"].pop("pg3")  # even quorum group
    workers = inventory.groups["airflow"]["children"]["airflow_workers"]["children"]
    workers["workers_etl"]["vars"]["airflow_worker_queues"] = ["etll"]  # typo
    workers["workers_kubernetes"] = {"vars": {"airflow_worker_queues": ["kubernetes"]},
                                     "hosts": {"worker3": {"cluster_address": "192.0.2.53"}}}
    del inventory.vault["vault_airflow_fernet_key"]
    inventory.vault["vault_redis_airflow_password"] = "CHANGE_ME_PLEASE_1234"
    inventory.groups["redis"]["hosts"]["redis3"]["cluster_address"] = "192.0.2.21"  # duplicate
    result = run_playbook("site.yml", inventory.write())
    assert_stopped_in_preflight(
        result,
        "Preflight found 8 problem(s); nothing was changed",
        "group 'postgres' has 2 host(s)",
        "worker pool 'workers_kubernetes': 'kubernetes' is reserved",
        "worker worker3 serves queue 'kubernetes'",
        "worker worker2: unknown queue 'etll'",
        "queue 'etl' is in airflow_celery_queues but no worker serves it",
        "secret vault_airflow_fernet_key is not set",
        "secret vault_redis_airflow_password looks like a placeholder",
        "hosts redis1, redis3 share cluster_address 192.0.2.21",
    )


def test_missing_component_groups(inventory):
    for group in ("airflow_scheduler", "airflow_api"):
        inventory.groups["airflow"]["children"][group]["hosts"] = {}
    assert_stopped_in_preflight(
        run_playbook("site.yml", inventory.write()),
        "group 'airflow_scheduler' is empty",
        "group 'airflow_api' is empty",
    )


def test_single_node_needs_the_opt_in(inventory):
    for host in ("pg2", "pg3"):
        inventory.groups["postgres"]["hosts"].pop(host)
    assert_stopped_in_preflight(run_playbook("site.yml", inventory.write()), "cluster_allow_single_node: true")

    inventory.data["all"]["vars"]["cluster_allow_single_node"] = True
    result = run_playbook("playbooks/preflight.yml", inventory.write())
    assert result.returncode == 0, result.stdout


def test_bad_variable_type_is_caught_by_the_role_argument_spec(inventory):
    inventory.data["all"]["vars"]["common_nofile_limit"] = "lots"
    assert_stopped_in_preflight(
        run_playbook("site.yml", inventory.write()),
        "role argument check",
        "common_nofile_limit",
    )


def test_kubernetes_executor_needs_its_kubeconfig_and_pod_image(inventory):
    inventory.groups["airflow"]["vars"] = {"airflow_kubernetes_executor_enabled": True}
    assert_stopped_in_preflight(
        run_playbook("site.yml", inventory.write()),
        "Preflight found 3 problem(s); nothing was changed",
        "airflow_kubernetes_kubeconfig is not set on api1, sched1",
        "k8s_offload_pod_image is not set on sched1",
        "k8s_offload_execution_api_url is not set on sched1",
    )


def test_kubernetes_executor_from_the_vault_passes(inventory):
    inventory.groups["airflow"]["vars"] = {
        "airflow_kubernetes_executor_enabled": True,
        # How the lead wires it (group_vars/all): the kubeconfig content lives in the vault.
        "airflow_kubernetes_kubeconfig": "{{ vault_airflow_kubernetes_kubeconfig }}",
        "k8s_offload_pod_image": "registry.example.com/airflow/airflow-pod:3.3.2-1",
        "k8s_offload_execution_api_url": "https://airflow-api.example.com:8080/execution/",
    }
    inventory.vault["vault_airflow_kubernetes_kubeconfig"] = (
        "apiVersion: v1\nkind: Config\nclusters: [{name: k, cluster: {server: 'https://192.0.2.99:6443'}}]\n"
        "users: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: k, user: u}}]\n"
        "current-context: c\n"
    )
    result = run_playbook("playbooks/preflight.yml", inventory.write())
    assert result.returncode == 0, result.stdout + result.stderr

    del inventory.vault["vault_airflow_kubernetes_kubeconfig"]  # referenced but missing from the vault
    assert_stopped_in_preflight(
        run_playbook("site.yml", inventory.write()),
        "Preflight found 1 problem(s)",
        "airflow_kubernetes_kubeconfig is not set on api1, sched1",
    )
