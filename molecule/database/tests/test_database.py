"""Behaviour of the HA metadata database (etcd + Patroni + PgBouncer + HAProxy + pgBackRest).

Runs on the controller against the scenario's containers (docker CLI). Ordered: read-only checks
first, the destructive failover last; `molecule destroy` follows whatever state it leaves.
"""

import json
import time
import urllib.error
import urllib.request
import uuid

import pytest

import pgcluster as pc


@pytest.fixture(scope="module", autouse=True)
def cluster_ready():
    pc.wait_healthy(timeout=180)


def test_etcd_has_three_healthy_members():
    endpoints = ",".join(f"http://{pc.ADDRESS[h]}:2379" for h in pc.PG_HOSTS)
    out = pc.sh(pc.PG_HOSTS[0], f"ETCDCTL_API=3 etcdctl --endpoints={endpoints} endpoint health -w json").stdout
    health = json.loads(out)
    assert len(health) == 3 and all(e["health"] for e in health)


def test_debian_default_cluster_does_not_exist():
    for h in pc.PG_HOSTS:
        assert pc.sh(h, "pg_lsclusters -h").stdout.strip() == ""
        # Port 5432 belongs to Patroni's postmaster: its data directory is the role's.
        data_dir = pc.local_psql(h, "SHOW data_directory", db="postgres").stdout.strip()
        assert data_dir == "/var/lib/postgresql/15/patroni"


def test_replication_is_streaming_and_synchronous():
    primary = pc.leader()
    rows = pc.local_psql(primary, "SELECT application_name, state, sync_state FROM pg_stat_replication",
                         db="postgres").stdout.split()
    replicas = [r.split("|") for r in rows]
    assert len(replicas) == 2
    assert all(state == "streaming" for _, state, _ in replicas)
    assert sorted(sync for _, _, sync in replicas) in (["async", "sync"], ["potential", "sync"])
    # ... and the primary waits for that standby before acknowledging a commit.
    names = pc.local_psql(primary, "SHOW synchronous_standby_names", db="postgres").stdout
    sync_name = next(name for name, _, sync in replicas if sync == "sync")
    assert sync_name in names


def test_write_through_haproxy_is_readable_on_replicas():
    marker = str(uuid.uuid4())
    assert pc.client_psql("CREATE TABLE IF NOT EXISTS verify_marker (v text)").returncode == 0
    assert pc.client_psql(f"INSERT INTO verify_marker VALUES ('{marker}')").returncode == 0
    primary = pc.leader()
    for replica in set(pc.PG_HOSTS) - {primary}:
        pc.wait_for(lambda r=replica: marker in pc.local_psql(r, "SELECT v FROM verify_marker").stdout,
                    30, f"the marker row on {replica}")
        # A replica is read-only: the write went to the primary, not here.
        assert pc.local_psql(replica, "SELECT pg_is_in_recovery()").stdout.strip() == "t"


def test_pooled_port_goes_through_pgbouncer_direct_port_does_not():
    # PgBouncer on the primary connects to PostgreSQL from 127.0.0.1; the direct port arrives
    # from the client host's own address.
    pooled = pc.client_psql("SELECT inet_client_addr()", port=5432)
    direct = pc.client_psql("SELECT inet_client_addr()", port=5433)
    assert pooled.stdout.strip() == "127.0.0.1", pooled.stderr
    assert direct.stdout.strip() == pc.ADDRESS[pc.CLIENT], direct.stderr


def test_wrong_password_is_refused():
    result = pc.client_psql("SELECT 1", password="not-the-password")
    assert result.returncode != 0
    # PgBouncer's wording of a failed SCRAM exchange ("password authentication failed" from PostgreSQL).
    assert "SASL authentication failed" in result.stderr or "password authentication failed" in result.stderr


def test_celery_user_cannot_open_the_metadata_database():
    own = pc.client_psql("SELECT current_user", user="airflow_celery", db="airflow_celery", port=5433)
    assert own.stdout.strip() == "airflow_celery", own.stderr
    other = pc.client_psql("SELECT 1", user="airflow_celery", db="airflow", port=5433)
    assert other.returncode != 0
    assert "permission denied for database" in other.stderr


@pytest.mark.parametrize("host", pc.PG_HOSTS)
def test_outsider_is_refused_by_pg_hba(host):
    # The controller reaches the containers from the Docker bridge's gateway address, which is
    # not a cluster member: PostgreSQL refuses before any password exchange.
    kind, text = pc.pg_startup_probe(pc.ADDRESS[host], 5432)
    assert kind == "E"
    assert "pg_hba.conf rejects connection" in text


