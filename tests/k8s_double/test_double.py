"""The Kubernetes API test double, driven by the real kubernetes client and the real executor components.

Client-level tests call the API the way cncf.kubernetes 10.25.0 does (see /work/shared/k8s-executor-api.md);
the executor tests run the provider's AirflowKubernetesScheduler + KubernetesJobWatcher (a real child
process) against the double and read what lands in the executor's result queue.
"""

from __future__ import annotations

import json
import os
import queue
import stat
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
from conftest import NAMESPACE, make_client
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from server import DockerExecKubelet, KubeApiDouble, LocalProcessKubelet

WAIT = 15  # seconds: upper bound for any single wait in these tests


def pod_body(name: str, command: list[str], labels: dict | None = None, env: dict | None = None,
             image: str = "airflow-lab/task:3.3.2") -> dict:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}, "annotations": {"dag_id": "d", "task_id": "t"}},
        "spec": {"restartPolicy": "Never", "containers": [{
            "name": "base", "image": image, "command": command,
            "env": [{"name": k, "value": v} for k, v in (env or {}).items()]}]},
    }


def read_log(core, name: str, **kwargs) -> str:
    """Pod log as the executor reads it (_preload_content=False: this client version returns str(bytes)
    for a preloaded text body, against any server)."""
    kwargs.setdefault("container", "base")
    return core.read_namespaced_pod_log(name, NAMESPACE, _preload_content=False, **kwargs).data.decode()


def watch_until(core, predicate, timeout=WAIT, **kwargs):
    """Stream pod events (as the executor's watcher does) until predicate(event) is true; bounded."""
    deadline = time.monotonic() + timeout
    seen = []
    w = watch.Watch()
    for event in w.stream(core.list_namespaced_pod, NAMESPACE, timeout_seconds=int(timeout),
                          _request_timeout=timeout + 5, **kwargs):
        seen.append(event)
        if predicate(event) or time.monotonic() > deadline:
            w.stop()
            break
    return seen


# ------------------------------------------------------------------------------------ client level
def test_discovery_and_bearer_token(double):
    good = make_client(double)
    assert client.VersionApi(good.api_client).get_code().git_version.endswith("k8s-double")
    for token in ("wrong-token", ""):
        with pytest.raises(ApiException) as err:
            make_client(double, token=token).list_namespaced_pod(NAMESPACE)
        assert err.value.status == 401
    assert double.requests_matching("GET", "/api/v1/namespaces/airflow/pods")[-1]["status"] == 401


def test_forbidden_namespace_is_403_and_recorded(double, core):
    with pytest.raises(ApiException) as err:
        core.list_namespaced_pod("kube-system")
    assert err.value.status == 403
    assert 'cannot list resource "pods"' in json.loads(err.value.body)["message"]
    with pytest.raises(ApiException) as err:
        core.create_namespaced_pod("default", pod_body("x", ["true"]))
    assert err.value.status == 403
    with pytest.raises(ApiException) as err:
        core.list_pod_for_all_namespaces()  # no ClusterRole in the double's default RBAC
    assert err.value.status == 403
    assert [(f["verb"], f["namespace"]) for f in double.forbidden] == [
        ("list", "kube-system"), ("create", "default"), ("list", None)]
    assert double.pods == {}


