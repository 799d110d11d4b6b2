"""pg_hba_admits: the preflight's reading of the database hosts' hba files."""

from __future__ import annotations

import importlib.util

import pytest

from conftest import REPO

spec = importlib.util.spec_from_file_location("pg_hba", REPO / "filter_plugins/pg_hba.py")
pg_hba = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pg_hba)

# What roles/pgbouncer renders for two client hosts and a worker subnet.
PGBOUNCER_HBA = """\
# Ansible managed
host  all  all  127.0.0.1/32  scram-sha-256
host  all  all  10.20.0.31/32  scram-sha-256
host  all  all  10.20.0.51/32  scram-sha-256
host  all  all  10.20.1.0/24  scram-sha-256
host  all  all  0.0.0.0/0  reject
"""


@pytest.mark.parametrize(
    ("address", "admitted"),
    [
        ("10.20.0.51", True),  # listed host
        ("10.20.1.77", True),  # inside the client network
        ("10.20.0.52", False),  # a new host outside both: the catch-all reject
        ("127.0.0.1", True),
    ],
)
def test_first_matching_line_decides(address, admitted):
    assert pg_hba.pg_hba_admits(PGBOUNCER_HBA, address) is admitted


def test_reject_before_a_broader_allow_wins():
    text = "host all all 10.0.0.9/32 reject\nhost all all 10.0.0.0/8 scram-sha-256\n"
    assert pg_hba.pg_hba_admits(text, "10.0.0.9") is False
    assert pg_hba.pg_hba_admits(text, "10.0.0.10") is True


def test_no_matching_line_is_refused():
    assert pg_hba.pg_hba_admits("host all all 192.0.2.0/24 md5\n", "198.51.100.1") is False


def test_address_and_netmask_form_and_hostssl():
    text = "hostssl all all 10.1.0.0 255.255.0.0 scram-sha-256 # comment\n"
    assert pg_hba.pg_hba_admits(text, "10.1.2.3") is True
    assert pg_hba.pg_hba_admits(text, "10.2.0.1") is False


def test_lines_for_other_databases_users_or_local_sockets_do_not_decide():
    text = (
        "local all all peer\n"
        "host replication replicator 10.0.0.0/8 scram-sha-256\n"
        "host airflow airflow 10.0.0.0/8 scram-sha-256\n"
        "host all all 0.0.0.0/0 reject\n"
    )
    assert pg_hba.pg_hba_admits(text, "10.0.0.5") is False


def test_all_address_and_ipv6():
    assert pg_hba.pg_hba_admits("host all all all scram-sha-256\n", "10.9.9.9") is True
    assert pg_hba.pg_hba_admits("host all all ::/0 reject\nhost all all all md5\n", "2001:db8::1") is False
    assert pg_hba.pg_hba_admits("host all all ::/0 reject\nhost all all all md5\n", "10.0.0.1") is True


def test_refused_hosts_are_those_any_database_host_refuses():
    stale = "host all all 10.20.0.51/32 scram-sha-256\nhost all all 0.0.0.0/0 reject\n"
    addresses = {"worker1": "10.20.0.51", "worker9": "10.20.1.9", "worker8": "10.20.0.99"}
    assert pg_hba.pg_hba_refused([PGBOUNCER_HBA, PGBOUNCER_HBA], addresses) == ["worker8"]
    # One member not yet re-rendered is enough to refuse: HAProxy may route to it after a failover.
    assert pg_hba.pg_hba_refused([PGBOUNCER_HBA, stale], addresses) == ["worker8", "worker9"]
