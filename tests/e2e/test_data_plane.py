"""The data plane as the Airflow hosts see it: one primary behind every local HAProxy, a
synchronous standby, and a Redis master that all Sentinels agree on."""

from __future__ import annotations

import json

from conftest import ansible_playbook, lab_exec

HAPROXY_STAT = """
import socket
s = socket.socket(socket.AF_UNIX)
s.connect("/run/haproxy/admin.sock")
s.sendall(b"show stat\\n")
out = b""
while chunk := s.recv(65536):
    out += chunk
print(out.decode())
"""


def patroni_members() -> list[dict]:
    out = lab_exec("lab-pg1", "/opt/patroni/bin/patronictl", "-c", "/etc/patroni/patroni.yml", "list", "-f", "json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_one_leader_and_a_synchronous_standby(first_converge):
    members = patroni_members()
    roles = sorted(m["Role"] for m in members)
    assert roles == ["Leader", "Replica", "Sync Standby"], members
    assert all(m["State"] in ("running", "streaming") for m in members), members


def test_every_airflow_host_routes_to_the_current_primary(first_converge):
    leader = next(m["Host"] for m in patroni_members() if m["Role"] == "Leader")
    for host in ("lab-sched1", "lab-api1", "lab-worker3"):
        stat = lab_exec(host, "python3", "-c", HAPROXY_STAT).stdout.splitlines()
        header = stat[0].lstrip("# ").split(",")
        rows = [dict(zip(header, line.split(","))) for line in stat[1:] if line]
        for backend in ("postgres_pooled", "postgres_direct"):
            up = [r["addr"].split(":")[0] for r in rows
                  if r["pxname"] == backend and r["svname"] not in ("FRONTEND", "BACKEND") and r["status"] == "UP"]
            assert up == [leader], (host, backend, up)


def test_sentinels_agree_on_a_master_with_two_replicas(first_converge):
    # Ansible fills in the Sentinel password from the vault; only the answers are printed.
    run = ansible_playbook("tests/e2e/sentinel_status.yml")
    assert run.proc.returncode == 0, run.output[-3000:]
    assert run.output.count("OK 3 usable Sentinels") == 3, run.output[-3000:]
    assert run.output.count("num-slaves=2") == 3, run.output[-3000:]