def test_pod_lifecycle_watch_logs_events_delete(double, core):
    body = pod_body("hello-1", ["/bin/sh", "-c", 'echo "hello from $HOSTNAME"; echo "GREETING=$GREETING"'],
                    labels={"airflow-worker": "7", "kubernetes_executor": "True"}, env={"GREETING": "hi"})
    created = core.create_namespaced_pod(NAMESPACE, body)
    assert created.status.phase == "Pending" and created.spec.restart_policy == "Never"
    events = watch_until(core, lambda e: e["object"].status.phase == "Succeeded",
                         label_selector="airflow-worker=7,airflow_executor_done!=True", resource_version="0")
    phases = [e["object"].status.phase for e in events]
    assert phases[0] == "Pending" and phases[-1] == "Succeeded" and "Running" in phases
    done = events[-1]["object"]
    term = done.status.container_statuses[0].state.terminated
    assert (term.exit_code, term.reason) == (0, "Completed")
    assert done.status.start_time is not None and done.metadata.resource_version

    logs = read_log(core, "hello-1", follow=False, tail_lines=100)
    assert logs.splitlines() == ["hello from hello-1", "GREETING=hi"]
    assert read_log(core, "hello-1", tail_lines=1) == "GREETING=hi\n"

    reasons = [e.reason for e in core.list_namespaced_event(
        NAMESPACE, field_selector="involvedObject.name=hello-1").items]
    assert reasons[:4] == ["Scheduled", "Pulled", "Created", "Started"]

    deleted = core.delete_namespaced_pod("hello-1", NAMESPACE, body=client.V1DeleteOptions())
    assert deleted.metadata.deletion_timestamp is not None
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod("hello-1", NAMESPACE)
    assert err.value.status == 404
    with pytest.raises(ApiException) as err:  # the executor ignores this 404
        core.delete_namespaced_pod("hello-1", NAMESPACE, body=client.V1DeleteOptions())
    assert err.value.status == 404
    assert double.requests_matching("DELETE", "/pods/hello-1")[0]["body"] == {}


def test_failed_pod_is_shaped_for_the_executor(double, core):
    from airflow.providers.cncf.kubernetes.executors.kubernetes_executor_utils import (
        collect_pod_failure_details,
    )

    core.create_namespaced_pod(NAMESPACE, pod_body("boom", ["/bin/sh", "-c", "echo oops >&2; exit 3"]))
    pod = double.wait_for(lambda d: (p := d.pods.get((NAMESPACE, "boom"))) and
                          p["status"]["phase"] == "Failed" and p, timeout=WAIT)
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 3
    details = collect_pod_failure_details(core.read_namespaced_pod("boom", NAMESPACE), None)
    assert details["exit_code"] == 3 and details["container_reason"] == "Error"
    assert details["container_name"] == "base" and details["pod_status"] == "Failed"
    assert read_log(core, "boom") == "oops\n"


def test_invalid_pods_are_rejected_like_the_api_server(double, core):
    no_image = pod_body("noimage", ["true"])
    del no_image["spec"]["containers"][0]["image"]
    with pytest.raises(ApiException) as err:
        core.create_namespaced_pod(NAMESPACE, no_image)  # what a missing pod_template_file produces
    assert err.value.status == 422 and "image: Required value" in json.loads(err.value.body)["message"]
    core.create_namespaced_pod(NAMESPACE, pod_body("twice", ["true"]))
    with pytest.raises(ApiException) as err:
        core.create_namespaced_pod(NAMESPACE, pod_body("twice", ["true"]))
    assert err.value.status == 409


def test_label_field_selectors_pagination_and_metadata_list(double, core):
    from kubernetes.dynamic import DynamicClient

    for i, worker in enumerate(["1", "1", "2"]):
        core.create_namespaced_pod(NAMESPACE, pod_body(
            f"p{i}", ["true"], labels={"airflow-worker": worker, "kubernetes_executor": "True"}))
    double.wait_for(lambda d: all(p["status"]["phase"] == "Succeeded" for p in d.pods.values()), WAIT)
    core.patch_namespaced_pod("p1", NAMESPACE, {"metadata": {"labels": {"airflow_executor_done": "True"}}})

    def names(**kw):
        return [p.metadata.name for p in core.list_namespaced_pod(NAMESPACE, **kw).items]

    assert names(label_selector="airflow-worker=1") == ["p0", "p1"]
    assert names(label_selector="airflow-worker=1,airflow_executor_done!=True") == ["p0"]
    assert names(label_selector="kubernetes_executor=True,airflow-worker notin (1,3)") == ["p2"]
    assert names(label_selector="airflow_executor_done") == ["p1"]
    assert names(field_selector="status.phase=Succeeded") == ["p0", "p1", "p2"]
    assert names(field_selector="status.phase!=Succeeded") == []

    page1 = core.list_namespaced_pod(NAMESPACE, limit=2)  # cleanup-pods pages with limit + continue
    page2 = core.list_namespaced_pod(NAMESPACE, limit=2, _continue=page1.metadata._continue)
    assert [p.metadata.name for p in page1.items + page2.items] == ["p0", "p1", "p2"]
    assert page2.metadata._continue is None and page1.items[0].spec.restart_policy == "Never"

    # The executor's adoption path: DynamicClient + PartialObjectMetadataList.
    dyn = DynamicClient(core.api_client)
    pods = dyn.resources.get(api_version="v1", kind="Pod")
    meta = dyn.get(resource=pods, namespace=NAMESPACE, label_selector="airflow-worker=1",
                   field_selector="status.phase=Succeeded",
                   header_params={"Accept": "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io"})
    assert meta.kind == "PartialObjectMetadataList"
    assert [i.metadata.name for i in meta.items] == ["p0", "p1"]
    assert [r["path"] for r in double.requests_matching("GET", "/ap")][:3] == ["/version", "/apis", "/api/v1"] or \
        {"/apis", "/api/v1"} <= {r["path"] for r in double.requests}


