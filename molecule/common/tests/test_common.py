"""Behaviour of the common role on a converged host."""

import pytest

testinfra_hosts = ["ansible://all"]


def test_cluster_members_resolve_to_their_addresses(host):
    # Each host must find every other member by name through /etc/hosts (no DNS needed).
    hosts_file = host.file("/etc/hosts").content_string
    peers = [line.split() for line in hosts_file.splitlines() if line.startswith("172.") or line[:1].isdigit()]
    names = {fields[1]: fields[0] for fields in peers if len(fields) == 2}
    for name in ("mol-common-airflow", "mol-common-db"):
        assert name in names
        resolved = host.run(f"getent ahostsv4 {name}").stdout.split()[0]
        assert resolved == names[name]


def test_chrony_points_at_the_configured_pools(host):
    conf = host.file("/etc/chrony/chrony.conf").content_string
    assert "pool 0.debian.pool.ntp.org iburst" in conf
    # chronyd accepts the file (it would refuse to start on a syntax error).
    assert host.run("chronyd -p -f /etc/chrony/chrony.conf").rc == 0


def test_timezone_is_utc(host):
    assert host.run("date +%Z").stdout.strip() == "UTC"


def test_journald_retention_is_in_effect(host):
    out = host.run("systemd-analyze cat-config systemd/journald.conf").stdout
    assert "SystemMaxUse=1G" in out
    # journald was restarted with the drop-in and still runs.
    assert host.service("systemd-journald").is_running


def test_kernel_settings_file_is_valid(host):
    # `sysctl -p` parses the file; in a container /proc/sys is read-only, so only parse errors count.
    result = host.run("sysctl -p /etc/sysctl.d/60-cluster.conf 2>&1")
    assert "Invalid argument" not in result.stdout
    assert "net.core.somaxconn = 4096" in host.file("/etc/sysctl.d/60-cluster.conf").content_string


@pytest.mark.parametrize("name", ["jq", "rsync", "acl"])
def test_base_packages_installed(host, name):
    assert host.package(name).is_installed


def test_airflow_user_only_on_airflow_hosts(host):
    user = host.user("airflow")
    if host.backend.get_hostname() == "mol-common-airflow":
        assert user.exists
        assert user.home == "/opt/airflow"
        home = host.file("/opt/airflow")
        assert home.user == "airflow" and home.mode == 0o750
    else:
        assert not user.exists
