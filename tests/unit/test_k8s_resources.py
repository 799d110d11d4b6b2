"""pod_resources(): what DAG authors use to size KubernetesExecutor pods."""

from __future__ import annotations

import pytest
from common.k8s_resources import BASE_CONTAINER, GPU_RESOURCE, pod_resources
from k8s_schema import K8S_VERSIONS, validate_core
from kubernetes.client import ApiClient
from kubernetes.client import models as k8s


def container(config) -> k8s.V1Container:
    (only,) = config["pod_override"].spec.containers
    return only


def test_returns_pod_override_for_the_base_container():
    config = pod_resources(cpu="2", memory="4Gi")
    assert set(config) == {"pod_override"}
    assert isinstance(config["pod_override"], k8s.V1Pod)
    assert container(config).name == BASE_CONTAINER == "base"


def test_requests_and_default_memory_limit():
    resources = container(pod_resources(cpu="2", memory="4Gi")).resources
    assert resources.requests == {"cpu": "2", "memory": "4Gi"}
    # Memory limit defaults to the request; no CPU limit unless asked (throttling, not OOM kills).
    assert resources.limits == {"memory": "4Gi"}


def test_explicit_limits():
    resources = container(pod_resources(cpu="500m", cpu_limit="1", memory="1Gi", memory_limit="2Gi")).resources
    assert resources.limits == {"cpu": "1", "memory": "2Gi"}


def test_gpu_becomes_an_nvidia_limit():
    config = pod_resources(memory="8Gi", gpu=1)
    assert container(config).resources.limits[GPU_RESOURCE] == "1"
    assert GPU_RESOURCE == "nvidia.com/gpu"
    assert GPU_RESOURCE not in (container(pod_resources(memory="8Gi")).resources.limits or {})


def test_node_selector():
    selector = {"node.kubernetes.io/instance-type": "g5.xlarge", "pool": "gpu"}
    config = pod_resources(cpu="1", node_selector=selector)
    assert config["pod_override"].spec.node_selector == selector


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({}, ValueError),
        ({"cpu": 2}, TypeError),  # numbers are ambiguous ("0.5" vs 0.5 vs "500m"): strings only
        ({"memory": "4GB"}, ValueError),  # not a Kubernetes quantity (4G or 4Gi)
        ({"cpu": "-1"}, ValueError),
        ({"cpu": "0"}, ValueError),
        ({"memory": "4Gi", "memory_limit": "2Gi"}, ValueError),
        ({"cpu": "2", "cpu_limit": "1"}, ValueError),
        ({"cpu": "1", "gpu": -1}, ValueError),
        ({"cpu": "1", "gpu": 1.5}, ValueError),
        ({"cpu": "1", "gpu": True}, ValueError),
        ({"cpu": "1", "node_selector": ["pool=gpu"]}, TypeError),
        ({"cpu": "1", "node_selector": {"bad key!": "x"}}, ValueError),
        ({"cpu": "1", "node_selector": {"pool": "not a label value"}}, ValueError),
        ({"cpu": "1", "node_selector": {"pool": 1}}, ValueError),
    ],
)
def test_rejects_bad_input(kwargs, error):
    with pytest.raises(error):
        pod_resources(**kwargs)


def test_keyword_only():
    with pytest.raises(TypeError):
        pod_resources("2", "4Gi")  # type: ignore[misc]


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_serialized_override_is_a_valid_pod(version):
    pod = pod_resources(cpu="2", memory="4Gi", gpu=1, node_selector={"pool": "gpu"})["pod_override"]
    body = ApiClient().sanitize_for_serialization(pod)
    validate_core({"apiVersion": "v1", "kind": "Pod", **body}, version)
