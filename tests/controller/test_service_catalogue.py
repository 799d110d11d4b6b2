"""The service catalogue (roles/cluster) is the one declaration every role's wiring comes from.

The filters are tested directly; then every role's consumer settings are rendered from the roles'
own defaults and vars (tests/controller/playbooks/render_wiring.yml), once as shipped and once with
a moved port, and the consumers must follow the catalogue.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest
import yaml

from conftest import REPO, VENV_BIN

sys.path.insert(0, str(REPO / "filter_plugins"))
import service_catalogue as sc  # noqa: E402

CATALOGUE = yaml.safe_load((REPO / "roles/cluster/defaults/main.yml").read_text())["cluster_services_default"]
GROUPS = {"postgres": ["pg1", "pg2", "pg3"], "redis": ["r1", "r2", "r3"], "airflow": ["s1"]}
HOSTVARS = {h: {"cluster_address": f"192.0.2.{i}"} for i, h in enumerate(["pg1", "pg2", "pg3", "r1", "r2", "r3", "s1"], 10)}


def test_shipped_catalogue_has_no_problem():
    assert sc.cluster_catalogue_problems(CATALOGUE) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"pgbouncer": {"port": 70000}}, "cluster_services.pgbouncer.port is 70000"),
        ({"pgbouncer": {"port": "x"}}, "cluster_services.pgbouncer.port is 'x'"),
        ({"redis": {"bind": "public"}}, "cluster_services.redis.bind is 'public'"),
        ({"etcd_peer": {"port": 2379}}, "etcd_client, etcd_peer all listen on port 2379"),
        ({"redis": {"clients": "airflow"}}, "cluster_services.redis.clients must be a list"),
        ({"extra": {"port": 1}}, "cluster_services.extra lacks component, group, bind, clients, protocol"),
    ],
)
def test_catalogue_problems_say_what_and_how(change, expected):
    services = {name: dict(entry) for name, entry in CATALOGUE.items()}
    for name, patch in change.items():
        services.setdefault(name, {}).update(patch)
    problems = sc.cluster_catalogue_problems(services)
    assert any(expected in p for p in problems), problems


def test_addresses_endpoints_and_binds():
    assert sc.cluster_endpoints(CATALOGUE, "etcd_client", GROUPS, HOSTVARS) == [
        "192.0.2.10:2379", "192.0.2.11:2379", "192.0.2.12:2379"]
    assert sc.cluster_addresses(CATALOGUE, "redis_sentinel", GROUPS, HOSTVARS) == ["192.0.2.13", "192.0.2.14", "192.0.2.15"]
    assert sc.cluster_bind(CATALOGUE, "pgbouncer", "192.0.2.10") == "192.0.2.10"
    assert sc.cluster_bind(CATALOGUE, "database_pooled", "192.0.2.16") == "127.0.0.1"
    assert sc.cluster_bind(CATALOGUE, "airflow_api", "192.0.2.16") == "0.0.0.0"
    assert sc.cluster_connect_address(CATALOGUE, "database_direct") == "127.0.0.1"
    with pytest.raises(ValueError):
        sc.cluster_connect_address(CATALOGUE, "pgbouncer")
    with pytest.raises(KeyError, match="no entry 'nope'"):
        sc.cluster_port(CATALOGUE, "nope")
    assert set(sc.cluster_listeners(CATALOGUE, ["postgres"])) == {"etcd_client", "etcd_peer", "postgresql", "patroni_api", "pgbouncer"}


def render(inventory, *extra: str) -> dict:
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_CALLBACKS_ENABLED="preload_template_plugins", PATH=f"{VENV_BIN}:{os.environ['PATH']}")
    env.pop("ANSIBLE_VAULT_PASSWORD_FILE", None)
    proc = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory.write()), "--forks", "20",
         str(REPO / "tests/controller/playbooks/render_wiring.yml"), *extra],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    wiring = {}
    for task in result["plays"][0]["tasks"]:
        for host, outcome in task["hosts"].items():
            facts = outcome.get("ansible_facts") or {}
            if "wiring" in facts:
                wiring[host] = facts["wiring"]
    return wiring


def consumers(wiring: dict, ports: dict) -> None:
    """Every consumer setting names the catalogue's port for the listener it reaches."""
    pg = wiring["pg1"]
    assert f"listen_port = {ports['pgbouncer']}" in pg["pgbouncer"]
    assert f"ETCD_LISTEN_CLIENT_URLS=\"http://192.0.2.11:{ports['etcd_client']}," in pg["etcd"]
    assert f"192.0.2.13:{ports['etcd_peer']}\"" in pg["etcd"]
    assert pg["patroni_etcd_hosts"] == [f"192.0.2.1{i}:{ports['etcd_client']}" for i in (1, 2, 3)]
    assert pg["patroni_restapi_url"] == f"http://192.0.2.11:{ports['patroni_api']}"
    assert str(pg["patroni_port"]) == str(ports["postgresql"])
    assert str(wiring["redis1"]["sentinel_port"]) == str(ports["redis_sentinel"])
    for host in ("sched1", "api1", "worker1"):
        af = wiring[host]
        assert f"bind 127.0.0.1:{ports['database_pooled']}" in af["haproxy"]
        assert f"bind 127.0.0.1:{ports['database_direct']}" in af["haproxy"]
        assert f"server pg1 192.0.2.11:{ports['pgbouncer']} check port {ports['patroni_api']}" in af["haproxy"]
        assert f"server pg1 192.0.2.11:{ports['postgresql']} check port {ports['patroni_api']}" in af["haproxy"]
        assert f"@127.0.0.1:{ports['database_pooled']}/airflow" in af["sql_alchemy_conn"]
        assert f"@127.0.0.1:{ports['database_direct']}/airflow" in af["migrate_conn"]
        assert f"@127.0.0.1:{ports['database_pooled']}/airflow_celery" in af["result_backend"]
        assert af["broker_url"].count(f":{ports['redis_sentinel']}/0") == 3, af["broker_url"]
        assert str(af["worker_log_server_port"]) == str(ports["airflow_worker_logs"])
        assert f"--port {ports['airflow_api']}" in af["api_server_command"]
        assert f"--port {ports['airflow_flower']}" in af["flower_command"]
        assert af["execution_api_server_url"] == f"http://192.0.2.41:{ports['airflow_api']}/execution/"


SHIPPED = {name: entry["port"] for name, entry in CATALOGUE.items()}


def test_every_consumer_renders_the_catalogue(inventory):
    consumers(render(inventory), SHIPPED)


def test_consumers_follow_moved_ports(inventory):
    moved = {"pgbouncer": 6543, "patroni_api": 8018, "etcd_client": 2479, "database_direct": 5434,
             "redis_sentinel": 26380, "airflow_api": 8081}
    overrides = {"cluster_service_overrides": {name: {"port": port} for name, port in moved.items()}}
    consumers(render(inventory, "-e", json.dumps(overrides)), SHIPPED | moved)
