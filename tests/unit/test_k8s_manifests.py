"""Every Kubernetes manifest of the project, rendered and validated offline against the schemas.

- roles/k8s_offload/templates/*.j2 (namespace, RBAC, pull secret, pod template), rendered with the
  role defaults plus throwaway values for the required variables, with Ansible's Jinja settings;
- dags/spark, dags/flink (Jinja-rendered by Airflow at run time) and dags/dask manifests;
- every executor_config pod_override in the DAGs, alone and merged into the pod template the way the
  KubernetesExecutor merges them.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import jinja2
import pytest
import yaml
from conftest import DAGS, REPO
from k8s_schema import K8S_VERSIONS, crd_validator, dask_cluster_schema, subset_crd_schema, validate_core
from kubernetes.client import ApiClient

ROLE = REPO / "roles" / "k8s_offload"
TEST_VALUES = {
    "ansible_managed": "Ansible managed",
    "k8s_offload_registry_username": "robot-test",
    "k8s_offload_registry_password": "throwaway-test-password",
    "k8s_offload_pod_image": "registry.example.com/airflow/airflow-pod:3.3.2-1",
    "k8s_offload_execution_api_url": "https://airflow-api.example.com:8080/execution/",
}


def render_role_template(name: str, **overrides) -> list[dict]:
    """Render like Ansible does (trim_blocks), with the role defaults and those of its dependency
    (roles/cluster: the namespace, the pod template path); b64encode/to_json as in Ansible."""
    cluster = yaml.safe_load((ROLE.parent / "cluster" / "defaults" / "main.yml").read_text())
    variables = cluster | yaml.safe_load((ROLE / "defaults" / "main.yml").read_text()) | TEST_VALUES | overrides
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(ROLE / "templates"), trim_blocks=True, undefined=jinja2.StrictUndefined
    )
    env.filters["b64encode"] = lambda s: base64.b64encode(str(s).encode()).decode()
    env.filters["to_json"] = json.dumps
    text = env.get_template(name).render(**variables)
    return [doc for doc in yaml.safe_load_all(text) if doc]


ROLE_TEMPLATES = sorted(p.name for p in (ROLE / "templates").glob("*.yaml.j2"))


def test_role_templates_found():
    assert {"pod_template.yaml.j2", "executor-rbac.yaml.j2", "worker-rbac.yaml.j2"} <= set(ROLE_TEMPLATES)


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("template", ROLE_TEMPLATES)
def test_role_templates_are_valid_kubernetes(template, version):
    docs = render_role_template(template)
    assert docs
    for doc in docs:
        validate_core(doc, version)


@pytest.mark.parametrize("engines", [[], ["spark"], ["flink"], ["dask"], ["spark", "flink", "dask"]])
def test_worker_rbac_for_any_engine_set(engines):
    for doc in render_role_template("worker-rbac.yaml.j2", k8s_offload_engines=engines):
        validate_core(doc, K8S_VERSIONS[-1])


def rules_of(docs, kind):
    (role,) = [d for d in docs if d["kind"] == kind]
    return {(group, resource): set(rule["verbs"]) for rule in role["rules"] for group in rule["apiGroups"] for resource in rule["resources"]}


def test_executor_role_is_least_privilege():
    rules = rules_of(render_role_template("executor-rbac.yaml.j2"), "Role")
    assert rules == {
        ("", "pods"): {"create", "get", "list", "watch", "patch", "delete"},
        ("", "pods/log"): {"get"},
        ("", "events"): {"get", "list", "watch"},
    }


def test_worker_role_grants_engine_resources_only_when_enabled():
    everything = rules_of(render_role_template("worker-rbac.yaml.j2"), "Role")
    assert ("sparkoperator.k8s.io", "sparkapplications") in everything
    assert ("flink.apache.org", "flinkdeployments") in everything
    assert ("kubernetes.dask.org", "daskclusters") in everything
    none = rules_of(render_role_template("worker-rbac.yaml.j2", k8s_offload_engines=[]), "Role")
    assert {group for group, _ in none} == {""}
    assert none[("", "pods")] == {"get", "list", "watch"}
    no_flink = render_role_template("worker-rbac.yaml.j2", k8s_offload_engines=["spark"])
    assert not [d for d in no_flink if d["kind"].startswith("Cluster")]


def test_no_wildcards_anywhere():
    for template in ROLE_TEMPLATES:
        for doc in render_role_template(template):
            for rule in doc.get("rules", []):
                assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"], template


def test_pull_secret_holds_the_credentials():
    (secret,) = render_role_template("image-pull-secret.yaml.j2")
    config = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))
    auth = config["auths"]["registry.example.com"]
    assert base64.b64decode(auth["auth"]).decode() == "robot-test:throwaway-test-password"


def test_required_secrets_have_no_default():
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    for name in ("k8s_offload_registry_username", "k8s_offload_registry_password", "k8s_offload_pod_image", "k8s_offload_execution_api_url"):
        assert name not in defaults
    with pytest.raises(jinja2.UndefinedError):
        render_role_template("image-pull-secret.yaml.j2", k8s_offload_registry_password=jinja2.StrictUndefined())


@pytest.fixture(scope="module")
def pod_template() -> dict:
    (pod,) = render_role_template("pod_template.yaml.j2")
    return pod


def test_pod_template_shape(pod_template):
    (base,) = pod_template["spec"]["containers"]
    assert base["name"] == "base"
    assert pod_template["spec"]["restartPolicy"] == "Never"
    assert pod_template["spec"]["serviceAccountName"] == "airflow-worker"
    env = {e["name"]: e["value"] for e in base["env"]}
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == TEST_VALUES["k8s_offload_execution_api_url"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor,KubernetesExecutor"


def test_pod_template_loads_in_airflow(tmp_path, pod_template):
    """The executor reads the file with PodGenerator; it must come back with its `base` container."""
    from airflow.providers.cncf.kubernetes.pod_generator import PodGenerator

    path = tmp_path / "pod_template.yaml"
    path.write_text(yaml.safe_dump(pod_template))
    pod = PodGenerator.deserialize_model_file(str(path))
    assert [c.name for c in pod.spec.containers] == ["base"]


# --- manifests in dags/ -------------------------------------------------------------------------------

def render_dag_manifest(relative: str) -> dict:
    """Render like Airflow renders an operator's template file (Jinja with the run's context)."""
    text = (DAGS / relative).read_text()
    rendered = jinja2.Template(text, undefined=jinja2.StrictUndefined).render(ds="2025-01-31", ds_nodash="20250131")
    return yaml.safe_load(rendered)


def test_spark_application_manifest():
    body = render_dag_manifest("spark/clickstream_etl.yaml")
    validator = crd_validator(subset_crd_schema("sparkapplication-v1beta2.yaml"))
    errors = [e.message for e in validator.iter_errors(body)]
    assert not errors
    assert "2025-01-31" in " ".join(body["spec"]["arguments"])


def test_spark_subset_schema_catches_mistakes():
    validator = crd_validator(subset_crd_schema("sparkapplication-v1beta2.yaml"))
    body = render_dag_manifest("spark/clickstream_etl.yaml")
    body["spec"]["mainApplicationfile"] = body["spec"].pop("mainApplicationFile")  # typo
    body["spec"]["executor"]["instances"] = "4"
    body["spec"]["mode"] = "in-cluster-client"  # not an upstream mode
    messages = sorted(e.message for e in validator.iter_errors(body))
    assert len(messages) == 4, messages
    assert any("'mainApplicationFile' is a required property" in m for m in messages)
    assert any("'mainApplicationfile' was unexpected" in m for m in messages)


def test_flink_deployment_manifest():
    body = render_dag_manifest("flink/clickstream.yaml")
    validator = crd_validator(subset_crd_schema("flinkdeployment-v1beta1.yaml"))
    assert not [e.message for e in validator.iter_errors(body)]
    body["spec"]["job"]["upgradeMode"] = "rolling"
    assert list(validator.iter_errors(body))


def test_dask_cluster_manifest():
    body = render_dag_manifest("dask/feature_cluster.yaml")
    assert (body["apiVersion"], body["kind"]) == ("kubernetes.dask.org/v1", "DaskCluster")
    validator = crd_validator(dask_cluster_schema())
    assert not [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(body)]
    del body["spec"]["scheduler"]["service"]
    assert list(validator.iter_errors(body))


def locked_version(package: str) -> str:
    lock = (REPO / "roles" / "airflow" / "files" / "requirements.lock").read_text()
    return re.search(rf"^{package}==(\S+)$", lock, re.M).group(1)


def test_dask_image_matches_the_client_version():
    """Client (Airflow pod) and scheduler/workers (Dask image) must run the same dask/distributed."""
    body = render_dag_manifest("dask/feature_cluster.yaml")
    version = locked_version("distributed")
    assert locked_version("dask") == version
    for part in ("scheduler", "worker"):
        for c in body["spec"][part]["spec"]["containers"]:
            assert c["image"].split(":")[1].startswith(version), c["image"]


def test_engine_manifests_use_the_role_names():
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    spark = render_dag_manifest("spark/clickstream_etl.yaml")["spec"]
    assert spark["driver"]["serviceAccount"] == defaults["k8s_offload_spark_driver_service_account"]
    assert spark["imagePullSecrets"] == [defaults["k8s_offload_image_pull_secret_name"]]
    from common.settings import K8S_NAMESPACE

    cluster = yaml.safe_load((ROLE.parent / "cluster" / "defaults" / "main.yml").read_text())
    assert K8S_NAMESPACE == cluster["cluster_kubernetes_namespace"]


# --- executor_config pod_overrides of the DAGs ----------------------------------------------------------

def pod_overrides(dagbag):
    return [
        (f"{dag.dag_id}.{task.task_id}", task.executor_config["pod_override"])
        for dag in dagbag.dags.values()
        for task in dag.tasks
        if task.executor_config
    ]


def test_dags_have_pod_overrides(dagbag):
    assert len(pod_overrides(dagbag)) >= 2


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_pod_overrides_merged_into_the_template(dagbag, pod_template, version):
    from airflow.providers.cncf.kubernetes.pod_generator import PodGenerator

    base = PodGenerator.deserialize_model_dict(pod_template)
    for name, override in pod_overrides(dagbag):
        alone = ApiClient().sanitize_for_serialization(override)
        validate_core({"apiVersion": "v1", "kind": "Pod", **alone}, version)
        merged = PodGenerator.reconcile_pods(base, override)
        (container,) = merged.spec.containers
        # Airflow merges containers by position; a differently named override would rename the task
        # container and the executor's log reads (container=base) would fail.
        assert container.name == "base", name
        assert container.image == TEST_VALUES["k8s_offload_pod_image"], name
        assert container.resources.requests == override.spec.containers[0].resources.requests, name
        validate_core(ApiClient().sanitize_for_serialization(merged), version)
