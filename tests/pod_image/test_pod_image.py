"""The KubernetesExecutor pod image (k8s/pod-image/Dockerfile), as `make pod-image` builds it.

`make test-pod-image` builds the image first (on the lab's Debian 12 image, without the Spark
client); these tests only run it with no network: `docker run --network none`.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import tempfile

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
IMAGE = os.environ.get("POD_IMAGE", "airflow-lab/airflow-pod:dev")
LOCK = REPO / "roles/airflow/files/requirements.lock"
# Parsed like the dag-processor does (LocalDagBundle), under the cluster's executor list.
PARSE_DAGS = """
import json, pathlib
from airflow import settings
from airflow.dag_processing.dagbag import BundleDagBag
folder = pathlib.Path(settings.DAGS_FOLDER)
bag = BundleDagBag(dag_folder=str(folder), bundle_path=folder, bundle_name="dags-folder")
print(json.dumps({"dag_ids": sorted(bag.dag_ids), "errors": bag.import_errors}))
"""
INSTALLED = """
import json, importlib.metadata as md
print(json.dumps({d.metadata["Name"].lower().replace("_", "-"): d.version for d in md.distributions()}))
"""


def run_in_image(*command: str) -> str:
    proc = subprocess.run(
        ["docker", "run", "--rm", "--network", "none",
         "-e", "AIRFLOW__CORE__EXECUTOR=CeleryExecutor,KubernetesExecutor", IMAGE, *command],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def last_json_line(output: str) -> dict:
    # Airflow may log to stdout while parsing; the script's JSON is the last line.
    return json.loads(output.strip().splitlines()[-1])


def locked_versions() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        if "==" in line and not line.lstrip().startswith("#"):
            name, version = line.split("==", 1)
            pins[name.strip().lower().replace("_", "-")] = version.split(";")[0].strip()
    return pins


def test_image_runs_exactly_the_hosts_lock():
    installed = json.loads(run_in_image("python", "-c", INSTALLED))
    locked = locked_versions()
    for seed in ("pip", "setuptools"):  # what `python3 -m venv` puts in, as on the hosts
        installed.pop(seed, None)
    wrong = {name: (version, installed.get(name)) for name, version in locked.items()
             if installed.get(name) != version}
    assert not wrong, f"(locked, in image): {wrong}"
    assert set(installed) == set(locked), f"not in the lock: {sorted(set(installed) - set(locked))}"


def test_runs_as_airflow_uid_with_root_group():
    # k8s_offload_pod_uid / k8s_offload_pod_gid; GID 0 owns the writable home (random-UID platforms).
    assert run_in_image("id", "-u").strip() == "50000"
    assert run_in_image("id", "-g").strip() == "0"
    assert run_in_image("sh", "-c", "touch /opt/airflow/logs/probe && echo ok").strip() == "ok"


def test_pod_parses_the_same_dags_as_the_hosts():
    in_image = last_json_line(run_in_image("python", "-c", PARSE_DAGS))
    assert in_image["errors"] == {}
    # The same DAG folder parsed by the DAG tests' venv (same lock) on the controller.
    airflow_venv = REPO / ".venv-airflow/bin/python"
    if not airflow_venv.exists():
        pytest.fail("run `make pytest-dags` first: it builds .venv-airflow")
    with tempfile.TemporaryDirectory(prefix="airflow-pod-image-test-") as home:
        local = subprocess.run(
            [str(airflow_venv), "-c", PARSE_DAGS], capture_output=True, text=True, timeout=300, check=True,
            env=dict(os.environ, AIRFLOW_HOME=home, AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "dags"),
                     AIRFLOW__CORE__LOAD_EXAMPLES="False",
                     AIRFLOW__CORE__EXECUTOR="CeleryExecutor,KubernetesExecutor"),
        )
    assert in_image["dag_ids"] == last_json_line(local.stdout)["dag_ids"]
    assert "kubernetes_smoke" in in_image["dag_ids"]


def test_executor_entrypoint_module_is_there():
    # The executor's args: python -m airflow.sdk.execution_time.execute_workload --json-string ...
    out = run_in_image("python", "-m", "airflow.sdk.execution_time.execute_workload", "--help")
    assert "--json-string" in out