def test_watch_selector_transitions_replay_and_410(double, core):
    core.create_namespaced_pod(NAMESPACE, pod_body("w1", ["true"], labels={"airflow-worker": "1"}))
    double.wait_for(lambda d: d.pods[(NAMESPACE, "w1")]["status"]["phase"] == "Succeeded", WAIT)
    start_rv = core.list_namespaced_pod(NAMESPACE).metadata.resource_version

    # Patching the done label makes the pod leave the executor's selector: the watch sees DELETED
    # without deletionTimestamp (what the watcher reads as "adopted elsewhere").
    core.patch_namespaced_pod("w1", NAMESPACE, {"metadata": {"labels": {"airflow_executor_done": "True"}}})
    events = watch_until(core, lambda e: e["type"] == "DELETED", timeout=5,
                         label_selector="airflow-worker=1,airflow_executor_done!=True", resource_version=start_rv)
    assert [e["type"] for e in events] == ["DELETED"]
    assert events[0]["object"].metadata.deletion_timestamp is None
    # Adoption relabels airflow-worker: a watch for the new owner sees ADDED.
    core.patch_namespaced_pod("w1", NAMESPACE, {"metadata": {"labels": {"airflow-worker": "2"}}})
    events = watch_until(core, lambda e: True, timeout=5, label_selector="airflow-worker=2",
                         resource_version=start_rv)
    assert events[0]["type"] == "ADDED" and events[0]["object"].metadata.labels["airflow-worker"] == "2"

    double.compact()  # etcd compaction: the old resourceVersion is gone
    with pytest.raises(ApiException) as err:
        watch_until(core, lambda e: True, timeout=5, resource_version=start_rv)
    assert err.value.status == 410


def test_watch_stays_open_and_times_out_server_side(double, core):
    t0 = time.monotonic()
    events = watch_until(core, lambda e: True, timeout=2, label_selector="nothing=here")
    assert events == [] and 1.5 < time.monotonic() - t0 < 6


def test_delete_running_pod_uses_grace_and_reports_deleted(double, core):
    core.create_namespaced_pod(NAMESPACE, pod_body("sleepy", ["/bin/sh", "-c", "echo started; exec sleep 60"],
                                                    labels={"airflow-worker": "1"}))
    double.wait_for(lambda d: d.logs.get((NAMESPACE, "sleepy")), WAIT)
    rv = core.read_namespaced_pod("sleepy", NAMESPACE).metadata.resource_version
    proc = double.procs[(NAMESPACE, "sleepy")]
    core.delete_namespaced_pod("sleepy", NAMESPACE, body=client.V1DeleteOptions(grace_period_seconds=1))
    events = watch_until(core, lambda e: e["type"] == "DELETED", timeout=10, resource_version=rv)
    last = events[-1]["object"]
    assert events[-1]["type"] == "DELETED" and last.metadata.deletion_timestamp is not None
    assert last.status.container_statuses[0].state.terminated.exit_code == 143  # SIGTERM
    assert proc.poll() is not None


