"""Inventory checks run by the preflight role before any host is changed.

`cluster_preflight_problems` looks at the whole inventory at once and returns every problem it
finds as a sentence saying what is wrong and how to fix it, so one run reports everything.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter, defaultdict
from collections.abc import Mapping

import yaml

RESERVED_QUEUE = "kubernetes"
POOL_PREFIX = "workers_"
PLACEHOLDER = re.compile(r"change.?me|placeholder|^<.*>$|^x+$|^todo$", re.IGNORECASE)


def _get(hostvars: Mapping, host: str, name: str, default=None):
    try:
        return hostvars[host].get(name, default)
    except KeyError:
        return default


def _quorum_groups(groups, settings) -> list[str]:
    problems = []
    single_ok = settings.get("allow_single_node", False)
    for group in settings.get("quorum_groups", []):
        size = len(groups.get(group, []))
        if size == 1 and single_ok:
            continue
        if size < 3 or size % 2 == 0:
            problems.append(
                f"group '{group}' has {size} host(s): it needs an odd number of at least 3 (3 or 5) so a "
                f"majority survives the loss of one. Add or remove hosts, or for a non-HA setup use exactly "
                f"1 host and set cluster_allow_single_node: true."
            )
    return problems


def _required_groups(groups, settings) -> list[str]:
    return [
        f"group '{group}' is empty: the cluster needs at least one host there. Add a host under '{group}' in the inventory."
        for group in settings.get("required_groups", [])
        if not groups.get(group)
    ]


def _worker_pools(groups, hostvars, settings) -> list[str]:
    problems = []
    workers = groups.get(settings.get("workers_group", "airflow_workers"), [])
    known = list(settings.get("celery_queues") or [])
    pools = {name: hosts for name, hosts in groups.items() if name.startswith(POOL_PREFIX)}

    if not known:
        problems.append(
            "airflow_celery_queues is empty: list the Celery queues DAGs may use (for example [default]) in the "
            "inventory's group_vars/all."
        )
    if RESERVED_QUEUE in known:
        problems.append(
            f"airflow_celery_queues lists '{RESERVED_QUEUE}': that queue is reserved for the Kubernetes executor "
            f"and never served by Celery. Remove it from airflow_celery_queues."
        )
    for pool, hosts in sorted(pools.items()):
        if pool == POOL_PREFIX + RESERVED_QUEUE:
            problems.append(
                f"worker pool '{pool}': '{RESERVED_QUEUE}' is reserved for the Kubernetes executor. Rename the pool."
            )
        if not hosts:
            problems.append(f"worker pool '{pool}' has no host: add one, or remove the empty group.")

    served = defaultdict(list)
    for host in workers:
        host_pools = [p for p, hosts in pools.items() if host in hosts]
        if len(host_pools) != 1:
            problems.append(
                f"worker {host} is in {len(host_pools)} pools ({', '.join(sorted(host_pools)) or 'none'}): put each "
                f"worker in exactly one child group of airflow_workers named {POOL_PREFIX}<pool>."
            )
        queues = _get(hostvars, host, "airflow_worker_queues")
        if not isinstance(queues, list) or not queues or not all(isinstance(q, str) for q in queues):
            problems.append(
                f"worker {host}: airflow_worker_queues must be a non-empty list of queue names, got {queues!r}. "
                f"Set it in the pool's group_vars."
            )
            continue
        for queue in queues:
            served[queue].append(host)
            if queue == RESERVED_QUEUE:
                problems.append(
                    f"worker {host} serves queue '{RESERVED_QUEUE}', which is reserved for the Kubernetes executor. "
                    f"Remove it from airflow_worker_queues."
                )
            elif known and queue not in known:
                problems.append(
                    f"worker {host}: unknown queue '{queue}' (airflow_celery_queues is {known}). Fix the name, or add "
                    f"the queue to airflow_celery_queues."
                )
    for queue in known:
        if queue != RESERVED_QUEUE and not served.get(queue):
            problems.append(
                f"queue '{queue}' is in airflow_celery_queues but no worker serves it: tasks sent there would wait "
                f"forever. Add it to a pool's airflow_worker_queues, or remove it."
            )
    return problems


def _secrets(groups, hostvars, settings) -> list[str]:
    problems = []
    for item in settings.get("secrets", []):
        name = item["name"]
        needed_by = sorted({h for g in item.get("groups", ["all"]) for h in groups.get(g, [])})
        if not needed_by:
            continue
        value = _get(hostvars, needed_by[0], name)
        where = "/".join(item.get("groups", ["all"]))
        if value is None or (isinstance(value, str) and not value.strip()):
            problems.append(
                f"secret {name} is not set (needed by {where}). Run scripts/generate-secrets.py on the inventory, "
                f"or add it to group_vars/all/vault.yml with ansible-vault edit."
            )
        elif not isinstance(value, str) or PLACEHOLDER.search(value) or len(value) < 16:
            problems.append(
                f"secret {name} looks like a placeholder or is too short (needed by {where}). Replace it with a "
                f"random value of at least 16 characters (scripts/generate-secrets.py makes one)."
            )
    return problems


def _lookup(hostvars: Mapping, host: str, name: str):
    """A variable that may reference a missing vault value: undefined or failing to template = None."""
    try:
        return _get(hostvars, host, name)
    except Exception:  # noqa: BLE001 - Ansible's undefined-variable errors have no stable import path
        return None


def _truthy(value) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() in ("true", "yes", "on", "1"))


def _is_kubeconfig(text) -> bool:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return False
    return isinstance(data, dict) and bool(data.get("clusters")) and bool(data.get("users"))


def _kubernetes(groups, hostvars, settings) -> list[str]:
    """The KubernetesExecutor switch (airflow role) and what it needs, checked only where it is on."""
    airflow = sorted(set(groups.get(settings.get("airflow_group", "airflow"), [])))
    enabled = {h: _truthy(_lookup(hostvars, h, "airflow_kubernetes_executor_enabled")) for h in airflow}
    on = sorted(h for h, value in enabled.items() if value)
    if not on:
        return []
    problems = []
    off = sorted(h for h, value in enabled.items() if not value)
    if off:
        problems.append(
            f"airflow_kubernetes_executor_enabled is true on {', '.join(on)} but false on {', '.join(off)}: every "
            f"Airflow host needs the same [core] executor list (hosts and pods refuse tasks naming an executor they "
            f"do not run). Set it once for the whole 'airflow' group."
        )
    default_groups = settings.get("kubeconfig_groups", ["airflow_scheduler", "airflow_api"])
    schedulers = set(groups.get(settings.get("scheduler_group", "airflow_scheduler"), []))
    missing, invalid = [], []
    for host in on:
        host_groups = _lookup(hostvars, host, "airflow_kubernetes_kubeconfig_groups") or default_groups
        if not any(host in groups.get(g, []) for g in host_groups):
            continue
        kubeconfig = _lookup(hostvars, host, "airflow_kubernetes_kubeconfig")
        if not isinstance(kubeconfig, str) or not kubeconfig.strip():
            missing.append(host)
        elif not _is_kubeconfig(kubeconfig):
            invalid.append(host)
    if missing:
        problems.append(
            f"airflow_kubernetes_kubeconfig is not set on {', '.join(missing)} (the KubernetesExecutor is enabled and "
            f"these hosts use it). Build the executor's kubeconfig (docs/kubernetes.md, runbook step 5), store it in the "
            f"vault as vault_airflow_kubernetes_kubeconfig and wire airflow_kubernetes_kubeconfig to it, or set "
            f"airflow_kubernetes_executor_enabled: false."
        )
    if invalid:
        problems.append(
            f"airflow_kubernetes_kubeconfig on {', '.join(invalid)} is not a kubeconfig (YAML with 'clusters' and "
            f"'users'). Store the whole kubeconfig file's content in the vault."
        )
    for name, fix in (
        ("k8s_offload_pod_image", "the Airflow pod image built from k8s/pod-image (same lock as the hosts), e.g. "
                                  "registry.example.com/airflow/airflow-pod:3.3.2-1"),
        ("k8s_offload_execution_api_url", "the api-servers' Execution API URL as the pods reach it, e.g. "
                                          "https://airflow-api.example.com:8080/execution/"),
    ):
        lacking = [h for h in on if h in schedulers and not str(_lookup(hostvars, h, name) or "").strip()]
        if lacking:
            problems.append(
                f"{name} is not set on {', '.join(lacking)}: the KubernetesExecutor's pod template needs it. Set it in "
                f"the inventory's group_vars to {fix}."
            )
    return problems


def _hosts(groups, hostvars, settings) -> list[str]:
    problems = []
    hosts = [h for h in groups.get("all", []) if h != "localhost"]
    addresses = {}
    for host in hosts:
        address = _get(hostvars, host, "cluster_address")
        try:
            addresses[host] = str(ipaddress.IPv4Address(address))
        except (ipaddress.AddressValueError, ValueError, TypeError):
            problems.append(
                f"host {host}: cluster_address is {address!r}, not an IPv4 address. Set ansible_host to the "
                f"host's IP, or set cluster_address for it."
            )
        facts = _get(hostvars, host, "ansible_facts") or {}
        if facts.get("distribution"):
            release = f"{facts.get('distribution')} {facts.get('distribution_major_version')}"
            if release != "Debian 12":
                problems.append(
                    f"host {host} runs {release}: this project supports Debian 12 (bookworm) only. Reinstall it "
                    f"with Debian 12 or remove it from the inventory."
                )
    for address, count in Counter(addresses.values()).items():
        if count > 1:
            same = sorted(h for h, a in addresses.items() if a == address)
            problems.append(f"hosts {', '.join(same)} share cluster_address {address}: each host needs its own.")
    short = defaultdict(list)
    for host in hosts:
        short[host.split(".")[0]].append(host)
    if settings.get("unique_fact_hostnames", True):
        for host in hosts:
            name = (_get(hostvars, host, "ansible_facts") or {}).get("hostname")
            if name and host.split(".")[0] != name:
                short[name].append(host)
    for name, same in sorted(short.items()):
        same = sorted(set(same))
        if len(same) > 1:
            problems.append(
                f"hosts {', '.join(same)} share the host name '{name}': Celery, Patroni and etcd identify members by "
                f"name. Give each host a unique name."
            )
    return problems


CLIENT_NETWORK_VARIABLES = ("pgbouncer_allowed_networks", "postgresql_ha_client_networks")


def _client_networks(groups, hostvars, settings) -> list[str]:
    """The database hosts' extra client CIDR blocks go into hba files: a typo there locks clients out."""
    bad = defaultdict(set)
    for host in groups.get("all", []):
        for name in CLIENT_NETWORK_VARIABLES:
            for network in _get(hostvars, host, name) or []:
                try:
                    ipaddress.IPv4Network(str(network))
                except (ipaddress.AddressValueError, ipaddress.NetmaskValueError, ValueError):
                    bad[(name, str(network))].add(host)
    return [
        f"{name} has {network!r} (on {', '.join(sorted(hosts))}): not an IPv4 network in CIDR form with no host "
        f"bits set, e.g. 10.20.1.0/24. Fix it in the inventory."
        for (name, network), hosts in sorted(bad.items())
    ]


def cluster_preflight_problems(groups, hostvars, settings):
    """Every problem with the inventory, as a list of 'what is wrong, how to fix it' sentences."""
    groups = {k: list(v) for k, v in groups.items()}
    return (
        _quorum_groups(groups, settings)
        + _required_groups(groups, settings)
        + _worker_pools(groups, hostvars, settings)
        + _secrets(groups, hostvars, settings)
        + _kubernetes(groups, hostvars, settings)
        + _hosts(groups, hostvars, settings)
        + _client_networks(groups, hostvars, settings)
    )


class FilterModule:
    def filters(self):
        return {"cluster_preflight_problems": cluster_preflight_problems}
