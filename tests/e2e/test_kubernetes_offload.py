"""The KubernetesExecutor beside Celery on the lab, against the Kubernetes API test double.

lab/k8s_double.yml runs the double (tests/k8s_double/server.py) on lab-sched1; its local kubelet runs
each pod as a process of lab-sched1 (user airflow, that host's Airflow venv and airflow.cfg standing in
for the pod image). The DAG kubernetes_smoke is triggered through the REST API: its Celery task must
run on a default-pool worker, its Kubernetes tasks on lab-sched1 as pods the scheduler built from the
pod template (checked in the double's request log), a run with {"fail": true} must retry the
failing Kubernetes task once and fail, and a running pod's log must reach the api-server through the
Kubernetes API. Nothing that site.yml manages is changed here.
See docs/kubernetes.md ("lab executor test") for what this proves and what it does not.
"""

from __future__ import annotations

import json

import pytest
import yaml
from conftest import REPO, lab_exec
from lab_airflow import short_host, wait_for
from lab_inventory import pool_hosts

DAG = "kubernetes_smoke"
CELERY_TASK = "on_celery"
K8S_TASKS = ("on_kubernetes_queue", "on_kubernetes_executor", "maybe_fail")
RESOURCES_TASK = "on_kubernetes_queue"
RESOURCES = {"requests": {"cpu": "500m", "memory": "384Mi"}, "limits": {"memory": "384Mi"}}  # dags/kubernetes_smoke.py

LAB_VARS = yaml.safe_load((REPO / "inventories/lab/group_vars/all/lab.yml").read_text())
LAB_AIRFLOW_VARS = yaml.safe_load((REPO / "inventories/lab/group_vars/airflow.yml").read_text())
DOUBLE_HOST = LAB_VARS["lab_k8s_double_host"]
NAMESPACE = LAB_VARS["cluster_kubernetes_namespace"]
DOUBLE_URL = f"http://{LAB_VARS['lab_k8s_double_address']}:{LAB_VARS['lab_k8s_double_port']}"
POD_TEMPLATE = "/etc/airflow/pod_template.yaml"  # cluster_kubernetes_pod_template_path (roles/cluster default)
PODS_PATH = f"/api/v1/namespaces/{NAMESPACE}/pods"

# Runs in the double's container: python3 is there (Ansible needs it), the token file is root-only.
_DOUBLE_GET = r"""
import json, sys, urllib.error, urllib.request
token = open(sys.argv[1]).read().strip()
request = urllib.request.Request(sys.argv[2], headers={"Authorization": "Bearer " + token})
try:
    with urllib.request.urlopen(request, timeout=60) as answer:
        print(json.dumps({"status": answer.status, "body": json.load(answer)}))
except urllib.error.HTTPError as err:
    print(json.dumps({"status": err.code, "body": json.load(err)}))
"""


def double_get(path: str) -> tuple[int, dict]:
    out = lab_exec(DOUBLE_HOST, "python3", "-c", _DOUBLE_GET, LAB_VARS["lab_k8s_double_token_file"], DOUBLE_URL + path)
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    return answer["status"], answer["body"]


def double_log() -> dict:
    status, body = double_get("/_double/requests")
    assert status == 200, body
    return body


def pods_created(log: dict, run_id: str) -> list[dict]:
    """POSTed pods of one DAG run (the executor annotates each pod with the exact run_id)."""
    return [r for r in log["requests"]
            if r["method"] == "POST" and r["path"] == PODS_PATH
            and ((r["body"] or {}).get("metadata", {}).get("annotations") or {}).get("run_id") == run_id]


@pytest.fixture(scope="module")
def ok_run(api):
    run_id, state = api.run_to_end(DAG)
    return run_id, state, {ti["task_id"]: ti for ti in api.task_instances(DAG, run_id)}


@pytest.fixture(scope="module")
def failed_run(api, ok_run):
    run_id, state = api.run_to_end(DAG, {"fail": True})
    return run_id, state, {ti["task_id"]: ti for ti in api.task_instances(DAG, run_id)}


@pytest.fixture(scope="module")
def pod_template(first_converge) -> dict:
    out = lab_exec(DOUBLE_HOST, "cat", POD_TEMPLATE)
    assert out.returncode == 0, out.stderr
    return yaml.safe_load(out.stdout)


def test_the_double_runs_on_its_host(first_converge):
    assert lab_exec(DOUBLE_HOST, "systemctl", "is-active", "k8s-api-double").stdout.strip() == "active"
    status, body = double_get(PODS_PATH)
    assert status == 200 and body["kind"] == "PodList", body


def test_run_succeeds_and_each_task_runs_where_it_is_routed(ok_run):
    run_id, state, tis = ok_run
    assert state == "success", tis
    assert set(tis) == {CELERY_TASK, *K8S_TASKS}
    assert all(ti["state"] == "success" for ti in tis.values()), tis
    celery = tis[CELERY_TASK]
    assert celery["executor"] is None and celery["queue"] == "default"
    assert short_host(celery) in pool_hosts()["default"], celery["hostname"]
    for task_id in K8S_TASKS:
        ti = tis[task_id]
        assert ti["executor"] == "KubernetesExecutor", ti
        # The double's kubelet runs pods as processes of its own host.
        assert short_host(ti) == DOUBLE_HOST, f"{task_id} ran on {ti['hostname']}, not in a 'pod' on {DOUBLE_HOST}"