def test_image_pull_error_keeps_pod_pending(double, core):
    double.kubelet = LocalProcessKubelet(images={"airflow-lab/task:3.3.2"})
    core.create_namespaced_pod(NAMESPACE, pod_body("nopull", ["true"], image="nope:latest"))
    pod = double.wait_for(lambda d: d.pods[(NAMESPACE, "nopull")]["status"].get("containerStatuses") and
                          "ErrImagePull" in json.dumps(d.pods[(NAMESPACE, "nopull")]["status"]) and
                          d.pods[(NAMESPACE, "nopull")], WAIT)
    assert pod["status"]["phase"] == "Pending"
    with pytest.raises(ApiException) as err:
        read_log(core, "nopull")
    assert err.value.status == 400 and "waiting to start" in json.loads(err.value.body)["message"]


def test_follow_logs_streams_until_the_container_ends(double, core):
    core.create_namespaced_pod(NAMESPACE, pod_body("chatty", ["/bin/sh", "-c", "for i in 1 2 3; do echo line$i; "
                                                                             "sleep 0.2; done"]))
    double.wait_for(lambda d: d.pods[(NAMESPACE, "chatty")]["status"]["phase"] != "Pending", WAIT)
    resp = core.read_namespaced_pod_log("chatty", NAMESPACE, container="base", follow=True,
                                        _preload_content=False, _request_timeout=WAIT)
    assert resp.data.decode().split() == ["line1", "line2", "line3"]


def test_docker_exec_kubelet_argv_env_and_kill(tmp_path):
    """DockerExecKubelet against a stand-in `docker` that runs `exec` locally (no Docker, no network)."""
    fake = tmp_path / "docker"
    calls = tmp_path / "calls.jsonl"
    fake.write_text(textwrap.dedent(f"""\
        #!{sys.executable}
        import json, os, sys
        args = sys.argv[1:]
        open({str(calls)!r}, "a").write(json.dumps(args) + "\\n")
        assert args.pop(0) == "exec"
        env = {{"PATH": os.environ["PATH"]}}
        while args[0].startswith("-"):
            flag = args.pop(0)
            if flag in ("-e", "-u", "-w"):
                value = args.pop(0)
                if flag == "-e":
                    k, v = value.split("=", 1)
                    env[k] = v if k != "PATH" else v + ":" + os.environ["PATH"]
        container = args.pop(0)
        env["FAKE_CONTAINER"] = container
        os.execvpe(args[0], args, env)
        """))
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    kubelet = DockerExecKubelet({"airflow-lab/task:3.3.2": "lab-worker-1"}, None,
                                path_prefix="/opt/airflow/venv/bin", user="airflow", docker=str(fake),
                                pid_dir=str(tmp_path), image_env={"AIRFLOW_HOME": "/opt/airflow"})
    with KubeApiDouble(namespaces=[NAMESPACE], kubelet=kubelet, max_grace=2) as double:
        core = make_client(double)
        core.create_namespaced_pod(NAMESPACE, pod_body(
            "dx", ["/bin/sh", "-c", 'echo "in $FAKE_CONTAINER as pod $HOSTNAME with X=$X"; echo "$PATH"'],
            env={"X": "1"}))
        double.wait_for(lambda d: d.pods[(NAMESPACE, "dx")]["status"]["phase"] == "Succeeded", WAIT)
        out = read_log(core, "dx").splitlines()
        assert out[0] == "in lab-worker-1 as pod dx with X=1"
        assert out[1].startswith("/opt/airflow/venv/bin:")
        first = json.loads(calls.read_text().splitlines()[0])
        assert first[:4] == ["exec", "-i", "-u", "airflow"] and "lab-worker-1" in first
        assert "AIRFLOW_HOME=/opt/airflow" in first  # image_env stands in for the image's ENV

        # Without a fixed user, the pod's securityContext decides (like the runtime would).
        pod = {"metadata": {"name": "u", "namespace": NAMESPACE},
               "spec": {"securityContext": {"runAsUser": 50000, "runAsGroup": 0},
                        "containers": [{"name": "base", "image": "airflow-lab/task:3.3.2", "args": ["true"]}]}}
        argv = DockerExecKubelet({"airflow-lab/task:3.3.2": "lab-worker-1"}).exec_argv(pod, pod["spec"]["containers"][0])
        assert argv[3:5] == ["-u", "50000:0"] and argv[-1] == "true"

        core.create_namespaced_pod(NAMESPACE, pod_body("dx-unknown", ["true"], image="other:1"))
        double.wait_for(lambda d: "ErrImagePull" in json.dumps(d.pods[(NAMESPACE, "dx-unknown")]["status"]),
                        WAIT)

        core.create_namespaced_pod(NAMESPACE, pod_body("dx-sleep", ["/bin/sh", "-c", "echo up; exec sleep 60"]))
        double.wait_for(lambda d: d.logs.get((NAMESPACE, "dx-sleep")), WAIT)
        core.delete_namespaced_pod("dx-sleep", NAMESPACE, body=client.V1DeleteOptions(grace_period_seconds=1))
        double.wait_for(lambda d: (NAMESPACE, "dx-sleep") not in d.pods, WAIT)
        kill_calls = [json.loads(line) for line in calls.read_text().splitlines() if "kill -TERM" in line]
        assert kill_calls and kill_calls[0][1] == "lab-worker-1"


