"""The k8s_offload role (playbooks/k8s_offload.yml) applied with kubernetes.core against the double.

The double stores the Namespace, ServiceAccounts, Secrets and RBAC objects it is sent (no
controllers, no validation beyond kind and name): this proves the role's apply flow, idempotence and
check mode, not what a real API server would accept (tests/unit validates the manifests against the
OpenAPI schema) nor that the RBAC grants what the executor needs (a real cluster's job, see
docs/kubernetes.md).
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
import tempfile
from pathlib import Path

import pytest
from server import KubeApiDouble

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = REPO / ".venv/bin/ansible-playbook"
NAMESPACE = "airflow-tasks"  # cluster_kubernetes_namespace (roles/cluster default)
RBAC = "rbac.authorization.k8s.io"
CHANGED = re.compile(r"^localhost\s+: ok=\d+\s+changed=(\d+)\s+unreachable=0\s+failed=0", re.MULTILINE)


@pytest.fixture
def cluster():
    with KubeApiDouble(namespaces=[NAMESPACE], cluster_scope=True, user="kubernetes-admin") as double:
        kubeconfig = Path(tempfile.mkdtemp(prefix="kubeconfig-")) / "config"
        double.write_kubeconfig(str(kubeconfig))
        yield double, kubeconfig


def apply(kubeconfig: Path, *args: str) -> int:
    """Run playbooks/k8s_offload.yml; return the changed count (fails the test on a failed run)."""
    if not ANSIBLE_PLAYBOOK.exists():
        pytest.skip("controller venv missing: run make venv")
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", PATH=f"{REPO / '.venv/bin'}:{os.environ['PATH']}")
    env.pop("ANSIBLE_VAULT_PASSWORD_FILE", None)
    proc = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), "-i", "localhost,", "playbooks/k8s_offload.yml",
         "-e", f"k8s_offload_kubeconfig={kubeconfig}",
         "-e", "k8s_offload_registry_username=robot", "-e", "k8s_offload_registry_password=not-a-real-secret",
         "-e", "ansible_python_interpreter=" + str(REPO / ".venv/bin/python"), *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )
    found = CHANGED.search(proc.stdout)
    assert proc.returncode == 0 and found, proc.stdout[-5000:] + proc.stderr[-3000:]
    return int(found.group(1))


def stored(double: KubeApiDouble) -> dict[tuple[str, str], set]:
    with double.lock:
        return {key: set(objects) for key, objects in double.objects.items() if objects}


def test_check_mode_on_an_empty_cluster_creates_nothing(cluster):
    double, kubeconfig = cluster
    assert apply(kubeconfig, "--check", "--diff") > 0
    assert stored(double) == {}


def test_apply_creates_the_objects_then_changes_nothing(cluster):
    double, kubeconfig = cluster
    assert apply(kubeconfig) > 0
    objects = stored(double)
    assert objects[("", "namespaces")] == {(None, NAMESPACE)}
    assert {name for _, name in objects[("", "serviceaccounts")]} == {"airflow-executor", "airflow-worker", "spark-driver"}
    assert {name for _, name in objects[("", "secrets")]} >= {"airflow-registry"}
    assert {ns for ns, _ in objects[(RBAC, "roles")] | objects[(RBAC, "rolebindings")]} == {NAMESPACE}
    with double.lock:
        executor_role = double.objects[(RBAC, "roles")][(NAMESPACE, "airflow-executor")]
    pod_rules = [rule for rule in executor_role["rules"] if "pods" in rule["resources"]]
    assert set(pod_rules[0]["verbs"]) >= {"create", "get", "list", "watch", "patch", "delete"}

    with double.lock:
        before = copy.deepcopy(double.objects)
    assert apply(kubeconfig) == 0
    assert apply(kubeconfig, "--check", "--diff") == 0
    # Nothing stored changed, not even a resourceVersion: no write took effect.
    with double.lock:
        assert double.objects == before
