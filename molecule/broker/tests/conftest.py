"""Helpers for the broker scenario: redis-cli and a Sentinel-discovering client run inside
the scenario's own containers (docker exec), so all traffic stays on molecule-broker."""

import json
import pathlib
import subprocess
import time

import pytest
import yaml

SCENARIO = pathlib.Path(__file__).resolve().parents[1]
NODES = ["mol-broker-redis1", "mol-broker-redis2", "mol-broker-redis3"]
MASTER_NAME = "airflow"
PORT = 6379
SENTINEL_PORT = 26379

_GROUP_VARS = yaml.safe_load((SCENARIO / "molecule.yml").read_text())["provisioner"]["inventory"]["group_vars"]
SECRETS = {k: v for k, v in _GROUP_VARS["redis"].items() if k.endswith(("_password", "_requirepass"))}
ADMIN = ("admin", SECRETS["redis_sentinel_admin_password"])
AIRFLOW = ("airflow", SECRETS["redis_sentinel_airflow_password"])
SENTINEL_PASSWORD = SECRETS["redis_sentinel_requirepass"]


def docker(*args, timeout=60, check=True, stdin=None):
    res = subprocess.run(["docker", *args], input=stdin, capture_output=True, text=True, timeout=timeout)
    if check and res.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed: {res.stderr}")
    return res


def address(name):
    return docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name).stdout.strip()


def name_of(ip):
    return {address(n): n for n in NODES}[ip]


def cli(name, *args, user=None, password=None, host="127.0.0.1", port=PORT, stdin=None):
    """redis-cli inside container `name`; returns (stdout + stderr) stripped."""
    cmd = ["exec", "-i"]
    if password is not None:
        cmd += ["-e", f"REDISCLI_AUTH={password}"]
    cmd += [name, "timeout", "10", "redis-cli", "--no-auth-warning", "-h", host, "-p", str(port)]
    if user:
        cmd += ["--user", user]
    res = docker(*cmd, *args, check=False, stdin=stdin)
    return (res.stdout + res.stderr).strip()


def admin(name, *args, **kw):
    return cli(name, *args, user=ADMIN[0], password=ADMIN[1], **kw)


def sentinel(name, *args, **kw):
    return cli(name, *args, password=SENTINEL_PASSWORD, port=SENTINEL_PORT, **kw)


def pairs(text):
    lines = text.splitlines()
    return dict(zip(lines[::2], lines[1::2]))


def info(name, section="replication"):
    out = admin(name, "INFO", section)
    return dict(line.split(":", 1) for line in out.splitlines() if ":" in line and not line.startswith("#"))


def is_running(name):
    return docker("inspect", "-f", "{{.State.Running}}", name).stdout.strip() == "true"


def masters_by_sentinels():
    """Master address reported by each running node's Sentinel."""
    answers = {}
    for n in NODES:
        if is_running(n):
            out = sentinel(n, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME).splitlines()
            answers[n] = out[0] if out else ""
    return answers


def wait_until(predicate, timeout, interval=0.5, message="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message} (last: {last!r})")


def healthy(expected_master=None):
    """All Sentinels agree, the master has 2 online replicas, Sentinels see 2 replicas and 2 peers."""
    answers = masters_by_sentinels()
    if len(answers) != 3 or len(set(answers.values())) != 1:
        return False
    master_ip = next(iter(answers.values()))
    if expected_master and master_ip != expected_master:
        return False
    repl = info(name_of(master_ip))
    if repl.get("role") != "master" or repl.get("connected_slaves") != "2":
        return False
    for n in NODES:
        state = pairs(sentinel(n, "SENTINEL", "MASTER", MASTER_NAME))
        if state.get("flags") != "master" or state.get("num-slaves") != "2" or state.get("num-other-sentinels") != "2":
            return False
        replicas = sentinel(n, "SENTINEL", "REPLICAS", MASTER_NAME)
        if "s_down" in replicas or "disconnected" in replicas:
            return False
    return master_ip


# A Celery-like client: discovers the master through the Sentinels (redis-py's Sentinel client,
# as kombu does), writes with the airflow user and waits for one replica to acknowledge.
CLIENT = r"""
import json, sys, time
from redis.sentinel import Sentinel
cfg = json.loads(sys.argv[1])
s = Sentinel([(ip, cfg["sentinel_port"]) for ip in cfg["sentinels"]],
             sentinel_kwargs={"password": cfg["sentinel_password"], "socket_timeout": 0.5,
                              "socket_connect_timeout": 0.5},
             socket_timeout=1, socket_connect_timeout=0.5)
deadline = time.time() + cfg["timeout"]
start = time.time()
err = None
while time.time() < deadline:
    try:
        m = s.master_for(cfg["master_name"], username=cfg["user"], password=cfg["password"])
        length = m.rpush(cfg["key"], cfg["value"])
        acked = m.execute_command("WAIT", 1, 2000)
        if acked >= 1:
            print(json.dumps({"ok": True, "master": s.discover_master(cfg["master_name"])[0],
                              "length": length, "acked": acked, "elapsed": time.time() - start}))
            sys.exit(0)
        err = "not acknowledged by a replica"
    except Exception as exc:  # noqa: BLE001 - any error means: retry until the deadline
        err = f"{type(exc).__name__}: {exc}"
    time.sleep(0.1)
print(json.dumps({"ok": False, "error": err, "elapsed": time.time() - start}))
"""


def client_write(from_node, key, value, timeout=5.0):
    cfg = {
        "sentinels": [address(n) for n in NODES],
        "sentinel_port": SENTINEL_PORT,
        "sentinel_password": SENTINEL_PASSWORD,
        "master_name": MASTER_NAME,
        "user": AIRFLOW[0],
        "password": AIRFLOW[1],
        "key": key,
        "value": value,
        "timeout": timeout,
    }
    res = docker("exec", "-i", from_node, "python3", "-", json.dumps(cfg), stdin=CLIENT, timeout=timeout + 30)
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.fixture()
def cluster():
    """Waits until the cluster is healthy and returns the current master's address."""
    return wait_until(healthy, 60, message="a healthy cluster")