LAB_IMAGE = "airflow-lab/debian12-systemd:latest"


def _docker_ready() -> bool:
    import shutil
    import subprocess

    if not shutil.which("docker"):
        return False
    probe = subprocess.run(["docker", "image", "inspect", LAB_IMAGE], capture_output=True, timeout=30, check=False)
    return probe.returncode == 0


@pytest.mark.skipif(not _docker_ready(), reason=f"needs docker and the lab base image {LAB_IMAGE}")
def test_docker_exec_kubelet_in_a_real_container():
    """The real `docker exec` path in a throwaway container of our own (no network: --network none)."""
    import subprocess

    name = f"k8s-double-test-{uuid.uuid4().hex[:8]}"
    subprocess.run(["docker", "run", "-d", "--rm", "--name", name, "--network", "none", LAB_IMAGE, "sleep", "120"],
                   check=True, capture_output=True, timeout=60)
    try:
        kubelet = DockerExecKubelet(default_container=name)
        with KubeApiDouble(namespaces=[NAMESPACE], kubelet=kubelet, max_grace=2) as double:
            core = make_client(double)
            core.create_namespaced_pod(NAMESPACE, pod_body(
                "real", ["/bin/sh", "-c", "echo in $HOSTNAME; python3 -c 'print(6*7)'; exit 4"]))
            double.wait_for(lambda d: d.pods[(NAMESPACE, "real")]["status"]["phase"] == "Failed", WAIT)
            assert read_log(core, "real").split() == ["in", "real", "42"]
            assert core.read_namespaced_pod("real", NAMESPACE).status.container_statuses[0] \
                .state.terminated.exit_code == 4
            core.create_namespaced_pod(NAMESPACE, pod_body("real-sleep", ["/bin/sh", "-c", "echo up; exec sleep 100"]))
            double.wait_for(lambda d: d.logs.get((NAMESPACE, "real-sleep")), WAIT)
            core.delete_namespaced_pod("real-sleep", NAMESPACE, body=client.V1DeleteOptions(grace_period_seconds=1))
            double.wait_for(lambda d: (NAMESPACE, "real-sleep") not in d.pods, WAIT)
        ps = subprocess.run(["docker", "exec", name, "ps", "-eo", "args"], capture_output=True, text=True,
                            timeout=30, check=True).stdout
        assert "sleep 100" not in ps  # the PID-file kill reached the process inside the container
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=60, check=False)


def test_command_line_entry_point(tmp_path):
    """How the lab starts it: a process that writes the kubeconfig + token and records requests on exit."""
    import subprocess

    from kubernetes import config

    kubeconfig, token, record = tmp_path / "kubeconfig", tmp_path / "token", tmp_path / "requests.jsonl"
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("server.py")), "--namespace", NAMESPACE,
         "--kubeconfig", str(kubeconfig), "--token-file", str(token), "--record-file", str(record)],
        stdout=subprocess.PIPE, text=True)
    try:
        banner = proc.stdout.readline()
        assert banner.startswith("k8s API test double on http://127.0.0.1:")
        assert oct(token.stat().st_mode)[-3:] == "600" and oct(kubeconfig.stat().st_mode)[-3:] == "600"
        configuration = client.Configuration()
        config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
        core = client.CoreV1Api(client.ApiClient(configuration))
        assert core.list_namespaced_pod(NAMESPACE).items == []
    finally:
        proc.terminate()
        proc.wait(timeout=WAIT)
    assert proc.returncode == 0
    assert json.loads(record.read_text().splitlines()[0])["path"] == "/api/v1/namespaces/airflow/pods"


