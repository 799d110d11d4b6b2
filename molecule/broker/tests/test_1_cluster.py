"""A converged broker group: replication, Sentinel agreement, settings and access control."""

import json

import pytest
from conftest import (
    ADMIN, AIRFLOW, MASTER_NAME, NODES, SENTINEL_PASSWORD, SENTINEL_PORT, address, admin, cli, docker,
    info, masters_by_sentinels, name_of, pairs, sentinel,
)

testinfra_hosts = ["ansible://redis"]


def test_services_enabled_and_running(host):
    for service in ("redis-server", "redis-sentinel"):
        assert host.service(service).is_enabled
        assert host.service(service).is_running


def test_listens_on_loopback_and_cluster_address_only(host):
    ip = address(host.backend.get_hostname())
    for port in (6379, 26379):
        assert host.socket(f"tcp://127.0.0.1:{port}").is_listening
        assert host.socket(f"tcp://{ip}:{port}").is_listening
        assert not host.socket(f"tcp://0.0.0.0:{port}").is_listening


def test_kernel_settings_file_is_valid(host):
    # /proc/sys is read-only in a container: only a parse error would count here.
    assert "vm.overcommit_memory = 1" in host.file("/etc/sysctl.d/61-redis.conf").content_string
    assert "Invalid argument" not in host.run("sysctl -p /etc/sysctl.d/61-redis.conf 2>&1").stdout


def test_acl_passwords_are_hashed(host):
    acl = host.file("/etc/redis/users.acl")
    assert acl.user == "redis" and acl.mode == 0o640
    assert "test-airflow-pw" not in acl.content_string
    assert "#" in acl.content_string and "user default off" in acl.content_string


def test_replication_has_two_online_replicas(cluster):
    master = name_of(cluster)
    repl = info(master)
    assert repl["role"] == "master"
    assert repl["connected_slaves"] == "2"
    assert sum("state=online" in repl[f"slave{i}"] for i in range(2)) == 2
    for n in NODES:
        if n != master:
            replica = info(n)
            assert replica["role"] == "slave"
            assert replica["master_host"] == cluster
            assert replica["master_link_status"] == "up"


def test_sentinels_agree_and_see_the_whole_group(cluster):
    assert set(masters_by_sentinels().values()) == {cluster}
    for n in NODES:
        state = pairs(sentinel(n, "SENTINEL", "MASTER", MASTER_NAME))
        assert state["flags"] == "master"
        assert state["num-slaves"] == "2"
        assert state["num-other-sentinels"] == "2"
        assert state["quorum"] == "2"
        # Runtime tuning applied by the role.
        assert state["down-after-milliseconds"] == "2000"
        assert state["failover-timeout"] == "10000"
        assert sentinel(n, "SENTINEL", "CKQUORUM", MASTER_NAME).startswith("OK 3 usable Sentinels")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("maxmemory-policy", "noeviction"),
        ("appendonly", "yes"),
        ("min-replicas-to-write", "1"),
        ("min-replicas-max-lag", "5"),
        ("protected-mode", "yes"),
        ("maxmemory", str(64 * 1024 * 1024)),
    ],
)
def test_data_node_settings(name, value):
    for n in NODES:
        assert admin(n, "CONFIG", "GET", name).splitlines() == [name, value]


@pytest.mark.parametrize("port", [6379, 26379])
def test_unauthenticated_clients_are_refused(port):
    # From a peer over the network and locally.
    target = address(NODES[0])
    for src, host in ((NODES[1], target), (NODES[0], "127.0.0.1")):
        assert "NOAUTH" in cli(src, "PING", host=host, port=port)
    assert "NOAUTH" in cli(NODES[1], "SENTINEL", "MASTERS", host=target, port=26379)


def test_wrong_passwords_are_refused():
    target = address(NODES[0])
    assert "WRONGPASS" in cli(NODES[1], "PING", host=target, user="airflow", password="wrong")
    assert "WRONGPASS" in cli(NODES[1], "PING", host=target, user="default", password="wrong")
    # The disabled default user cannot log in even with a password.
    assert "WRONGPASS" in cli(NODES[1], "AUTH", "default", SENTINEL_PASSWORD, host=target)
    assert "WRONGPASS" in cli(NODES[1], "AUTH", "wrong", host=target, port=SENTINEL_PORT)
    assert cli(NODES[1], "PING", host=target, port=SENTINEL_PORT, password=SENTINEL_PASSWORD) == "PONG"


@pytest.mark.parametrize(
    "command",
    [
        ["CONFIG", "GET", "maxmemory"],
        ["FLUSHALL"],
        ["FLUSHDB"],
        ["KEYS", "*"],
        ["REPLICAOF", "NO", "ONE"],
        ["ACL", "LIST"],
        ["BGREWRITEAOF"],
        ["CLIENT", "LIST"],
        ["SHUTDOWN"],
        ["MONITOR"],
        ["SCRIPT", "FLUSH"],
        ["FUNCTION", "FLUSH"],
    ],
)
def test_airflow_user_cannot_run_admin_commands(cluster, command):
    out = cli(name_of(cluster), *command, user=AIRFLOW[0], password=AIRFLOW[1])
    assert "NOPERM" in out


def test_airflow_user_runs_kombus_binding_scripts(cluster):
    # kombu 5.5+ (Airflow's lock has 5.7) binds queues with a Lua script via EVALSHA/EVAL.
    script = "redis.call('SADD', KEYS[1], ARGV[1]) redis.call('TIME') return redis.call('SCARD', KEYS[1])"
    out = cli(name_of(cluster), "EVAL", script, "1", "_kombu.binding.molecule", "probe",
              user=AIRFLOW[0], password=AIRFLOW[1])
    assert out.strip() == "1", out


def test_other_users_are_least_privilege(cluster):
    master = name_of(cluster)
    for user, password in (("replica", "test-replica-pw"), ("sentinel", "test-sentinel-user-pw")):
        assert "NOPERM" in cli(master, "GET", "x", user=user, password=password)
        assert "NOPERM" in cli(master, "CONFIG", "GET", "maxmemory", user=user, password=password)


def test_kombu_round_trip_through_sentinel(cluster):
    # kombu (Celery's transport) with a sentinel:// URL and sentinel_kwargs, as Airflow configures it:
    # publish, consume with ack emulation (unacked hash/index), ack; no ACL denial on the way.
    admin(name_of(cluster), "ACL", "LOG", "RESET")
    script = r"""
import json, sys
from kombu import Connection
cfg = json.loads(sys.argv[1])
url = ";".join(f"sentinel://{cfg['user']}:{cfg['password']}@{ip}:26379" for ip in cfg["ips"])
opts = {"master_name": "airflow", "sentinel_kwargs": {"password": cfg["sentinel_password"]}}
with Connection(url, transport_options=opts) as conn:
    q = conn.SimpleQueue("molecule_probe")
    q.put({"task": "probe"})
    msg = q.get(timeout=10)
    msg.ack()
    q.close()
    print(json.dumps(msg.payload))
"""
    cfg = {"user": AIRFLOW[0], "password": AIRFLOW[1], "sentinel_password": SENTINEL_PASSWORD,
           "ips": [address(n) for n in NODES]}
    res = docker("exec", "-i", NODES[2], "python3", "-", json.dumps(cfg), stdin=script)
    assert json.loads(res.stdout.strip().splitlines()[-1]) == {"task": "probe"}
    assert admin(name_of(cluster), "ACL", "LOG") == ""
