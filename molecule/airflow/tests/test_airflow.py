"""Behaviour of the airflow role on one host running every component (see ../molecule.yml)."""

from __future__ import annotations

import json
import time

import pytest

API = "http://127.0.0.1:8080"
ADMIN = ("admin", "molecule-admin-pw")
FLOWER = ("flower", "molecule-flower-pw")
COMPONENTS = ["api-server", "scheduler", "dag-processor", "triggerer", "celery-worker", "celery-flower"]


def curl(host, *args: str) -> tuple[int, str]:
    """Run curl inside the container against its loopback; return (HTTP status, body)."""
    cmd = host.run("curl -s -o /tmp/.body -w '%{http_code}' " + " ".join(args) + "; echo; cat /tmp/.body")
    status, _, body = cmd.stdout.partition("\n")
    return int(status or 0), body


def api(host, method: str, path: str, token: str | None = None, body: dict | None = None) -> tuple[int, object]:
    args = ["-X", method, f"'{API}{path}'", "-H 'Accept: application/json'"]
    if token:
        args.append(f"-H 'Authorization: Bearer {token}'")
    if body is not None:
        args += ["-H 'Content-Type: application/json'", f"--data '{json.dumps(body)}'"]
    status, text = curl(host, *args)
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def wait_for(check, timeout: float, interval: float = 5.0):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            return result
        time.sleep(interval)


@pytest.fixture(scope="module")
def token(host):
    status, body = api(host, "POST", "/auth/token", body={"username": ADMIN[0], "password": ADMIN[1]})
    assert status == 201, body
    return body["access_token"]


@pytest.mark.parametrize("component", COMPONENTS)
def test_component_units_are_active(host, component):
    service = host.service(f"airflow-{component}")
    assert service.is_enabled
    assert service.is_running


@pytest.mark.parametrize("timer", ["airflow-log-cleanup.timer", "airflow-db-clean.timer"])
def test_retention_timers_are_enabled(host, timer):
    assert host.service(timer).is_enabled


def test_config_is_private_and_secrets_are_split(host):
    cfg = host.file("/opt/airflow/airflow.cfg")
    assert (cfg.user, cfg.group, cfg.mode) == ("root", "airflow", 0o640)
    env = host.file("/etc/airflow/airflow.env")
    assert (env.user, env.group, env.mode) == ("root", "airflow", 0o640)
    # The metadata-DB URL and the fernet/jwt keys are only in the environment file.
    keys = {line.split("=")[0].strip() for line in cfg.content_string.splitlines() if "=" in line}
    assert not keys & {"sql_alchemy_conn", "sql_alchemy_conn_async", "fernet_key", "jwt_secret"}
    assert "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=" in env.content_string


def test_effective_configuration(host):
    def value(section, key):
        return host.check_output(f"airflow config get-value {section} {key} 2>/dev/null")

    assert value("core", "executor") == "CeleryExecutor"
    assert value("core", "auth_manager") == "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
    address = host.interface("eth0").addresses[0]
    assert value("core", "execution_api_server_url") == f"http://{address}:8080/execution/"
    assert value("celery", "broker_url").startswith("sentinel://airflow:molecule%40redis%3Apw@127.0.0.1:26379/0")
    assert value("celery", "result_backend").startswith("db+postgresql+psycopg2://airflow_celery:")
    # URL-encoded and %-escaped in the environment file: the real password reaches PostgreSQL.
    assert "molecule%2Fdb%25pw@127.0.0.1:5432/airflow" in value("database", "sql_alchemy_conn")


def test_health_endpoint_reports_every_component_healthy(host):
    def healthy():
        status, body = api(host, "GET", "/api/v2/monitor/health")
        if status != 200:
            return None
        parts = [body["metadatabase"], body["scheduler"], body["triggerer"], body.get("dag_processor") or {}]
        return body if all(p.get("status") == "healthy" for p in parts) else None

    assert wait_for(healthy, 180), api(host, "GET", "/api/v2/monitor/health")


def test_wrong_password_is_refused(host):
    status, _ = api(host, "POST", "/auth/token", body={"username": ADMIN[0], "password": "wrong-password"})
    assert status == 401
    status, _ = api(host, "GET", "/api/v2/dags")
    assert status == 401


def test_fab_roles_exist(host):
    out = host.check_output("airflow roles list --output json 2>/dev/null")
    # Warnings go to stdout before the JSON line.
    roles = json.loads([line for line in out.splitlines() if line.startswith("[")][-1])
    assert {"Admin", "Op", "Viewer"} <= {role["name"] for role in roles}


def test_cluster_policy_rejects_unknown_queue(host, token):
    def import_error():
        status, body = api(host, "GET", "/api/v2/importErrors", token)
        errors = [e for e in body.get("import_errors", [])] if status == 200 else []
        return [e for e in errors if e["filename"].endswith("policy_violation.py")]

    errors = wait_for(import_error, 180)
    assert errors, "the policy violation DAG produced no import error"
    assert "AirflowClusterPolicyViolation" in errors[0]["stack_trace"]
    assert "no_such_pool" in errors[0]["stack_trace"]


def test_dag_run_succeeds_on_the_celery_worker_and_its_log_is_readable(host, token):
    def parsed():
        status, _ = api(host, "GET", "/api/v2/dags/molecule_smoke", token)
        return status == 200

    assert wait_for(parsed, 180), "molecule_smoke was never parsed"
    status, run = api(host, "POST", "/api/v2/dags/molecule_smoke/dagRuns", token, {"logical_date": None})
    assert status == 200, run
    run_id = run["dag_run_id"]

    def finished():
        _, body = api(host, "GET", f"/api/v2/dags/molecule_smoke/dagRuns/{run_id}", token)
        return body if body.get("state") in ("success", "failed") else None

    final = wait_for(finished, 240)
    assert final and final["state"] == "success", final

    status, log = api(host, "GET", f"/api/v2/dags/molecule_smoke/dagRuns/{run_id}/taskInstances/hello/logs/1", token)
    assert status == 200, log
    assert "molecule-smoke-42" in json.dumps(log)
    _, ti = api(host, "GET", f"/api/v2/dags/molecule_smoke/dagRuns/{run_id}/taskInstances/hello", token)
    assert ti["queue"] == "default" and ti["hostname"]


def test_celery_worker_answers_ping(host):
    out = host.check_output("airflow-celery inspect ping --destination celery@mol-airflow-all --timeout 10 2>&1")
    assert "pong" in out


def test_flower_requires_authentication(host):
    status, _ = curl(host, "http://127.0.0.1:5555/api/workers")
    assert status == 401
    status, _ = curl(host, f"-u {FLOWER[0]}:wrong http://127.0.0.1:5555/api/workers")
    assert status == 401
    status, body = curl(host, f"-u {FLOWER[0]}:{FLOWER[1]} http://127.0.0.1:5555/api/workers")
    assert status == 200
