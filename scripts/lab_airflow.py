"""Run the smoke DAG on the lab through the Airflow 3 REST API (the end of `make demo`), and the
small API client the lab tests share.

Requests run as curl inside the api-server's container against its loopback, so nothing but lab
containers is reached; the admin password comes from the lab's vault
(ANSIBLE_VAULT_PASSWORD_FILE, as `make` sets it).
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import time

import pathlib
import sys

import yaml

REPO = pathlib.Path(__file__).resolve().parents[1]

API_HOST = "lab-api1"
API = "http://127.0.0.1:8080"
TERMINAL = {"success", "failed"}


@functools.cache
def lab_secret(name: str) -> str:
    vault = REPO / "inventories/lab/group_vars/all/vault.yml"
    out = subprocess.run(
        ["ansible-vault", "view", str(vault)], capture_output=True, text=True, check=True, env=dict(os.environ)
    )
    return yaml.safe_load(out.stdout)[name]


def wait_for(check, timeout: float, interval: float = 3.0):
    """Poll check() until it returns something truthy or the timeout passes; return its last result."""
    deadline = time.monotonic() + timeout
    while not (result := check()) and time.monotonic() < deadline:
        time.sleep(interval)
    return result


class AirflowApi:
    def __init__(self) -> None:
        status, body = self.request(
            "POST", "/auth/token", body={"username": "admin", "password": lab_secret("vault_airflow_admin_password")},
            auth=False,
        )
        assert status == 201, body
        self.token = body["access_token"]

    def request(self, method: str, path: str, body: dict | None = None, auth: bool = True):
        token = getattr(self, "token", None) if auth else None
        cmd = ["docker", "exec", "-i", API_HOST, "curl", "-sS", "-w", "\n%{http_code}", "-X", method, API + path,
               "-H", "Accept: application/json", "-H", "Content-Type: application/json"]
        if token:
            cmd += ["-H", f"Authorization: Bearer {token}"]
        if body is not None:
            cmd += ["--data-binary", "@-"]
        proc = subprocess.run(cmd, input=json.dumps(body) if body is not None else None,
                              capture_output=True, text=True, timeout=120)
        text, _, status = proc.stdout.rpartition("\n")
        try:
            return int(status or 0), json.loads(text)
        except ValueError:
            return int(status or 0), text

    def get(self, path: str):
        status, body = self.request("GET", path)
        assert status == 200, (path, status, body)
        return body

    def trigger(self, dag_id: str, conf: dict | None = None) -> str:
        """Unpause the DAG once it is parsed, start a run, return its run id."""
        assert wait_for(lambda: self.request("GET", f"/api/v2/dags/{dag_id}")[0] == 200, 300), f"{dag_id} never parsed"
        status, body = self.request("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
        assert status == 200, body
        status, run = self.request("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf or {}})
        assert status == 200, run
        return run["dag_run_id"]

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"]

    def wait_finished(self, dag_id: str, run_id: str, timeout: float = 600) -> str:
        state = wait_for(lambda: (s := self.run_state(dag_id, run_id)) in TERMINAL and s, timeout)
        return state or self.run_state(dag_id, run_id)

    def run_to_end(self, dag_id: str, conf: dict | None = None, timeout: float = 600) -> tuple[str, str]:
        """Trigger a run and wait for it to finish; return (run id, final state)."""
        run_id = self.trigger(dag_id, conf)
        return run_id, self.wait_finished(dag_id, run_id, timeout)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        return self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=1000")["task_instances"]

    def log(self, ti: dict) -> str:
        path = (f"/api/v2/dags/{ti['dag_id']}/dagRuns/{ti['dag_run_id']}/taskInstances/{ti['task_id']}"
                f"/logs/{ti['try_number']}?map_index={ti['map_index']}")
        return json.dumps(self.get(path))


def short_host(ti: dict) -> str:
    return (ti.get("hostname") or "").split(".")[0]


def main() -> int:
    api = AirflowApi()
    print("Triggering cluster_smoke through POST /api/v2/dags/cluster_smoke/dagRuns ...", flush=True)
    run_id, state = api.run_to_end("cluster_smoke")
    print(f"Run {run_id}: {state}")
    hosts: dict[str, set[str]] = {}
    for ti in api.task_instances("cluster_smoke", run_id):
        hosts.setdefault(ti["queue"], set()).add(short_host(ti))
    for queue, names in sorted(hosts.items()):
        print(f"  queue {queue:<8} ran on {', '.join(sorted(names))}")
    return 0 if state == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