# ------------------------------------------------------------------------------------ executor level
POD_TEMPLATE = """\
apiVersion: v1
kind: Pod
metadata:
  name: placeholder
spec:
  restartPolicy: Never
  containers:
    - name: base
      image: airflow-lab/task:3.3.2
      # The double runs this locally: check the executor's workload args reach the pod intact
      # ($0.. = python -m airflow.sdk.execution_time.execute_workload --json-string <workload>).
      command:
        - /bin/sh
        - -c
        - >-
          echo "module=$2 flag=$3";
          {python} -c 'import json,sys; w=json.loads(sys.argv[1]); print("ti", w["ti"]["dag_id"], w["ti"]["task_id"])' "$4";
          echo "k8s_pod=$AIRFLOW_IS_K8S_EXECUTOR_POD";
          exit ${{DOUBLE_EXIT_CODE:-0}}
"""


@pytest.fixture
def executor_env(tmp_path, monkeypatch):
    """A double + the [kubernetes_executor] config a VM scheduler uses to reach it."""
    double = KubeApiDouble(namespaces=[NAMESPACE], kubelet=LocalProcessKubelet(images={"airflow-lab/task:3.3.2"}))
    double.start()
    kubeconfig = double.write_kubeconfig(str(tmp_path / "kubeconfig"))
    template = tmp_path / "pod_template.yaml"
    template.write_text(POD_TEMPLATE.format(python=sys.executable))
    for key, value in {
        "IN_CLUSTER": "False", "CONFIG_FILE": kubeconfig, "NAMESPACE": NAMESPACE,
        "POD_TEMPLATE_FILE": str(template), "DELETE_WORKER_PODS": "True",
        "DELETE_WORKER_PODS_ON_FAILURE": "False", "WORKER_PODS_CREATION_BATCH_SIZE": "4",
    }.items():
        monkeypatch.setenv(f"AIRFLOW__KUBERNETES_EXECUTOR__{key}", value)
    yield double
    double.stop()


def _workload(task_id: str):
    from airflow.executors.workloads import BundleInfo, ExecuteTask
    from airflow.executors.workloads.task import TaskInstanceDTO

    ti = TaskInstanceDTO(id=uuid.uuid4(), task_id=task_id, dag_id="k8s_double_dag", run_id="manual__2026-01-01",
                         try_number=1, dag_version_id=uuid.uuid4(), map_index=-1, queue="kubernetes",
                         pool_slots=1, priority_weight=1)
    return ExecuteTask(ti=ti, dag_rel_path="k8s_double_dag.py", token="not-a-real-jwt",
                       bundle_info=BundleInfo(name="dags-folder"), log_path=None)


def _wait_results(sched, results: queue.Queue, count: int, timeout: float = 30) -> list:
    """Drive the scheduler-side sync loop like the executor's heartbeat does; bounded."""
    got, deadline = [], time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        sched.sync()
        try:
            got.append(results.get(timeout=0.2))
        except queue.Empty:
            pass
    assert len(got) == count, f"only {got} after {timeout}s"
    return got