def test_outsider_is_refused_by_pgbouncer():
    kind, text = pc.pg_startup_probe(pc.ADDRESS[pc.PG_HOSTS[0]], 6432)
    assert kind == "E", text


def _rest(host, path, method="GET", password=None, body=b"{}"):
    request = urllib.request.Request(f"http://{pc.ADDRESS[host]}:8008{path}", method=method,
                                     data=None if method == "GET" else body)
    if password is not None:
        import base64
        token = base64.b64encode(f"patroni:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.parametrize("method,path", [("POST", "/restart"), ("POST", "/reinitialize"),
                                         ("PATCH", "/config"), ("POST", "/switchover")])
def test_patroni_rest_api_refuses_unauthenticated_unsafe_requests(method, path):
    host = pc.PG_HOSTS[0]
    assert _rest(host, path, method) == 401
    assert _rest(host, path, method, password="wrong") == 401


def test_patroni_rest_api_accepts_the_configured_credentials():
    # Re-setting ttl to its current value changes nothing, but proves the password works.
    with urllib.request.urlopen(f"http://{pc.ADDRESS[pc.PG_HOSTS[0]]}:8008/config", timeout=10) as response:
        ttl = json.load(response)["ttl"]
    body = json.dumps({"ttl": ttl}).encode()
    assert _rest(pc.PG_HOSTS[0], "/config", "PATCH", password=pc.RESTAPI_PASSWORD, body=body) == 200
    assert _rest(pc.PG_HOSTS[0], "/health") == 200


def test_pgbackrest_archives_and_backs_up_on_the_primary_only():
    primary = pc.leader()
    stanza = "airflow-pg"
    check = pc.sh(primary, f"su postgres -c 'pgbackrest --stanza={stanza} check'", check=False, timeout=180)
    assert check.returncode == 0, check.stdout + check.stderr
    # The timers' service: a full backup on the primary...
    pc.sh(primary, "systemctl start pgbackrest-backup@full.service", timeout=600)
    info = json.loads(pc.sh(primary, f"su postgres -c 'pgbackrest --stanza={stanza} --output=json info'").stdout)
    backups = info[0]["backup"]
    assert [b["type"] for b in backups][-1:] == ["full"]
    # ...and nothing from a replica (it asks Patroni at run time and steps aside).
    replica = next(h for h in pc.PG_HOSTS if h != primary)
    pc.sh(replica, "systemctl start pgbackrest-backup@diff.service", timeout=120)
    log = pc.sh(replica, "journalctl -u pgbackrest-backup@diff.service --no-pager -n 20").stdout
    assert "not the primary" in log
    info = json.loads(pc.sh(primary, f"su postgres -c 'pgbackrest --stanza={stanza} --output=json info'").stdout)
    assert len(info[0]["backup"]) == len(backups)


# --- destructive: failover and rejoin (last) ------------------------------------------------

FAILOVER = {}


def test_failover_keeps_writes_going_through_the_same_port_without_loss():
    seconds, lost, old, new = pc.failover_trial(run=f"verify-{uuid.uuid4().hex[:8]}", settle_timeout=90)
    FAILOVER.update(old=old, new=new, seconds=seconds)
    print(f"failover: {old} -> {new}, first write after {seconds:.1f} s, lost {len(lost)}")
    assert new is not None and new != old
    assert lost == [], f"acknowledged writes lost across the failover: {lost}"
    assert seconds < 60


def test_old_primary_rejoins_as_replica():
    old = FAILOVER.get("old")
    if old is None:
        pytest.skip("the failover test did not run")
    pc.restore(old)
    pc.wait_healthy(timeout=300)
    role = {m["name"]: m["role"] for m in pc.members()}[old]
    assert role in ("replica", "sync_standby")
    assert pc.local_psql(old, "SELECT pg_is_in_recovery()").stdout.strip() == "t"
    # Everything acknowledged before and after the failover is on the returning member too.
    table_rows = int(pc.client_psql(f"SELECT count(*) FROM {pc.PROBE_TABLE}").stdout.strip())
    pc.wait_for(lambda: int(pc.local_psql(old, f"SELECT count(*) FROM {pc.PROBE_TABLE}").stdout.strip())
                == table_rows, 60, "the rejoined member to replay every row")
