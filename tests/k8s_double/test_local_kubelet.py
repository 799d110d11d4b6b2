"""LocalProcessKubelet as the lab runs it (lab/k8s_double.yml): pods are processes of the double's host,
with the host's Airflow venv first on PATH, the pod image's ENV and WORKDIR, and a fixed user."""

from __future__ import annotations

import getpass
import json
import os
import pwd
import subprocess
import sys
from pathlib import Path

from conftest import NAMESPACE, make_client
from kubernetes import client, config

from server import KubeApiDouble, LocalProcessKubelet

WAIT = 15

# Prints what the lab's pod process sees: identity, PATH head, image env, pod env, cwd.
PROBE = ('import os, sys; print(os.getuid(), os.environ["HOME"], os.environ["USER"], '
         'os.environ["PATH"].split(":")[0], os.environ.get("AIRFLOW_HOME"), os.environ.get("FROM_POD"), '
         'os.environ["HOSTNAME"], os.getcwd())')


def probe_pod(name: str, env: dict | None = None, working_dir: str | None = None) -> dict:
    container = {"name": "base", "image": "lab.invalid/airflow-pod:3.3.2", "command": [sys.executable, "-c", PROBE],
                 "env": [{"name": k, "value": v} for k, v in (env or {}).items()]}
    if working_dir:
        container["workingDir"] = working_dir
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"restartPolicy": "Never", "containers": [container]}}


def finished(double: KubeApiDouble, name: str) -> dict:
    double.wait_for(lambda d: d.pods[(NAMESPACE, name)]["status"]["phase"] in ("Succeeded", "Failed"), WAIT)
    return double.get_pod(NAMESPACE, name)


def log_of(double: KubeApiDouble, name: str) -> list[str]:
    double.wait_for(lambda d: d.logs.get((NAMESPACE, name)), WAIT)
    return "".join(double.logs[(NAMESPACE, name)]).split()


def test_path_prefix_image_env_workdir_and_run_as(tmp_path):
    me = pwd.getpwuid(os.getuid())
    kubelet = LocalProcessKubelet(path_prefix="/opt/airflow/venv/bin", image_env={
        "AIRFLOW_HOME": "/opt/airflow", "FROM_POD": "image"}, workdir=str(tmp_path), run_as=me.pw_name)
    with KubeApiDouble(namespaces=[NAMESPACE], kubelet=kubelet, max_grace=2) as double:
        core = make_client(double)
        core.create_namespaced_pod(NAMESPACE, probe_pod("lp", env={"FROM_POD": "pod"}))
        assert finished(double, "lp")["status"]["phase"] == "Succeeded"
        assert log_of(double, "lp") == [str(me.pw_uid), me.pw_dir, me.pw_name, "/opt/airflow/venv/bin",
                                         "/opt/airflow", "pod", "lp", str(tmp_path)]
        # A container's workingDir beats the image's WORKDIR, as in Kubernetes.
        other = tmp_path / "elsewhere"
        other.mkdir()
        core.create_namespaced_pod(NAMESPACE, probe_pod("lp-wd", working_dir=str(other)))
        finished(double, "lp-wd")
        assert log_of(double, "lp-wd")[-3:] == ["image", "lp-wd", str(other)]


def test_unknown_run_as_user_fails_the_pod_with_start_error():
    """The lab starts the double before Airflow's user exists: each pod looks the user up when it starts."""
    kubelet = LocalProcessKubelet(run_as="no-such-user-k8s-double")
    with KubeApiDouble(namespaces=[NAMESPACE], kubelet=kubelet, max_grace=2) as double:
        make_client(double).create_namespaced_pod(NAMESPACE, probe_pod("nouser"))
        pod = finished(double, "nouser")
        term = pod["status"]["containerStatuses"][0]["state"]["terminated"]
        assert pod["status"]["phase"] == "Failed" and term["reason"] == "StartError" and term["exitCode"] == 128
        assert "no-such-user-k8s-double" in term["message"]


def test_command_line_local_kubelet_options(tmp_path):
    """The unit's command line: --kubelet local honours --path-prefix, --image-env, --image-workdir, --run-as."""
    kubeconfig, token = tmp_path / "kubeconfig", tmp_path / "token"
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("server.py")), "--namespace", NAMESPACE,
         "--kubeconfig", str(kubeconfig), "--token-file", str(token), "--kubelet", "local",
         "--path-prefix", "/opt/airflow/venv/bin", "--image-env", "AIRFLOW_HOME=/opt/airflow",
         "--image-env", "FROM_POD=image", "--image-workdir", str(tmp_path), "--run-as", getpass.getuser()],
        stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().startswith("k8s API test double on http://127.0.0.1:")
        configuration = client.Configuration()
        config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
        core = client.CoreV1Api(client.ApiClient(configuration))
        core.create_namespaced_pod(NAMESPACE, probe_pod("cli"))
        for _ in range(WAIT * 5):
            status = core.read_namespaced_pod("cli", NAMESPACE).status
            if status.phase in ("Succeeded", "Failed"):
                break
            __import__("time").sleep(0.2)
        assert status.phase == "Succeeded", status
        out = core.read_namespaced_pod_log("cli", NAMESPACE, container="base", _preload_content=False).data.decode()
        me = pwd.getpwuid(os.getuid())
        assert out.split() == [str(me.pw_uid), me.pw_dir, me.pw_name, "/opt/airflow/venv/bin", "/opt/airflow",
                               "image", "cli", str(tmp_path)]
    finally:
        proc.terminate()
        proc.wait(timeout=WAIT)
    assert proc.returncode == 0


def test_command_line_docker_kubelet_keeps_its_path_default(tmp_path, monkeypatch):
    """--path-prefix no longer has a global default; the docker kubelet still gets the Airflow venv."""
    import server

    seen = {}

    class Stop(Exception):
        pass

    def fake_double(**kwargs):
        seen.update(kwargs)
        raise Stop

    monkeypatch.setattr(server, "KubeApiDouble", fake_double)
    for argv, prefix in ((["--kubelet", "docker", "--docker-container", "c"], "/opt/airflow/venv/bin"),
                         (["--kubelet", "docker", "--docker-container", "c", "--path-prefix", "/v/bin"], "/v/bin"),
                         (["--kubelet", "local"], "")):
        try:
            server.main(["--kubeconfig", str(tmp_path / "k"), *argv])
        except Stop:
            pass
        assert seen["kubelet"].path_prefix == prefix
    assert json.dumps(seen["namespaces"]) == '["airflow"]'