def test_real_executor_scheduler_and_watcher_against_the_double(executor_env):
    """AirflowKubernetesScheduler builds pods with PodGenerator.construct_pod, POSTs them, and its
    KubernetesJobWatcher process reports success/failure from the double's watch stream."""
    from kubernetes.client import models as k8s

    from airflow.providers.cncf.kubernetes.executors.kubernetes_executor_types import KubernetesJob
    from airflow.providers.cncf.kubernetes.executors.kubernetes_executor_utils import AirflowKubernetesScheduler
    from airflow.providers.cncf.kubernetes.kube_client import get_kube_client
    from airflow.providers.cncf.kubernetes.kube_config import KubeConfig
    from airflow.utils.state import TaskInstanceState

    double = executor_env
    results: queue.Queue = queue.Queue()
    sched = AirflowKubernetesScheduler(kube_config=KubeConfig(), result_queue=results,
                                       kube_client=get_kube_client(), scheduler_job_id="42")
    try:
        ok, bad, nopull = _workload("ok"), _workload("bad"), _workload("nopull")
        fail_override = k8s.V1Pod(spec=k8s.V1PodSpec(containers=[k8s.V1Container(
            name="base", env=[k8s.V1EnvVar(name="DOUBLE_EXIT_CODE", value="3")])]))
        pull_override = k8s.V1Pod(spec=k8s.V1PodSpec(containers=[k8s.V1Container(
            name="base", image="missing/image:1")]))
        sched.run_next(KubernetesJob(ok.ti.key, [ok], None, None))
        sched.run_next(KubernetesJob(bad.ti.key, [bad], fail_override, None))
        sched.run_next(KubernetesJob(nopull.ti.key, [nopull], pull_override, None))

        by_task = {r.key.task_id: r for r in _wait_results(sched, results, 3)}
        assert by_task["ok"].state is None  # "Succeeded": the executor reads the final state from the DB
        assert by_task["ok"].key == ok.ti.key and by_task["ok"].namespace == NAMESPACE
        assert by_task["bad"].state == TaskInstanceState.FAILED
        assert by_task["bad"].failure_details["exit_code"] == 3
        assert by_task["nopull"].state == TaskInstanceState.FAILED  # fatal Pending reason ErrImagePull

        # The POSTed pod is the executor's: labels, annotations, base container args, env from the template.
        posted = double.requests_matching("POST", "/api/v1/namespaces/airflow/pods")[0]["body"]
        labels = posted["metadata"]["labels"]
        assert labels["airflow-worker"] == "42" and labels["kubernetes_executor"] == "True"
        assert labels["dag_id"] == "k8s_double_dag" and labels["task_id"] == "ok"
        assert posted["metadata"]["annotations"]["run_id"] == "manual__2026-01-01"
        base = posted["spec"]["containers"][0]
        assert base["name"] == "base" and base["args"][:4] == [
            "python", "-m", "airflow.sdk.execution_time.execute_workload", "--json-string"]
        ok_pod = by_task["ok"].pod_name
        logs = read_log(sched.kube_client, ok_pod, follow=False, tail_lines=100)
        assert "module=airflow.sdk.execution_time.execute_workload flag=--json-string" in logs
        assert "ti k8s_double_dag ok" in logs and "k8s_pod=True" in logs

        watches = double.requests_matching("GET", "/api/v1/namespaces/airflow/pods")
        watch_q = [r["query"] for r in watches if r["query"].get("watch")]
        assert watch_q[0]["labelSelector"] == "airflow-worker=42,airflow_executor_done!=True"
        assert watch_q[0]["resourceVersion"] == "0" and watch_q[0]["timeoutSeconds"] == "3600"

        # What the executor does next: delete the succeeded pod, mark a kept failed pod done.
        sched.delete_pod(pod_name=ok_pod, namespace=NAMESPACE)
        sched.patch_pod_executor_done(pod_name=by_task["bad"].pod_name, namespace=NAMESPACE)
        assert double.get_pod(NAMESPACE, ok_pod) is None
        assert double.get_pod(NAMESPACE, by_task["bad"].pod_name)["metadata"]["labels"][
            "airflow_executor_done"] == "True"
        patch = double.requests_matching("PATCH")[0]
        assert patch["content_type"] == "application/strategic-merge-patch+json"
        # The done label takes the pod out of the watcher's selector: DELETED without deletionTimestamp
        # = "adopted" for the watcher, which frees the slot.
        # Deleting the succeeded pod yields MODIFIED (deletionTimestamp) + DELETED events, both still
        # "Succeeded": a real API server sends them too, and the executor tolerates the repeats.
        later = []
        deadline = time.monotonic() + WAIT
        while not any(r.state == "adopted" for r in later) and time.monotonic() < deadline:
            later += _wait_results(sched, results, 1)
        adopted = [r for r in later if r.state == "adopted"]
        assert [r.pod_name for r in adopted] == [by_task["bad"].pod_name]
        assert all(r.pod_name == ok_pod and r.state is None for r in later if r.state != "adopted")

        # 410 Gone: the watch stream drops, writes happen and etcd compacts before the watcher is back,
        # so it re-watches from a too-old resourceVersion. The ERROR event kills the watcher process;
        # sync()'s health check restarts it at resourceVersion "0" (synthetic ADDED for live pods).
        old_watcher = sched.kube_watchers[NAMESPACE]
        double.watch_gate.clear()
        double.drop_watches()
        again = _workload("after_410")
        sched.run_next(KubernetesJob(again.ti.key, [again], None, None))
        double.compact()
        double.watch_gate.set()
        old_watcher.join(timeout=WAIT)
        assert not old_watcher.is_alive()
        assert any(r.get("watch_error") == 410 for r in double.requests)
        later, deadline = [], time.monotonic() + 30
        while not any(r.key.task_id == "after_410" for r in later) and time.monotonic() < deadline:
            later += _wait_results(sched, results, 1)
        assert [r.state for r in later if r.key.task_id == "after_410"] == [None]
        assert sched.kube_watchers[NAMESPACE] is not old_watcher
        rewatch = [r["query"] for r in double.requests if r["query"].get("watch")][-1]
        assert rewatch["resourceVersion"] == "0"
    finally:
        sched.terminate()


