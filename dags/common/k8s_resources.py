"""Per-task Kubernetes resources for tasks run by the KubernetesExecutor.

DAG authors write::

    @task(queue=KUBERNETES_QUEUE, executor_config=pod_resources(cpu="2", memory="4Gi", gpu=1))

and get ``{"pod_override": V1Pod(...)}``. Airflow merges the override into the pod template's first
container (by position; the override's fields win, its name too). The executor reads logs and
status of the container named ``base``, so the override must keep that name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from kubernetes.client import models as k8s
from kubernetes.utils import parse_quantity

BASE_CONTAINER = "base"
GPU_RESOURCE = "nvidia.com/gpu"

# Label keys/values (node selectors): optional DNS prefix, name of up to 63 characters.
_LABEL_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_LABEL_KEY = re.compile(rf"^([a-z0-9]([-a-z0-9.]{{0,251}}[a-z0-9])?/)?{_LABEL_NAME}$")
_LABEL_VALUE = re.compile(rf"^({_LABEL_NAME})?$")


def _quantity(name: str, value: str | None):
    """Parse a Kubernetes quantity ("500m", "4Gi"); strings only, so 0.5 vs "0.5" is never ambiguous."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a Kubernetes quantity string such as '2' or '4Gi', got {value!r}")
    try:
        parsed = parse_quantity(value)
    except ValueError as err:
        raise ValueError(f"{name}={value!r} is not a Kubernetes quantity") from err
    if parsed <= 0:
        raise ValueError(f"{name}={value!r} must be positive")
    return parsed


def pod_resources(
    *,
    cpu: str | None = None,
    memory: str | None = None,
    cpu_limit: str | None = None,
    memory_limit: str | None = None,
    gpu: int = 0,
    node_selector: Mapping[str, str] | None = None,
) -> dict[str, k8s.V1Pod]:
    """Return an ``executor_config`` asking for resources for the task container ``base``.

    cpu, memory: requests. memory_limit defaults to the memory request (a pod that exceeds its
    request is the first one evicted; an explicit limit makes the failure an OOM of this task
    instead). cpu_limit defaults to none (CPU throttles rather than kills).
    gpu: number of NVIDIA GPUs (a limit, as Kubernetes requires for extended resources).
    node_selector: node labels the pod must land on, e.g. {"node.kubernetes.io/instance-type": "gpu"}.
    """
    parsed = {
        "cpu": _quantity("cpu", cpu),
        "memory": _quantity("memory", memory),
        "cpu_limit": _quantity("cpu_limit", cpu_limit),
        "memory_limit": _quantity("memory_limit", memory_limit),
    }
    if isinstance(gpu, bool) or not isinstance(gpu, int) or gpu < 0:
        raise ValueError(f"gpu must be a non-negative integer, got {gpu!r}")
    for request, limit in (("cpu", "cpu_limit"), ("memory", "memory_limit")):
        if parsed[request] is not None and parsed[limit] is not None and parsed[limit] < parsed[request]:
            raise ValueError(f"{limit} must not be lower than {request}")
    if node_selector is not None:
        if not isinstance(node_selector, Mapping):
            raise TypeError("node_selector must be a mapping of node label to value")
        for key, value in node_selector.items():
            if not isinstance(key, str) or not _LABEL_KEY.match(key):
                raise ValueError(f"node_selector key {key!r} is not a valid label key")
            if not isinstance(value, str) or not _LABEL_VALUE.match(value):
                raise ValueError(f"node_selector value {value!r} for {key!r} is not a valid label value")
    if not any(v is not None for v in parsed.values()) and not gpu and not node_selector:
        raise ValueError("pod_resources() without arguments changes nothing; drop executor_config instead")

    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    limits = {k: v for k, v in (("cpu", cpu_limit), ("memory", memory_limit or memory)) if v is not None}
    if gpu:
        limits[GPU_RESOURCE] = str(gpu)

    return {
        "pod_override": k8s.V1Pod(
            spec=k8s.V1PodSpec(
                containers=[
                    k8s.V1Container(
                        name=BASE_CONTAINER,
                        resources=k8s.V1ResourceRequirements(requests=requests or None, limits=limits or None),
                    )
                ],
                node_selector=dict(node_selector) if node_selector else None,
            )
        )
    }
