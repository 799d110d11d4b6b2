"""Drive the `database` Molecule scenario's cluster from the controller (docker CLI only).

Shared by the scenario's verify (test_database.py) and benchmarks/failover_postgres.py. Touches only
this scenario's own containers: mol-database-pg1..3 and mol-database-client.
"""

import json
import pathlib
import shlex
import socket
import struct
import subprocess
import time
import urllib.request

import yaml

SCENARIO = pathlib.Path(__file__).resolve().parents[1]
PG_HOSTS = ["mol-database-pg1", "mol-database-pg2", "mol-database-pg3"]
CLIENT = "mol-database-client"
PROBE_TABLE = "failover_probe"


def _inventory():
    data = yaml.safe_load((SCENARIO / "molecule.yml").read_text())["provisioner"]["inventory"]
    return data["host_vars"], data["group_vars"]["postgres"]


HOST_VARS, SECRETS = _inventory()
ADDRESS = {name: hv["cluster_address"] for name, hv in HOST_VARS.items()}
AIRFLOW_PASSWORD = SECRETS["postgresql_ha_airflow_db_password"]
CELERY_PASSWORD = SECRETS["postgresql_ha_celery_db_password"]
RESTAPI_PASSWORD = SECRETS["postgresql_ha_restapi_password"]


def sh(container, command, check=True, timeout=60):
    """Run a shell command in one of the scenario's containers; return CompletedProcess."""
    result = subprocess.run(
        ["docker", "exec", container, "sh", "-c", command],
        capture_output=True, text=True, timeout=timeout,
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"{container}: {command!r} failed ({result.returncode}): {result.stderr.strip()}")
    return result


def is_running(container):
    out = subprocess.run(["docker", "inspect", "-f", "{{.State.Running}}", container],
                         capture_output=True, text=True)
    return out.stdout.strip() == "true"


def members():
    """Patroni's view of the cluster (GET /cluster) from the first member that answers."""
    for name in PG_HOSTS:
        if not is_running(name):
            continue
        try:
            with urllib.request.urlopen(f"http://{ADDRESS[name]}:8008/cluster", timeout=5) as response:
                return json.load(response)["members"]
        except (OSError, ValueError):
            continue
    raise RuntimeError("no running member answered GET /cluster")


def leader():
    for m in members():
        if m["role"] == "leader" and m["state"] == "running":
            return m["name"]
    return None


def client_psql(sql, port=5432, user="airflow", password=None, db="airflow", timeout=30):
    """psql on the client host through its local HAProxy (5432 pooled, 5433 direct)."""
    password = password if password is not None else (AIRFLOW_PASSWORD if user == "airflow" else CELERY_PASSWORD)
    dsn = f"postgresql://{user}:{password}@127.0.0.1:{port}/{db}?connect_timeout=3"
    return sh(CLIENT, f"psql {shlex.quote(dsn)} -v ON_ERROR_STOP=1 -Atc {shlex.quote(sql)}",
              check=False, timeout=timeout)


def local_psql(container, sql, db="airflow"):
    """psql as the postgres superuser over the member's own socket (peer authentication)."""
    return sh(container, f"su postgres -c {shlex.quote(f'psql -d {db} -Atc {shlex.quote(sql)}')}",
              check=False)


# --- continuous writer on the client --------------------------------------------------------

_WRITER = r"""
echo $$ > /tmp/writer.pid
i=0
: > /tmp/acked
while [ ! -e /tmp/stop-writer ]; do
  i=$((i+1))
  if psql "postgresql://airflow:$PW@127.0.0.1:5432/airflow?connect_timeout=2" -qAtc \
       "INSERT INTO failover_probe(id, run) VALUES ($i, '$RUN')" >/dev/null 2>&1; then
    echo "$i $(date +%s.%N)" >> /tmp/acked
  else
    sleep 0.05
  fi
done
rm -f /tmp/writer.pid
"""


def ensure_probe_table():
    result = client_psql(f"CREATE TABLE IF NOT EXISTS {PROBE_TABLE} "
                         "(id bigint, run text, at timestamptz DEFAULT now(), PRIMARY KEY (run, id))")
    if result.returncode != 0:
        raise RuntimeError(result.stderr)