def test_real_executor_async_pod_creation_path(executor_env, monkeypatch):
    """[kubernetes_executor] async_pod_creation=True creates pods with kubernetes_asyncio (aiohttp)."""
    from airflow.providers.cncf.kubernetes.executors.kubernetes_executor_types import KubernetesJob
    from airflow.providers.cncf.kubernetes.executors.kubernetes_executor_utils import AirflowKubernetesScheduler
    from airflow.providers.cncf.kubernetes.kube_client import get_kube_client
    from airflow.providers.cncf.kubernetes.kube_config import KubeConfig

    monkeypatch.setenv("AIRFLOW__KUBERNETES_EXECUTOR__ASYNC_POD_CREATION", "True")
    results: queue.Queue = queue.Queue()
    sched = AirflowKubernetesScheduler(kube_config=KubeConfig(), result_queue=results,
                                       kube_client=get_kube_client(), scheduler_job_id="43")
    try:
        jobs = [KubernetesJob(w.ti.key, [w], None, None) for w in (_workload("a1"), _workload("a2"))]
        assert [err for _, err in sched.run_next_batch(jobs)] == [None, None]
        got = _wait_results(sched, results, 2)
        assert sorted(r.key.task_id for r in got) == ["a1", "a2"] and all(r.state is None for r in got)
    finally:
        sched.terminate()


def test_executor_metadata_listing_for_adoption(executor_env):
    """KubernetesExecutor._list_pods (adoption / cleanup) through DynamicClient + PartialObjectMetadataList."""
    from airflow.providers.cncf.kubernetes.executors.kubernetes_executor import KubernetesExecutor
    from airflow.providers.cncf.kubernetes.kube_client import get_kube_client

    double = executor_env
    core = get_kube_client()
    for name, worker in (("m1", "42"), ("m2", "99")):
        core.create_namespaced_pod(NAMESPACE, pod_body(name, ["true"], labels={
            "airflow-worker": worker, "kubernetes_executor": "True"}))
    double.wait_for(lambda d: all(p["status"]["phase"] == "Succeeded" for p in d.pods.values()), WAIT)
    executor = KubernetesExecutor()
    executor.kube_client = core
    pods = executor._list_pods({"field_selector": "status.phase=Succeeded",
                                "label_selector": "kubernetes_executor=True,airflow-worker notin (42),"
                                                  "airflow_executor_done!=True"})
    assert [p.metadata.name for p in pods] == ["m2"]
    meta_req = double.requests_matching("GET", "/namespaces/airflow/pods")[-1]
    assert "PartialObjectMetadataList" in meta_req["accept"]
    assert os.environ["AIRFLOW__KUBERNETES_EXECUTOR__NAMESPACE"] == NAMESPACE