def test_pods_are_built_from_the_template_labels_and_pod_override(ok_run, pod_template):
    run_id, _, tis = ok_run
    log = double_log()
    assert log["forbidden"] == [], "the executor asked for something outside its namespace"
    posts = pods_created(log, run_id)
    by_task = {p["body"]["metadata"]["labels"]["task_id"]: p for p in posts}
    assert sorted(by_task) == sorted(K8S_TASKS) and len(posts) == len(K8S_TASKS), [p["body"]["metadata"] for p in posts]
    template_spec = pod_template["spec"]
    template_base = template_spec["containers"][0]
    assert template_base["image"] == LAB_AIRFLOW_VARS["k8s_offload_pod_image"]
    for task_id, post in by_task.items():
        assert post["status"] == 201, post
        pod = post["body"]
        meta, spec = pod["metadata"], pod["spec"]
        assert meta["namespace"] == NAMESPACE
        labels = meta["labels"]
        assert labels["dag_id"] == DAG and labels["try_number"] == "1" and labels["kubernetes_executor"] == "True"
        assert labels["airflow-worker"] and labels["run_id"]  # scheduler job id; run_id made label-safe
        assert labels["app.kubernetes.io/name"] == "airflow-task"  # from the template
        assert meta["annotations"]["dag_id"] == DAG and meta["annotations"]["task_id"] == task_id
        assert spec["serviceAccountName"] == template_spec["serviceAccountName"]
        assert spec["securityContext"]["runAsUser"] == template_spec["securityContext"]["runAsUser"]
        base = spec["containers"][0]
        assert base["name"] == "base" and base["image"] == template_base["image"]
        assert base["args"][:4] == ["python", "-m", "airflow.sdk.execution_time.execute_workload", "--json-string"]
        env = {e["name"]: e.get("value") for e in base["env"]}
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == LAB_AIRFLOW_VARS["k8s_offload_execution_api_url"]
        assert env["AIRFLOW_IS_K8S_EXECUTOR_POD"] == "True"
        expected = RESOURCES if task_id == RESOURCES_TASK else template_base["resources"]
        assert base["resources"] == expected, (task_id, base["resources"])


def test_succeeded_pods_are_deleted(ok_run):
    run_id, _, _ = ok_run
    names = [p["body"]["metadata"]["name"] for p in pods_created(double_log(), run_id)]
    assert names

    def deleted():
        paths = {r["path"] for r in double_log()["requests"] if r["method"] == "DELETE" and r["status"] == 200}
        return all(f"{PODS_PATH}/{name}" in paths for name in names)

    assert wait_for(deleted, 120), f"no DELETE for some of {names}"
    for name in names:
        assert wait_for(lambda name=name: double_get(f"{PODS_PATH}/{name}")[0] == 404, 60), f"{name} still exists"


def test_kubernetes_tasks_never_reach_a_celery_worker(ok_run):
    run_id, _, _ = ok_run
    journals = {}
    for host in sorted(set().union(*pool_hosts().values())):
        out = lab_exec(host, "journalctl", "-u", "airflow-celery-worker", "--no-pager", "-o", "cat")
        assert out.returncode == 0, (host, out.stderr)
        journals[host] = out.stdout
    for host, journal in journals.items():
        for task_id in K8S_TASKS:
            assert task_id not in journal, f"{task_id} shows up in {host}'s Celery worker journal"
    # Control: the Celery task of the same run is in a default-pool worker's journal (the executing
    # worker logs the workload, with its task_id and run_id), so the search looks at the right place.
    assert any(CELERY_TASK in journals[h] and run_id in journals[h] for h in pool_hosts()["default"]), \
        "the Celery task's workload is in no default-pool worker journal: is the journal the right place?"


def test_failing_kubernetes_task_retries_once_then_the_run_fails(failed_run):
    run_id, state, tis = failed_run
    assert state == "failed", tis
    failing = tis["maybe_fail"]
    assert failing["state"] == "failed" and failing["try_number"] == 2, failing
    assert short_host(failing) == DOUBLE_HOST
    assert all(tis[t]["state"] == "success" for t in tis if t != "maybe_fail"), tis
    tries = sorted(p["body"]["metadata"]["labels"]["try_number"] for p in pods_created(double_log(), run_id)
                   if p["body"]["metadata"]["labels"]["task_id"] == "maybe_fail")
    assert tries == ["1", "2"], "one pod per try of maybe_fail"


def test_api_server_reads_a_running_pods_log_through_the_kubernetes_api(api, failed_run):
    """While a Kubernetes task runs, its log comes from the pod (pods/log), read by the api-server."""
    run_id = api.trigger(DAG, {"seconds": 60})

    def running_ti():
        return [ti for ti in api.task_instances(DAG, run_id)
                if ti["task_id"] == "on_kubernetes_executor" and ti["state"] == "running"]

    running = wait_for(running_ti, 300)
    assert running, "on_kubernetes_executor never started"
    def pod_log_with_the_tasks_output():
        text = api.log(running[0])
        return text if "on_kubernetes_executor ran on" in text else ""

    content = wait_for(pod_log_with_the_tasks_output, 50) or api.log(running[0])
    assert "through kube API" in content, content[-3000:]
    assert "Reading from k8s pod logs failed" not in content
    api_hosts = yaml.safe_load((REPO / "inventories/lab/hosts.yml").read_text())["all"]["children"]["airflow"][
        "children"]["airflow_api"]["hosts"]
    api_addresses = {host["cluster_address"] for host in api_hosts.values()}
    log_reads = [r for r in double_log()["requests"]
                 if r["method"] == "GET" and r["path"].startswith(PODS_PATH + "/") and r["path"].endswith("/log")]
    assert api_addresses & {r["client"] for r in log_reads}, log_reads
    assert api.wait_finished(DAG, run_id) == "success"
