#!/usr/bin/env python3
"""Redis Sentinel failover benchmark against the converged Molecule `broker` scenario.

Usage (from the repository root, controller venv):
    molecule converge -s broker          # once: three containers mol-broker-redis1..3
    .venv/bin/python benchmarks/failover_redis.py [--trials 5]

Each trial:
  1. waits until the group is healthy (Sentinels agree, master has 2 online replicas,
     every Sentinel sees 2 replicas and 2 peers);
  2. starts a writer inside a surviving container: redis-py's Sentinel client (what kombu
     uses) asks the Sentinels for the master, RPUSHes sequential ids with the `airflow`
     user and sends `WAIT 1 1000` after each write. A write counts as acknowledged only when
     WAIT reports a replica has it: min-replicas-to-write 1 already refuses writes without a
     connected replica, and WAIT makes the ack mean "on two nodes", so a failover (which
     promotes the replica with the highest offset) must not lose it;
  3. `docker kill`s the master's container (a crash: no shutdown, no goodbye to replicas);
  4. measures the time from the kill to the first acknowledged write on the new master;
  5. restarts the container, waits until the group is healthy again (the old master rejoins
     as a replica), then counts acknowledged ids missing from the list on the master.

Only the scenario's own containers are touched; all client traffic stays on its network.
Needs only the Python standard library and the docker CLI on the controller (the client
library runs inside the containers, installed by the scenario's prepare.yml).
"""

import argparse
import json
import statistics
import subprocess
import sys
import threading
import time

NODES = ["mol-broker-redis1", "mol-broker-redis2", "mol-broker-redis3"]
MASTER_NAME = "airflow"
# The scenario's throwaway test secrets (molecule/broker/molecule.yml).
ADMIN_PASSWORD = "test-admin-pw"
AIRFLOW_PASSWORD = "test-airflow-pw"
SENTINEL_PASSWORD = "test-sentinel-pw"

WRITER = r"""
import json, sys, threading, time
import redis
from redis.sentinel import Sentinel
cfg = json.loads(sys.argv[1])
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
sentinels = Sentinel([(ip, 26379) for ip in cfg["sentinels"]],
                     sentinel_kwargs={"password": cfg["sentinel_password"], "socket_timeout": 0.3,
                                      "socket_connect_timeout": 0.3})
def out(**kw):
    print(json.dumps(kw), flush=True)
conn, master, i = None, None, 0
while not stop.is_set():
    try:
        if conn is None:
            master = sentinels.discover_master(cfg["master_name"])[0]
            conn = redis.Redis(host=master, port=6379, username="airflow", password=cfg["password"],
                               socket_timeout=1, socket_connect_timeout=0.3)
        i += 1
        conn.rpush(cfg["key"], i)
        acked = conn.execute_command("WAIT", 1, 1000)
        out(ev="ack" if acked >= 1 else "nack", id=i, t=time.time(), master=master)
    except Exception as exc:
        out(ev="err", id=i, t=time.time(), master=master, error=f"{type(exc).__name__}: {exc}")
        conn = None
        time.sleep(0.05)
"""


def docker(*args, check=True, timeout=60):
    res = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and res.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {res.stderr.strip()}")
    return res.stdout


def address(name):
    return docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name).strip()


def running(name):
    return docker("inspect", "-f", "{{.State.Running}}", name).strip() == "true"


def cli(name, *args, sentinel=False):
    if sentinel:
        env, extra = f"REDISCLI_AUTH={SENTINEL_PASSWORD}", ["-p", "26379"]
    else:
        env, extra = f"REDISCLI_AUTH={ADMIN_PASSWORD}", ["--user", "admin"]
    cmd = ["exec", "-e", env, name, "timeout", "5", "redis-cli", "--no-auth-warning", *extra, *args]
    return docker(*cmd, check=False)


