"""Offline validation of Kubernetes objects: core kinds with kubernetes-validate's bundled OpenAPI
schemas (strict: unknown fields fail), custom resources with CRD schemas resolved against them."""

from __future__ import annotations

import functools
import importlib.util
import json
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml
from referencing import Registry, Resource

# Oldest and newest Kubernetes minor versions the manifests must be valid for.
K8S_VERSIONS = ("1.29", "1.37")
SCHEMAS = Path(__file__).parent / "schemas"


def validate_core(obj: dict, version: str) -> None:
    """Raise kubernetes_validate.ValidationError unless `obj` is valid for that Kubernetes version."""
    kubernetes_validate.validate(obj, version, strict=True)


@functools.cache
def _core_definitions(version: str) -> Resource:
    root = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / f"v{version}.0-local-strict"
    return Resource.from_contents(json.loads((root / "_definitions.json").read_text()))


def crd_validator(schema: dict, version: str = K8S_VERSIONS[-1]) -> jsonschema.Draft202012Validator:
    """Validator for a custom resource schema whose Kubernetes types point at /api/_definitions.json."""
    registry = _core_definitions(version) @ Registry()
    # Under kubernetes.io/api/ the references "/api/_definitions.json#..." reach the core definitions.
    schema = {"$id": "https://kubernetes.io/api/custom-resource", **schema}
    return jsonschema.Draft202012Validator(schema, registry=registry)


@functools.cache
def subset_crd_schema(name: str) -> dict:
    return yaml.safe_load((SCHEMAS / name).read_text())


@functools.cache
def dask_cluster_schema() -> dict:
    """The DaskCluster schema shipped inside dask-kubernetes (the installed, locked version), with its
    python:// references pointed at its own definitions and at the bundled core schemas."""
    # Located, not imported: importing the operator package pulls in kopf and kr8s (seconds).
    package = Path(importlib.util.find_spec("dask_kubernetes").submodule_search_locations[0])
    templates = package / "operator" / "customresources" / "templates.yaml"
    text = json.dumps(yaml.safe_load(templates.read_text()))
    text = text.replace("python://dask_kubernetes/operator/customresources/templates.yaml#/definitions/", "#/definitions/")
    text = text.replace("python://k8s_crd_resolver/schemata/k8s-1.21.1.json#/definitions/", "/api/_definitions.json#/$defs/")
    definitions = json.loads(text)["definitions"]
    return {"$ref": "#/definitions/dask.k8s.api.v1.DaskCluster", "definitions": definitions}
