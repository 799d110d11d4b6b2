"""Fixtures for the Kubernetes API test double's tests (loopback only, no Airflow DB)."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
# One scratch dir per run, removed at exit (forked watcher processes leave via os._exit, not atexit).
SCRATCH = Path(tempfile.mkdtemp(prefix="k8s-double-tests-"))
atexit.register(shutil.rmtree, SCRATCH, ignore_errors=True)
# Airflow reads its configuration on import: a throwaway home before anything imports it.
os.environ.setdefault("AIRFLOW_HOME", str(SCRATCH / "airflow-home"))
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ["AIRFLOW__CORE__EXECUTOR"] = "CeleryExecutor,KubernetesExecutor"
# DynamicClient caches discovery per server URL in $TMPDIR: keep those files out of the shared /tmp.
(SCRATCH / "tmp").mkdir()
tempfile.tempdir = str(SCRATCH / "tmp")
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from server import KubeApiDouble, LocalProcessKubelet  # noqa: E402

NAMESPACE = "airflow"


def make_client(double: KubeApiDouble, token: str | None = None):
    """A CoreV1Api configured from the kubeconfig the double writes (how the executor gets one)."""
    from kubernetes import client, config

    path = Path(tempfile.mkdtemp(prefix="kubeconfig-")) / "config"
    double.write_kubeconfig(str(path))
    if token is not None:  # a kubeconfig with another token, or with `user: {}` (no Authorization header)
        cfg = json.loads(path.read_text())
        cfg["users"][0]["user"] = {"token": token} if token else {}
        path.write_text(json.dumps(cfg))
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(path), client_configuration=configuration)
    return client.CoreV1Api(client.ApiClient(configuration))


@pytest.fixture
def double():
    with KubeApiDouble(namespaces=[NAMESPACE], kubelet=LocalProcessKubelet(), max_grace=2) as d:
        yield d


@pytest.fixture
def core(double):
    return make_client(double)