def start_writer(run):
    """Insert rows one per connection through HAProxy 5432; log each acknowledged id with a timestamp."""
    ensure_probe_table()
    sh(CLIENT, "rm -f /tmp/stop-writer /tmp/acked")
    subprocess.Popen(
        ["docker", "exec", "-d", "-e", f"PW={AIRFLOW_PASSWORD}", "-e", f"RUN={run}", CLIENT, "sh", "-c", _WRITER],
    ).wait()
    wait_for(lambda: len(acked()) >= 5, 60, "the writer's first acknowledged inserts")


def acked():
    """[(id, unix time)] of the writer's acknowledged inserts so far."""
    out = sh(CLIENT, "cat /tmp/acked 2>/dev/null || true").stdout
    rows = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2:
            rows.append((int(parts[0]), float(parts[1])))
    return rows


def stop_writer():
    sh(CLIENT, "touch /tmp/stop-writer")
    wait_for(lambda: sh(CLIENT, "test -e /tmp/writer.pid", check=False).returncode != 0, 30,
             "the writer to stop")
    return acked()


def stored_ids(run, container=None):
    """Ids of `run` present in the table, read on `container` (default: through HAProxy)."""
    sql = f"SELECT id FROM {PROBE_TABLE} WHERE run = '{run}'"
    result = local_psql(container, sql) if container else client_psql(sql)
    if result.returncode != 0:
        raise RuntimeError(result.stderr)
    return {int(x) for x in result.stdout.split()}


# --- failure and recovery -------------------------------------------------------------------

def wait_for(predicate, timeout, what, interval=0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except (RuntimeError, subprocess.TimeoutExpired, ValueError):
            pass
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout} s waiting for {what}")


def kill(container):
    """Power-cut a member: SIGKILL the whole container (Patroni cannot release its leader lock)."""
    subprocess.run(["docker", "kill", container], check=True, capture_output=True)
    return time.time()


def restore(container):
    subprocess.run(["docker", "start", container], check=True, capture_output=True)


def healthy(expected=3):
    """Every member running or streaming, one leader, one synchronous standby."""
    ms = members()
    states = [m["state"] for m in ms]
    roles = [m["role"] for m in ms]
    return (len(ms) == expected and all(s in ("running", "streaming") for s in states)
            and roles.count("leader") == 1 and roles.count("sync_standby") >= 1)


def wait_healthy(timeout=240):
    wait_for(healthy, timeout, "all three members healthy with a synchronous standby", interval=2)


def failover_trial(run, settle_timeout=120):
    """Kill the primary under a continuous writer. Returns (seconds to first write, lost ids, old, new)."""
    old = leader()
    start_writer(run)
    time.sleep(2)
    t_kill = kill(old)
    wait_for(lambda: any(ts > t_kill for _, ts in acked()), settle_timeout,
             "a write through HAProxy after the kill")
    first = min(ts for _, ts in acked() if ts > t_kill)
    time.sleep(2)
    acknowledged = stop_writer()
    new = leader()
    lost = sorted({i for i, _ in acknowledged} - stored_ids(run))
    return first - t_kill, lost, old, new


def pg_startup_probe(address, port, user="airflow", database="airflow", timeout=5):
    """Send a bare PostgreSQL StartupMessage; return the server's first reply as (type, text).

    'R' means the server asked for authentication (it would let us try); 'E' is an error, whose
    text says why (pg_hba rejection, for instance).
    """
    params = f"user\0{user}\0database\0{database}\0\0".encode()
    packet = struct.pack("!II", 8 + len(params), 196608) + params
    with socket.create_connection((address, port), timeout=timeout) as s:
        s.sendall(packet)
        kind = s.recv(1).decode()
        length = struct.unpack("!I", s.recv(4))[0]
        body = b""
        while len(body) < length - 4:
            chunk = s.recv(length - 4 - len(body))
            if not chunk:
                break
            body += chunk
    return kind, body.replace(b"\0", b" ").decode(errors="replace")