def healthy():
    """The master's address when the whole group is healthy, else None."""
    if not all(running(n) for n in NODES):
        return None
    answers = {(cli(n, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME, sentinel=True).splitlines() or [""])[0]
               for n in NODES}
    if len(answers) != 1:
        return None
    master = answers.pop()
    names = {address(n): n for n in NODES}
    if master not in names:
        return None
    repl = cli(names[master], "INFO", "replication")
    if "role:master" not in repl or repl.count("state=online") != 2:
        return None
    for n in NODES:
        lines = cli(n, "SENTINEL", "MASTER", MASTER_NAME, sentinel=True).splitlines()
        state = dict(zip(lines[::2], lines[1::2]))
        if (state.get("flags"), state.get("num-slaves"), state.get("num-other-sentinels")) != ("master", "2", "2"):
            return None
        if "s_down" in cli(n, "SENTINEL", "REPLICAS", MASTER_NAME, sentinel=True):
            return None
    return master


def wait_healthy(timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        master = healthy()
        if master:
            return master
        time.sleep(1)
    raise RuntimeError(f"group not healthy after {timeout}s")


def trial(number, timeout):
    master = wait_healthy(120)
    names = {address(n): n for n in NODES}
    victim = names[master]
    client = next(n for n in NODES if n != victim)
    key = f"bench:failover:{int(time.time())}:{number}"
    cfg = {"sentinels": list(names), "sentinel_password": SENTINEL_PASSWORD, "password": AIRFLOW_PASSWORD,
           "master_name": MASTER_NAME, "key": key}
    writer = subprocess.Popen(["docker", "exec", "-i", client, "python3", "-c", WRITER, json.dumps(cfg)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    events = []
    reader = threading.Thread(target=lambda: [events.append(json.loads(line)) for line in writer.stdout], daemon=True)
    reader.start()
    # Steady writes before the crash.
    deadline = time.monotonic() + 30
    while sum(e["ev"] == "ack" for e in events) < 20:
        if time.monotonic() > deadline:
            raise RuntimeError(f"writer is not writing: {events[-3:]}")
        time.sleep(0.1)
    t_kill = time.time()
    docker("kill", victim)
    recovered = None
    deadline = time.monotonic() + timeout
    while recovered is None and time.monotonic() < deadline:
        recovered = next((e for e in list(events) if e["ev"] == "ack" and e["t"] > t_kill and e["master"] != master),
                         None)
        time.sleep(0.05)
    time.sleep(1)  # a few more writes on the new master
    writer.stdin.close()
    writer.wait(30)
    reader.join(10)
    docker("start", victim)
    if address(victim) != master:
        print(f"  warning: {victim} came back with address {address(victim)}", file=sys.stderr)
    new_master = wait_healthy(180)
    acked = {e["id"] for e in events if e["ev"] == "ack"}
    stored = {int(x) for x in cli({address(n): n for n in NODES}[new_master], "LRANGE", key, "0", "-1").split()}
    lost = len(acked - stored)
    errors = sorted({e["error"].split(":")[0] for e in events if e["ev"] == "err"})
    seconds = recovered["t"] - t_kill if recovered else None
    print(f"trial {number}: master {master} ({victim}) killed; "
          + (f"first acknowledged write on {recovered['master']} after {seconds:.2f}s; " if recovered
             else f"NO acknowledged write within {timeout}s; ")
          + f"{len(acked)} acknowledged, {lost} lost, "
          + f"{sum(e['ev'] == 'nack' for e in events)} unacknowledged; client errors: {', '.join(errors) or 'none'}",
          flush=True)
    return seconds, lost


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for recovery per trial")
    args = parser.parse_args()
    results = [trial(i + 1, args.timeout) for i in range(args.trials)]
    times = [s for s, _ in results if s is not None]
    lost = sum(lost for _, lost in results)
    failed = sum(s is None for s, _ in results)
    if times:
        print(f"failover (kill -> first acknowledged write via Sentinel): median {statistics.median(times):.2f}s, "
              f"max {max(times):.2f}s over {len(times)} trials; acknowledged writes lost: {lost}; "
              f"trials without recovery: {failed}")
    return 1 if failed or lost else 0


if __name__ == "__main__":
    sys.exit(main())
