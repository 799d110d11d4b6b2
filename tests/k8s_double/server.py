"""A Kubernetes API *test double* for the KubernetesExecutor: not Kubernetes, not a conformance target.

It serves the slice of the core/v1 API that Airflow's KubernetesExecutor (cncf.kubernetes 10.25.0) uses,
shaped after the provider's real client calls (see /work/shared/k8s-executor-api.md and README.md):
discovery, pods create/get/list/watch/patch/delete, pods/log, events list; bearer-token auth, namespace
"RBAC" (403 + recorded), resourceVersion + 410 Gone semantics, and a pluggable "kubelet" that runs the
first container of each pod (LocalProcessKubelet or DockerExecKubelet) and moves the pod through
Pending -> Running -> Succeeded/Failed.

Standard library only, so it runs on the controller or in any lab container with python3.

    python3 tests/k8s_double/server.py --namespace airflow --token-file tok --kubeconfig kube.json \
        --kubelet docker --docker-container lab-worker-1 --path-prefix /opt/airflow/venv/bin

or, inside a lab host (pods become processes of that host, as user airflow; lab/k8s_double.yml):

    python3 server.py --host 172.30.83.31 --port 6443 --namespace airflow-tasks --token-file /etc/k8s-double/token \
        --kubeconfig /etc/k8s-double/kubeconfig --kubelet local --path-prefix /opt/airflow/venv/bin --run-as airflow \
        --image-env AIRFLOW_HOME=/opt/airflow --image-workdir /opt/airflow
"""

from __future__ import annotations

import argparse
import base64
import copy
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

DOUBLE_NAME = "k8s-double"
NODE_NAME = "k8s-double-node"
PARTIAL_METADATA_ACCEPT = "as=PartialObjectMetadataList"

# What a real API server advertises for the resources the double serves (DynamicClient discovery).
_API_RESOURCES = [
    {"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod", "shortNames": ["po"],
     "verbs": ["create", "delete", "get", "list", "patch", "watch"]},
    {"name": "pods/log", "singularName": "", "namespaced": True, "kind": "Pod", "verbs": ["get"]},
    {"name": "events", "singularName": "event", "namespaced": True, "kind": "Event", "shortNames": ["ev"],
     "verbs": ["get", "list"]},
]


# Objects the k8s_offload role applies (kubernetes.core.k8s): stored and returned, nothing more.
# (api group, resource) -> (kind, namespaced). No controllers: a ServiceAccount gets no token.
_OBJECT_KINDS = {
    ("", "namespaces"): ("Namespace", False),
    ("", "serviceaccounts"): ("ServiceAccount", True),
    ("", "secrets"): ("Secret", True),
    ("rbac.authorization.k8s.io", "roles"): ("Role", True),
    ("rbac.authorization.k8s.io", "rolebindings"): ("RoleBinding", True),
    ("rbac.authorization.k8s.io", "clusterroles"): ("ClusterRole", False),
    ("rbac.authorization.k8s.io", "clusterrolebindings"): ("ClusterRoleBinding", False),
}
_OBJECT_VERBS = ["create", "delete", "get", "list", "patch", "update"]
_OBJECT_PATH = re.compile(
    r"^/(?:api/v1|apis/(?P<group>[a-z0-9.]+)/v1)(?:/namespaces/(?P<ns>[^/]+))?/(?P<resource>[a-z]+)(?:/(?P<name>[^/]+))?$")


def _discovery(group: str) -> list[dict]:
    return [{"name": resource, "singularName": kind.lower(), "namespaced": namespaced, "kind": kind,
             "verbs": _OBJECT_VERBS}
            for (g, resource), (kind, namespaced) in _OBJECT_KINDS.items() if g == group]


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------------------------- selectors
_SET_RE = re.compile(r"^\s*([^\s!=]+)\s+(in|notin)\s+\((.*)\)\s*$")


def _split_selector(selector: str) -> list[str]:
    """Split on commas that are not inside `in (a,b)` parentheses."""
    parts, depth, cur = [], 0, ""
    for ch in selector:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def parse_label_selector(selector: str | None):
    """Return a predicate over a labels dict. Supports =, ==, !=, in, notin, key, !key."""
    reqs = []
    for part in _split_selector(selector or ""):
        m = _SET_RE.match(part)
        if m:
            key, op, values = m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",") if v.strip()}
            reqs.append((key, op, values))
        elif "!=" in part:
            key, value = part.split("!=", 1)
            reqs.append((key.strip(), "!=", value.strip()))
        elif "==" in part or "=" in part:
            key, value = re.split(r"==?", part, maxsplit=1)
            reqs.append((key.strip(), "=", value.strip()))
        elif part.startswith("!"):
            reqs.append((part[1:].strip(), "!exists", None))
        else:
            reqs.append((part, "exists", None))

    def match(labels: dict | None) -> bool:
        labels = labels or {}
        for key, op, value in reqs:
            have = labels.get(key)
            if op == "=" and have != value:
                return False
            # Like Kubernetes: `k!=v` and `k notin (...)` also match objects without the label.
            if op == "!=" and have == value:
                return False
            if op == "in" and have not in value:
                return False
            if op == "notin" and have in value:
                return False
            if op == "exists" and key not in labels:
                return False
            if op == "!exists" and key in labels:
                return False
        return True

    return match


def _dig(obj: dict, dotted: str):
    cur = obj
    for part in dotted.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def parse_field_selector(selector: str | None):
    """Return a predicate over an object. Supports field=value, field==value, field!=value on any dotted path."""
    reqs = []
    for part in _split_selector(selector or ""):
        if "!=" in part:
            field, value = part.split("!=", 1)
            reqs.append((field.strip(), False, value.strip()))
        else:
            field, value = re.split(r"==?", part, maxsplit=1)
            reqs.append((field.strip(), True, value.strip()))

    def match(obj: dict) -> bool:
        for field, equal, value in reqs:
            have = _dig(obj, field)
            have = "" if have is None else str(have)
            if (have == value) != equal:
                return False
        return True

    return match


# --------------------------------------------------------------------------------------------- patches
def merge_patch(target, patch):
    """RFC 7386 JSON merge patch (also used for strategic merge patch: see README for the difference)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(target: dict, ops: list) -> dict:
    """RFC 6902 subset: add, replace, remove, test on object members and list indexes."""
    doc = copy.deepcopy(target)
    for op in ops:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].lstrip("/").split("/")]
        parent = doc
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent.setdefault(part, {})
        last = parts[-1]
        kind = op["op"]
        if isinstance(parent, list):
            idx = len(parent) if last == "-" else int(last)
            if kind == "add":
                parent.insert(idx, op["value"])
            elif kind == "replace":
                parent[idx] = op["value"]
            elif kind == "remove":
                del parent[idx]
            elif kind == "test" and parent[idx] != op["value"]:
                raise ValueError(f"test failed at {op['path']}")
        elif kind in ("add", "replace"):
            parent[last] = op["value"]
        elif kind == "remove":
            del parent[last]
        elif kind == "test" and parent.get(last) != op.get("value"):
            raise ValueError(f"test failed at {op['path']}")
        elif kind not in ("test",):
            raise ValueError(f"unsupported json-patch op {kind}")
    return doc


# --------------------------------------------------------------------------------------------- kubelets
class ImagePullError(Exception):
    """The kubelet cannot run this image: the pod stays Pending with waiting reason ErrImagePull."""


def container_argv(container: dict) -> list[str]:
    """Kubernetes semantics without an image entrypoint: command + args, or args alone."""
    argv = list(container.get("command") or []) + list(container.get("args") or [])
    if not argv:
        raise ValueError(f"container {container.get('name')!r} has neither command nor args")
    return argv


def container_env(pod: dict, container: dict) -> dict[str, str]:
    """Literal env values plus the downward-API fields a task pod may ask for; other valueFrom are skipped."""
    env = {"HOSTNAME": pod["metadata"]["name"]}
    fields = {"metadata.name": pod["metadata"]["name"], "metadata.namespace": pod["metadata"]["namespace"],
              "spec.nodeName": NODE_NAME, "status.podIP": "127.0.0.1"}
    for item in container.get("env") or []:
        if "value" in item:
            env[item["name"]] = str(item["value"])
        elif ((item.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath") in fields:
            env[item["name"]] = fields[item["valueFrom"]["fieldRef"]["fieldPath"]]
    return env


class Kubelet:
    """Interface: start a pod's main container as a local process whose stdout+stderr are its logs.

    `start` returns a subprocess.Popen (stdout=PIPE, stderr merged). `stop` ends it (SIGTERM, then
    SIGKILL after `grace` seconds). Raise ImagePullError for an image the kubelet cannot run.
    """

    def start(self, pod: dict, container: dict) -> subprocess.Popen:
        raise NotImplementedError

    def stop(self, pod: dict, proc: subprocess.Popen, grace: float) -> None:
        proc.terminate()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


class LocalProcessKubelet(Kubelet):
    """Runs the container's command as a local subprocess with the pod's env.

    `images`: if given, only these images "exist" (others -> ErrImagePull). `base_env`: env inherited
    by every workload (PATH etc.; a container has an image environment, a subprocess needs one too).
    `path_prefix` goes in front of base_env's PATH (e.g. /opt/airflow/venv/bin: this machine's Airflow
    install stands in for the pod image). `image_env` stands in for the image's ENV (AIRFLOW_HOME...);
    the pod's env wins over it. `workdir` stands in for the image's WORKDIR (a container's workingDir
    wins). `run_as`: user name every workload runs as (setuid/setgid + that user's groups, HOME, USER),
    like a pod's runAsUser; resolved per pod, so the user may be created after the double started (an
    unknown user fails that pod with StartError). Changing user needs root, except to oneself.
    """

    def __init__(self, images: set[str] | None = None, base_env: dict[str, str] | None = None,
                 path_prefix: str = "", image_env: dict[str, str] | None = None, workdir: str | None = None,
                 run_as: str | None = None):
        self.images = images
        self.base_env = base_env if base_env is not None else {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        self.path_prefix = path_prefix
        self.image_env = image_env or {}
        self.workdir = workdir
        self.run_as = run_as

    def _identity(self) -> tuple[dict, dict[str, str]]:
        """Popen arguments and env for run_as (pwd lookup per pod: the user may not exist yet at startup)."""
        if not self.run_as:
            return {}, {}
        import pwd

        try:
            pw = pwd.getpwnam(self.run_as)
        except KeyError:
            raise RuntimeError(f"run-as user {self.run_as!r} does not exist on this machine") from None
        popen = {"user": pw.pw_uid, "group": pw.pw_gid}
        if os.geteuid() == 0:  # setgroups() needs root; an unprivileged double can only "become" itself
            popen["extra_groups"] = os.getgrouplist(pw.pw_name, pw.pw_gid)
        return popen, {"HOME": pw.pw_dir, "USER": pw.pw_name, "LOGNAME": pw.pw_name}

    def env(self, pod: dict, container: dict) -> dict[str, str]:
        env = dict(self.base_env)
        if self.path_prefix:
            env["PATH"] = f"{self.path_prefix}:{env['PATH']}" if env.get("PATH") else self.path_prefix
        return {**env, **self.image_env, **container_env(pod, container)}

    def start(self, pod: dict, container: dict) -> subprocess.Popen:
        if self.images is not None and container.get("image") not in self.images:
            raise ImagePullError(f"image {container.get('image')!r} not known to LocalProcessKubelet")
        identity, identity_env = self._identity()
        env = self.env(pod, container)
        env = {**env, **{k: v for k, v in identity_env.items() if k not in env or k in ("USER", "LOGNAME")}}
        return subprocess.Popen(
            container_argv(container), env=env, cwd=container.get("workingDir") or self.workdir,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True, **identity,
        )


class DockerExecKubelet(Kubelet):
    """Runs the pod's command inside an existing lab container with `docker exec`.

    `containers`: image -> container name; `default_container` serves any other image (None: unknown
    images get ErrImagePull). `path_prefix` is prepended to PATH (e.g. /opt/airflow/venv/bin, so `python`
    is the cluster's Airflow venv). `user` is passed to `docker exec -u`; without it the pod's
    securityContext runAsUser[:runAsGroup] is used, like a container runtime would. `image_env` stands in
    for the image's own ENV (e.g. AIRFLOW_HOME); the pod's env wins over it. The workload writes its PID to
    a file in the container so that pod deletion can signal it there (killing the local `docker exec`
    client would leave the process running in the container).
    """

    BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    def __init__(self, containers: dict[str, str] | None = None, default_container: str | None = None,
                 path_prefix: str = "", user: str | None = None, docker: str = "docker",
                 pid_dir: str = "/tmp", image_env: dict[str, str] | None = None):
        self.image_env = image_env or {}
        self.containers = containers or {}
        self.default_container = default_container
        self.path_prefix = path_prefix
        self.user = user
        self.docker = docker
        self.pid_dir = pid_dir

    def target(self, container: dict) -> str:
        name = self.containers.get(container.get("image") or "", self.default_container)
        if not name:
            raise ImagePullError(f"no lab container mapped for image {container.get('image')!r}")
        return name

    def _pid_file(self, pod: dict) -> str:
        return f"{self.pid_dir}/k8s-double-{pod['metadata']['namespace']}-{pod['metadata']['name']}.pid"

    def exec_argv(self, pod: dict, container: dict) -> list[str]:
        env = {**self.image_env, **container_env(pod, container)}
        env["PATH"] = f"{self.path_prefix}:{self.BASE_PATH}" if self.path_prefix else self.BASE_PATH
        argv = [self.docker, "exec", "-i"]
        sec = {**(pod["spec"].get("securityContext") or {}), **(container.get("securityContext") or {})}
        user = self.user
        if not user and sec.get("runAsUser") is not None:
            user = str(sec["runAsUser"]) + (f":{sec['runAsGroup']}" if sec.get("runAsGroup") is not None else "")
        if user:
            argv += ["-u", user]
        if container.get("workingDir"):
            argv += ["-w", container["workingDir"]]
        for key, value in sorted(env.items()):
            argv += ["-e", f"{key}={value}"]
        # `sh -c 'echo $$ > pidfile; exec "$@"'` keeps the workload's argv intact and its PID known.
        argv += [self.target(container), "/bin/sh", "-c", 'echo $$ > "$0"; exec "$@"', self._pid_file(pod)]
        return argv + container_argv(container)

    def start(self, pod: dict, container: dict) -> subprocess.Popen:
        return subprocess.Popen(
            self.exec_argv(pod, container), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True,
        )

    def stop(self, pod: dict, proc: subprocess.Popen, grace: float) -> None:
        container = pod["spec"]["containers"][0]
        pid_file = self._pid_file(pod)
        signal_cmd = 'kill -%s "$(cat "$0")" 2>/dev/null; true'
        for sig, wait in (("TERM", grace), ("KILL", 5)):
            subprocess.run([self.docker, "exec", self.target(container), "/bin/sh", "-c", signal_cmd % sig,
                            pid_file], check=False, timeout=30, capture_output=True)
            try:
                proc.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue
        proc.kill()
        proc.wait(timeout=5)


# --------------------------------------------------------------------------------------------- the double
class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details


def status_object(code: int, reason: str, message: str, details: dict | None = None) -> dict:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}
    if details:
        body["details"] = details
    return body


class KubeApiDouble:
    """State + HTTP server of the double. Thread-safe; use start()/stop() or the context manager."""

    def __init__(self, namespaces=("airflow",), token: str | None = None, host: str = "127.0.0.1",
                 port: int = 0, kubelet: Kubelet | None = None, user: str = "system:serviceaccount:airflow:scheduler",
                 cluster_scope: bool = False, history: int = 1000, schedule_delay: float = 0.05,
                 start_delay: float = 0.05, max_runtime: float = 3600.0, max_grace: float = 5.0,
                 watch_timeout_cap: float = 3600.0, max_records: int = 100_000):
        self.namespaces = set(namespaces)
        self.token = token if token is not None else secrets.token_urlsafe(24)
        self.kubelet = kubelet or LocalProcessKubelet()
        self.user = user
        self.cluster_scope = cluster_scope  # True = a ClusterRole: /api/v1/pods allowed
        self.history_size = history
        self.schedule_delay, self.start_delay = schedule_delay, start_delay
        self.max_runtime, self.max_grace, self.watch_timeout_cap = max_runtime, max_grace, watch_timeout_cap
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.rv = 0
        self.pods: dict[tuple[str, str], dict] = {}
        # Non-pod objects (_OBJECT_KINDS): (group, resource) -> {(namespace or None, name): object}.
        self.objects: dict[tuple[str, str], dict[tuple[str | None, str], dict]] = {}
        self.events: dict[tuple[str, str], dict] = {}
        self.logs: dict[tuple[str, str], list[str]] = {}
        self.history: list[tuple[int, str, dict | None, dict]] = []  # (rv, type, old, new) for pods
        self.compacted_rv = 0  # watches from below this resourceVersion get 410 Gone
        self.procs: dict[tuple[str, str], subprocess.Popen] = {}
        self.requests: list[dict] = []
        self.max_records = max_records
        self.forbidden: list[dict] = []
        self.watch_generation = 0  # bumped to close open watch streams (tests force re-watches)
        self.watch_gate = threading.Event()  # cleared: new watch requests wait (API server "down" for watches)
        self.watch_gate.set()
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []
        self.httpd = ThreadingHTTPServer((host, port), _make_handler(self))
        self.httpd.daemon_threads = True
        self.host, self.port = self.httpd.server_address[:2]
        self._serve_thread: threading.Thread | None = None

    # ---- lifecycle
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> KubeApiDouble:
        self._serve_thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                              name="k8s-double-http", daemon=True)
        self._serve_thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        with self.lock:
            self.changed.notify_all()
            procs = list(self.procs.items())
        for (ns, name), proc in procs:
            pod = self.pods.get((ns, name))
            if pod and proc.poll() is None:
                try:
                    self.kubelet.stop(pod, proc, 1)
                except Exception:  # noqa: BLE001 - best effort at shutdown
                    proc.kill()
        self.httpd.shutdown()
        self.httpd.server_close()
        for thread in self.threads:
            thread.join(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def write_kubeconfig(self, path: str, namespace: str | None = None) -> str:
        """A kubeconfig (JSON is valid YAML) pointing at the double, with its bearer token."""
        cfg = {
            "apiVersion": "v1", "kind": "Config", "current-context": DOUBLE_NAME, "preferences": {},
            "clusters": [{"name": DOUBLE_NAME, "cluster": {"server": self.url}}],
            "users": [{"name": DOUBLE_NAME, "user": {"token": self.token}}],
            "contexts": [{"name": DOUBLE_NAME, "context": {
                "cluster": DOUBLE_NAME, "user": DOUBLE_NAME,
                "namespace": namespace or sorted(self.namespaces)[0]}}],
        }
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(cfg, fh, indent=2)
        return path

    # ---- test helpers
    def requests_matching(self, method: str | None = None, path_contains: str = "") -> list[dict]:
        with self.lock:
            return [r for r in self.requests
                    if (method is None or r["method"] == method) and path_contains in r["path"]]

    def get_pod(self, namespace: str, name: str) -> dict | None:
        with self.lock:
            pod = self.pods.get((namespace, name))
            return copy.deepcopy(pod) if pod else None

    def wait_for(self, predicate, timeout: float = 10.0):
        """Wait until predicate(double) is truthy (evaluated under the lock); bounded."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                result = predicate(self)
                if result:
                    return result
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("k8s double: condition not reached in time")
                self.changed.wait(min(left, 0.5))

    def compact(self) -> None:
        """Forget the event history, like etcd compaction: older resourceVersions now get 410 Gone."""
        with self.lock:
            self.history.clear()
            self.compacted_rv = self.rv

    def drop_watches(self) -> None:
        """Close every open watch stream (API server restart / load balancer idle cut)."""
        with self.lock:
            self.watch_generation += 1
            self.changed.notify_all()

    def _track(self, thread: threading.Thread) -> None:
        with self.lock:  # keep only live threads: a lab double runs for hours
            self.threads = [t for t in self.threads if t.is_alive()] + [thread]

    # ---- store (call with self.lock held)
    def _bump(self) -> str:
        self.rv += 1
        return str(self.rv)

    def _record_pod_change(self, kind: str, old: dict | None, new: dict) -> None:
        self.history.append((int(new["metadata"]["resourceVersion"]), kind, old, copy.deepcopy(new)))
        if len(self.history) > self.history_size:
            dropped = self.history[: len(self.history) - self.history_size]
            del self.history[: len(dropped)]
            self.compacted_rv = dropped[-1][0]
        self.changed.notify_all()

    def _update_pod(self, key, mutate, kind: str = "MODIFIED") -> dict | None:
        with self.lock:
            pod = self.pods.get(key)
            if pod is None:
                return None
            old = copy.deepcopy(pod)
            mutate(pod)
            pod["metadata"]["resourceVersion"] = self._bump()
            self._record_pod_change(kind, old, pod)
            return copy.deepcopy(pod)

    def _event(self, pod: dict, reason: str, message: str, type_: str = "Normal") -> None:
        with self.lock:
            ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
            ev_name = f"{name}.{uuid.uuid4().hex[:16]}"
            now = _now()
            self.events[(ns, ev_name)] = {
                "metadata": {"name": ev_name, "namespace": ns, "uid": str(uuid.uuid4()),
                             "resourceVersion": self._bump(), "creationTimestamp": now},
                "involvedObject": {"kind": "Pod", "namespace": ns, "name": name, "apiVersion": "v1",
                                   "uid": pod["metadata"]["uid"], "fieldPath": "spec.containers{base}"},
                "reason": reason, "message": message, "type": type_, "count": 1,
                "firstTimestamp": now, "lastTimestamp": now,
                "source": {"component": "kubelet" if reason not in ("Scheduled",) else "default-scheduler",
                           "host": NODE_NAME},
                "reportingComponent": "kubelet", "reportingInstance": NODE_NAME,
            }

    # ---- pod creation and the kubelet loop
    def create_pod(self, namespace: str, body: dict) -> dict:
        if not isinstance(body, dict) or body.get("kind", "Pod") != "Pod":
            raise ApiError(400, "BadRequest", "the body must be a Pod")
        meta = body.setdefault("metadata", {}) or {}
        body["metadata"] = meta
        if meta.get("namespace") and meta["namespace"] != namespace:
            raise ApiError(400, "BadRequest",
                           "the namespace of the provided object does not match the namespace sent on the request")
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + secrets.token_hex(3)[:5]
        name = meta.get("name")
        spec = body.get("spec") or {}
        errors = []
        if not name:
            errors.append("metadata.name: Required value: name or generateName is required")
        elif not re.fullmatch(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", name):
            errors.append(f"metadata.name: Invalid value: {name!r}: a lowercase RFC 1123 subdomain")
        containers = spec.get("containers") or []
        if not containers:
            errors.append("spec.containers: Required value")
        for i, c in enumerate(containers):
            if not c.get("name"):
                errors.append(f"spec.containers[{i}].name: Required value")
            if not c.get("image"):
                errors.append(f"spec.containers[{i}].image: Required value")
        for k, v in (meta.get("labels") or {}).items():
            if len(str(v)) > 63 or not re.fullmatch(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?", str(v)):
                errors.append(f"metadata.labels: Invalid value: {v!r}: a valid label must be at most 63 characters")
        if errors:
            raise ApiError(422, "Invalid", f'Pod "{name}" is invalid: ' + ", ".join(errors),
                           {"name": name, "kind": "Pod", "causes": [{"message": e} for e in errors]})
        with self.lock:
            key = (namespace, name)
            if key in self.pods:
                raise ApiError(409, "AlreadyExists", f'pods "{name}" already exists',
                               {"name": name, "kind": "pods"})
            pod = copy.deepcopy(body)
            pod["apiVersion"], pod["kind"] = "v1", "Pod"
            meta = pod["metadata"]
            meta.update(namespace=namespace, uid=str(uuid.uuid4()), creationTimestamp=_now())
            meta["labels"] = meta.get("labels") or {}
            meta["annotations"] = meta.get("annotations") or {}
            spec = pod["spec"]
            # API server defaulting the executor's pods rely on (cleanup-pods reads restartPolicy).
            spec.setdefault("restartPolicy", "Always")
            spec.setdefault("terminationGracePeriodSeconds", 30)
            spec.setdefault("dnsPolicy", "ClusterFirst")
            spec.setdefault("schedulerName", "default-scheduler")
            for c in spec["containers"]:
                c.setdefault("imagePullPolicy", "IfNotPresent")
                c.setdefault("terminationMessagePath", "/dev/termination-log")
            pod["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
            meta["resourceVersion"] = self._bump()
            self.pods[key] = pod
            self.logs[key] = []
            self._record_pod_change("ADDED", None, pod)
            created = copy.deepcopy(pod)
        thread = threading.Thread(target=self._run_pod, args=(key,), name=f"kubelet-{name}", daemon=True)
        self._track(thread)
        thread.start()
        return created

    def _container_status(self, pod: dict, state: dict, ready: bool = False) -> dict:
        c = pod["spec"]["containers"][0]
        status = {"name": c["name"], "image": c["image"], "imageID": "", "ready": ready,
                  "restartCount": 0, "started": "running" in state, "state": state}
        if "running" in state or "terminated" in state:
            status["imageID"] = f"{DOUBLE_NAME}://{c['image']}"
            status["containerID"] = f"{DOUBLE_NAME}://{pod['metadata']['uid']}"
        return status

    def _conditions(self, ready: bool, scheduled: bool = True) -> list[dict]:
        now = _now()
        s = lambda b: "True" if b else "False"  # noqa: E731
        return [{"type": t, "status": s(v), "lastProbeTime": None, "lastTransitionTime": now}
                for t, v in (("PodScheduled", scheduled), ("Initialized", scheduled),
                             ("ContainersReady", ready), ("Ready", ready))]

    def _deleting(self, key) -> bool:
        with self.lock:
            pod = self.pods.get(key)
            return pod is None or bool(pod["metadata"].get("deletionTimestamp"))

    def _run_pod(self, key) -> None:
        if self.stopping.wait(self.schedule_delay) or self._deleting(key):
            return

        def scheduled(pod):
            pod["spec"]["nodeName"] = NODE_NAME
            pod["status"].update(
                conditions=self._conditions(False), hostIP="127.0.0.1", startTime=_now(),
                containerStatuses=[self._container_status(pod, {"waiting": {"reason": "ContainerCreating"}})])

        pod = self._update_pod(key, scheduled)
        if pod is None:
            return
        self._event(pod, "Scheduled", f"Successfully assigned {key[0]}/{key[1]} to {NODE_NAME}")
        if self.stopping.wait(self.start_delay) or self._deleting(key):
            return
        container = pod["spec"]["containers"][0]
        try:
            with self.lock:
                if self._deleting(key):
                    return
                proc = self.kubelet.start(pod, container)
                self.procs[key] = proc
        except ImagePullError as exc:
            msg = str(exc)

            def pull_failed(p):
                p["status"]["containerStatuses"] = [self._container_status(
                    p, {"waiting": {"reason": "ErrImagePull", "message": msg}})]

            pod = self._update_pod(key, pull_failed)
            if pod:
                self._event(pod, "Failed", f"Failed to pull image {container['image']!r}: {msg}", "Warning")
            return
        except Exception as exc:  # noqa: BLE001 - e.g. executable not found: Kubernetes' StartError
            self._finish(key, 128, "StartError", f"failed to start container: {exc}")
            return
        started = _now()

        def running(p):
            p["status"].update(phase="Running", conditions=self._conditions(True), podIP="127.0.0.1",
                               containerStatuses=[self._container_status(p, {"running": {"startedAt": started}},
                                                                         ready=True)])

        pod = self._update_pod(key, running)
        if pod:
            self._event(pod, "Pulled", f"Container image {container['image']!r} already present on machine")
            self._event(pod, "Created", "Created container base")
            self._event(pod, "Started", "Started container base")
        reader = threading.Thread(target=self._read_logs, args=(key, proc), daemon=True)
        reader.start()
        deadline_hit = False
        try:
            proc.wait(timeout=self.max_runtime)
        except subprocess.TimeoutExpired:
            deadline_hit = True
            self.kubelet.stop(pod, proc, 1)
        reader.join(timeout=10)
        with self.lock:
            self.procs.pop(key, None)
            deleting = self._deleting(key)
        code = proc.returncode
        if code is not None and code < 0:  # killed by a signal: container runtimes report 128+signal
            code = 128 - code
        if deadline_hit:
            self._finish(key, code, "DeadlineExceeded", "Pod was active on the node longer than allowed",
                         started)
        elif not deleting:
            self._finish(key, code, "Completed" if code == 0 else "Error", None, started)

    def _read_logs(self, key, proc: subprocess.Popen) -> None:
        for raw in iter(proc.stdout.readline, b""):
            with self.lock:
                self.logs.setdefault(key, []).append(raw.decode("utf-8", "replace"))
                self.changed.notify_all()
        proc.stdout.close()

    def _finish(self, key, code: int, reason: str, message: str | None, started: str | None = None) -> None:
        def terminated(p):
            term = {"exitCode": code, "reason": reason, "startedAt": started or _now(), "finishedAt": _now(),
                    "containerID": f"{DOUBLE_NAME}://{p['metadata']['uid']}"}
            if message:
                term["message"] = message
            p["status"].update(
                phase="Succeeded" if code == 0 else "Failed", conditions=self._conditions(False),
                containerStatuses=[self._container_status(p, {"terminated": term})])
            if reason == "DeadlineExceeded":
                p["status"].update(reason="DeadlineExceeded", message=message)

        pod = self._update_pod(key, terminated)
        if pod and code != 0:
            self._event(pod, "BackOff" if reason == "Error" else reason, f"container base exited with {code}",
                        "Warning")

    def delete_pod(self, namespace: str, name: str, grace: int | None) -> dict:
        key = (namespace, name)
        with self.lock:
            pod = self.pods.get(key)
            if pod is None:
                raise ApiError(404, "NotFound", f'pods "{name}" not found', {"name": name, "kind": "pods"})
            if grace is None:
                grace = int(pod["spec"].get("terminationGracePeriodSeconds", 30))
            if pod["metadata"].get("deletionTimestamp"):
                return copy.deepcopy(pod)  # a second delete changes nothing here
            proc = self.procs.get(key)
            running = proc is not None and proc.poll() is None

            def mark(p):
                p["metadata"]["deletionTimestamp"] = _now()
                p["metadata"]["deletionGracePeriodSeconds"] = grace

            marked = self._update_pod(key, mark)
        if running:
            self._event(marked, "Killing", "Stopping container base")
            thread = threading.Thread(target=self._kill_then_remove, args=(key, proc, grace), daemon=True)
            self._track(thread)
            thread.start()
        else:
            self._remove(key)
        return marked

    def _kill_then_remove(self, key, proc, grace) -> None:
        pod = self.get_pod(*key)
        try:
            self.kubelet.stop(pod, proc, min(grace, self.max_grace))
        except Exception:  # noqa: BLE001
            proc.kill()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        code = proc.returncode if proc.returncode is not None else 137
        if code < 0:
            code = 128 - code
        # Since Kubernetes 1.27 the kubelet moves a deleted pod to a terminal phase before it goes away.
        self._finish(key, code, "Completed" if code == 0 else "Error", None)
        self._remove(key)

    def _remove(self, key) -> None:
        with self.lock:
            pod = self.pods.pop(key, None)
            self.procs.pop(key, None)
            self.logs.pop(key, None)  # like a node: logs go with the pod
            if pod is None:
                return
            old = copy.deepcopy(pod)
            pod["metadata"]["resourceVersion"] = self._bump()
            self._record_pod_change("DELETED", old, pod)

    # ---- reads
    def list_pods(self, namespace: str | None, label_sel, field_sel) -> tuple[list[dict], str]:
        with self.lock:
            items = [copy.deepcopy(p) for (ns, _), p in sorted(self.pods.items())
                     if (namespace is None or ns == namespace) and label_sel(p["metadata"].get("labels"))
                     and field_sel(p)]
            return items, str(self.rv)


# --------------------------------------------------------------------------------------------- HTTP layer
_POD_PATH = re.compile(r"^/api/v1/namespaces/([^/]+)/(pods|events)(?:/([^/]+))?(?:/(log|status))?$")


def _make_handler(double: KubeApiDouble):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "k8s-api-test-double/1"

        def log_message(self, fmt, *args):  # quiet: the request log is self.double.requests
            pass

        # ---- plumbing
        def _send_json(self, code: int, obj: dict) -> None:
            data = json.dumps(obj).encode()
            self._record["status"] = code  # before the write: a client may look right after reading
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _send_text(self, code: int, text: str) -> None:
            data = text.encode()
            self._record["status"] = code
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _start_chunked(self, content_type: str) -> None:
            self._record["status"] = 200
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()

        def _chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        def _end_chunked(self) -> None:
            try:
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            except OSError:
                pass

        def _body(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if not raw:
                return None
            try:
                return json.loads(raw)
            except ValueError:
                return raw.decode("utf-8", "replace")

        def _handle(self, method: str) -> None:
            url = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
            body = self._body() if method in ("POST", "PATCH", "PUT", "DELETE") else None
            self._record = {"time": time.time(), "client": self.client_address[0], "method": method,
                            "path": url.path, "query": query,
                            "body": body, "accept": self.headers.get("Accept"),
                            "content_type": self.headers.get("Content-Type"), "status": None}
            with double.lock:
                double.requests.append(self._record)
                if len(double.requests) > double.max_records:
                    del double.requests[: len(double.requests) - double.max_records]
            try:
                self._authenticate()
                self._route(method, url.path, query, body)
            except ApiError as exc:
                self._send_json(exc.code, status_object(exc.code, exc.reason, exc.message, exc.details))
            except (BrokenPipeError, ConnectionResetError):
                pass
            except Exception as exc:  # noqa: BLE001 - a double should answer, not hang
                self._send_json(500, status_object(500, "InternalError", f"k8s double: {exc!r}"))

        do_GET = lambda self: self._handle("GET")  # noqa: E731
        do_POST = lambda self: self._handle("POST")  # noqa: E731
        do_PATCH = lambda self: self._handle("PATCH")  # noqa: E731
        do_DELETE = lambda self: self._handle("DELETE")  # noqa: E731
        do_PUT = lambda self: self._handle("PUT")  # noqa: E731

        def _authenticate(self) -> None:
            header = self.headers.get("Authorization") or ""
            if not secrets.compare_digest(header.encode(), f"Bearer {double.token}".encode()):
                raise ApiError(401, "Unauthorized", "Unauthorized")

        def _authorize(self, verb: str, resource: str, namespace: str | None) -> None:
            allowed = double.cluster_scope if namespace is None else namespace in double.namespaces
            if allowed:
                return
            where = "at the cluster scope" if namespace is None else f'in the namespace "{namespace}"'
            message = (f'{resource} is forbidden: User "{double.user}" cannot {verb} resource "{resource}" '
                       f'in API group "" {where}')
            with double.lock:
                double.forbidden.append({"verb": verb, "resource": resource, "namespace": namespace,
                                         "path": self._record["path"]})
            raise ApiError(403, "Forbidden", message, {"kind": resource})

        # ---- routing
        def _route(self, method: str, path: str, query: dict, body) -> None:
            if method == "GET" and path in ("/version", "/version/"):
                return self._send_json(200, {
                    "major": "1", "minor": "30", "gitVersion": "v1.30.0-k8s-double", "gitCommit": "0" * 40,
                    "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "none (python)",
                    "compiler": "none", "platform": "linux/amd64"})
            if method == "GET" and path == "/api":
                return self._send_json(200, {"kind": "APIVersions", "versions": ["v1"],
                                             "serverAddressByClientCIDRs": []})
            if method == "GET" and path == "/apis":
                rbac = {"groupVersion": "rbac.authorization.k8s.io/v1", "version": "v1"}
                return self._send_json(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                    {"name": "rbac.authorization.k8s.io", "versions": [rbac], "preferredVersion": rbac}]})
            if method == "GET" and path == "/api/v1":
                return self._send_json(200, {"kind": "APIResourceList", "groupVersion": "v1",
                                             "resources": _API_RESOURCES + _discovery("")})
            if method == "GET" and path == "/apis/rbac.authorization.k8s.io/v1":
                return self._send_json(200, {"kind": "APIResourceList",
                                             "groupVersion": "rbac.authorization.k8s.io/v1",
                                             "resources": _discovery("rbac.authorization.k8s.io")})
            if method == "GET" and path == "/_double/requests":  # for lab assertions; not a k8s path
                with double.lock:
                    return self._send_json(200, {"kind": "DoubleRequestLog", "requests": double.requests[:-1],
                                                 "forbidden": double.forbidden})
            if path == "/api/v1/pods" and method == "GET":
                self._authorize("watch" if _truthy(query.get("watch")) else "list", "pods", None)
                return self._list_or_watch(None, query)
            m = _POD_PATH.match(path)
            if not m:
                o = _OBJECT_PATH.match(path)
                if o and (o["group"] or "", o["resource"]) in _OBJECT_KINDS:
                    return self._object(method, o["group"] or "", o["resource"], o["ns"], o["name"], query, body)
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            namespace, resource, name, sub = m.groups()
            verb = {"GET": "get" if name else "list", "POST": "create", "PATCH": "patch", "DELETE": "delete",
                    "PUT": "update"}[method]
            if method == "GET" and not name and _truthy(query.get("watch")):
                verb = "watch"
            self._authorize(verb, f"{resource}/{sub}" if sub else resource, namespace)
            if resource == "events":
                if method != "GET" or name:
                    raise ApiError(405, "MethodNotAllowed", "the double serves events list only")
                return self._list_events(namespace, query)
            if sub == "log" and method == "GET":
                return self._pod_log(namespace, name, query)
            if sub:
                raise ApiError(405, "MethodNotAllowed", f"pods/{sub} is not served by the double")
            if method == "GET" and not name:
                return self._list_or_watch(namespace, query)
            if method == "POST" and not name:
                return self._send_json(201, double.create_pod(namespace, body))
            if method == "GET":
                pod = double.get_pod(namespace, name)
                if pod is None:
                    raise ApiError(404, "NotFound", f'pods "{name}" not found', {"name": name, "kind": "pods"})
                return self._send_json(200, pod)
            if method == "PATCH":
                return self._send_json(200, self._patch(namespace, name, body))
            if method == "DELETE":
                grace = (body or {}).get("gracePeriodSeconds") if isinstance(body, dict) else None
                if grace is None and "gracePeriodSeconds" in query:
                    grace = int(query["gracePeriodSeconds"])
                return self._send_json(200, double.delete_pod(namespace, name, grace))
            raise ApiError(405, "MethodNotAllowed", f"{method} is not served by the double")

        def _object(self, method, group, resource, namespace, name, query, body) -> None:
            """get/list/create/patch/update/delete of a stored object; dryRun=All validates and stores nothing."""
            kind, namespaced = _OBJECT_KINDS[(group, resource)]
            if namespaced != (namespace is not None):
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            verb = {"GET": "get" if name else "list", "POST": "create", "PATCH": "patch", "PUT": "update",
                    "DELETE": "delete"}.get(method)
            if verb is None or (name is None) != (verb in ("list", "create")):
                raise ApiError(405, "MethodNotAllowed", f"{method} is not served by the double")
            self._authorize(verb, resource, namespace)
            dry_run = query.get("dryRun") == "All"
            api_version = f"{group}/v1" if group else "v1"
            with double.lock:
                store = double.objects.setdefault((group, resource), {})
                if verb == "list":
                    items = [o for (ns, _), o in sorted(store.items()) if ns == namespace]
                    return self._send_json(200, {"kind": f"{kind}List", "apiVersion": api_version,
                                                 "metadata": {"resourceVersion": str(double.rv)}, "items": items})
                if verb == "create":
                    name = ((body or {}).get("metadata") or {}).get("name")
                    if not name:
                        raise ApiError(422, "Invalid", f"{kind} without metadata.name")
                existing = store.get((namespace, name))
                if verb == "create" and existing is not None:
                    raise ApiError(409, "AlreadyExists", f'{resource} "{name}" already exists',
                                   {"name": name, "kind": resource})
                if verb not in ("create",) and existing is None:
                    raise ApiError(404, "NotFound", f'{resource} "{name}" not found', {"name": name, "kind": resource})
                if verb == "get":
                    return self._send_json(200, existing)
                if verb == "delete":
                    if not dry_run:
                        del store[(namespace, name)]
                    return self._send_json(200, existing)
                new = merge_patch(existing, body) if verb == "patch" else copy.deepcopy(body)
                if not isinstance(new, dict) or new.get("kind", kind) != kind:
                    raise ApiError(400, "BadRequest", f"the body is not a {kind}")
                meta = new.setdefault("metadata", {})
                meta["name"], new["kind"], new["apiVersion"] = name, kind, api_version
                if namespaced:
                    meta["namespace"] = namespace
                else:
                    meta.pop("namespace", None)
                old_meta = (existing or {}).get("metadata") or {}
                meta["uid"] = old_meta.get("uid") or str(uuid.uuid4())
                meta["creationTimestamp"] = old_meta.get("creationTimestamp") or _now()
                if new != existing:
                    meta["resourceVersion"] = double._bump() if not dry_run else str(double.rv + 1)
                    if not dry_run:
                        store[(namespace, name)] = new
                return self._send_json(201 if verb == "create" else 200, new)

        def _patch(self, namespace: str, name: str, body) -> dict:
            ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            if ctype == "application/json-patch+json":
                if not isinstance(body, list):
                    raise ApiError(400, "BadRequest", "json patch body must be a list")
                apply = lambda pod: json_patch(pod, body)  # noqa: E731
            elif ctype in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
                if not isinstance(body, dict):
                    raise ApiError(400, "BadRequest", "merge patch body must be an object")
                apply = lambda pod: merge_patch(pod, body)  # noqa: E731
            else:
                raise ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format: {ctype}")
            key = (namespace, name)
            with double.lock:
                pod = double.pods.get(key)
                if pod is None:
                    raise ApiError(404, "NotFound", f'pods "{name}" not found', {"name": name, "kind": "pods"})
                try:
                    patched = apply(pod)
                except (ValueError, KeyError, IndexError, TypeError) as exc:
                    raise ApiError(422, "Invalid", f"patch failed: {exc}") from exc
                # Only metadata labels/annotations are mutable here (real pods: spec is mostly immutable).
                new_meta = patched.get("metadata") or {}

                def mutate(p):
                    p["metadata"]["labels"] = {k: str(v) for k, v in (new_meta.get("labels") or {}).items()}
                    p["metadata"]["annotations"] = {k: str(v) for k, v in
                                                    (new_meta.get("annotations") or {}).items()}

                return double._update_pod(key, mutate)

        def _list_or_watch(self, namespace: str | None, query: dict) -> None:
            label_sel = parse_label_selector(query.get("labelSelector"))
            field_sel = parse_field_selector(query.get("fieldSelector"))
            if _truthy(query.get("watch")):
                return self._watch(namespace, query, label_sel, field_sel)
            items, rv = double.list_pods(namespace, label_sel, field_sel)
            limit = int(query.get("limit") or 0)
            start = int(json.loads(base64.b64decode(query["continue"]))["start"]) if query.get("continue") else 0
            cont = None
            if limit and start + limit < len(items):
                cont = base64.b64encode(json.dumps({"start": start + limit}).encode()).decode()
            items = items[start: start + limit] if limit else items[start:]
            list_meta = {"resourceVersion": rv}
            if cont:
                list_meta.update({"continue": cont, "remainingItemCount": 0})
            if PARTIAL_METADATA_ACCEPT in (self.headers.get("Accept") or ""):
                return self._send_json(200, {
                    "kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta,
                    "items": [{"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                               "metadata": p["metadata"]} for p in items]})
            for p in items:  # real list items carry no kind/apiVersion
                p.pop("kind", None)
                p.pop("apiVersion", None)
            return self._send_json(200, {"kind": "PodList", "apiVersion": "v1", "metadata": list_meta,
                                         "items": items})

        def _watch(self, namespace, query, label_sel, field_sel) -> None:
            def visible(obj):
                return (obj is not None and (namespace is None or obj["metadata"]["namespace"] == namespace)
                        and label_sel(obj["metadata"].get("labels")) and field_sel(obj))

            timeout = min(float(query.get("timeoutSeconds") or double.watch_timeout_cap), double.watch_timeout_cap)
            deadline = time.monotonic() + timeout
            rv_param = query.get("resourceVersion") or ""
            while not double.watch_gate.wait(0.5):
                if double.stopping.is_set() or time.monotonic() > deadline:
                    raise ApiError(504, "Timeout", "k8s double: watches are paused")
            with double.lock:
                generation = double.watch_generation
                pending: list[dict] = []
                if rv_param in ("", "0"):
                    # "Any"/"most recent": synthetic ADDED for what exists now, then changes.
                    for pod in sorted(double.pods.values(), key=lambda p: int(p["metadata"]["resourceVersion"])):
                        if visible(pod):
                            pending.append({"type": "ADDED", "object": copy.deepcopy(pod)})
                    cursor = double.rv
                else:
                    cursor = int(rv_param)
                    if cursor < double.compacted_rv:
                        pending.append({"type": "ERROR", "object": status_object(
                            410, "Expired", f"too old resource version: {cursor} ({double.compacted_rv + 1})")})
                        cursor = None
                        self._record["watch_error"] = 410
            self._start_chunked("application/json")
            try:
                for ev in pending:
                    self._chunk(json.dumps(ev).encode() + b"\n")
                if cursor is None:
                    return self._end_chunked()
                while True:
                    with double.lock:
                        batch = [h for h in double.history if h[0] > cursor]
                        if not batch:
                            left = deadline - time.monotonic()
                            if (left <= 0 or double.stopping.is_set()
                                    or double.watch_generation != generation):
                                break
                            double.changed.wait(min(left, 0.5))
                            continue
                    for rv, kind, old, new in batch:
                        cursor = rv
                        was, now = visible(old), visible(new)
                        if kind == "DELETED":
                            out = "DELETED" if was or now else None
                        elif was and now:
                            out = kind
                        elif now:
                            out = "ADDED"  # started to match (e.g. adoption relabel)
                        elif was:
                            out = "DELETED"  # stopped matching (e.g. airflow_executor_done=True)
                        else:
                            out = None
                        if out:
                            self._chunk(json.dumps({"type": out, "object": new}).encode() + b"\n")
                self._end_chunked()
            except (BrokenPipeError, ConnectionResetError):
                pass
            finally:
                self.close_connection = True

        def _pod_log(self, namespace: str, name: str, query: dict) -> None:
            key = (namespace, name)
            pod = double.get_pod(namespace, name)
            if pod is None:
                raise ApiError(404, "NotFound", f'pods "{name}" not found', {"name": name, "kind": "pods"})
            names = [c["name"] for c in pod["spec"]["containers"]]
            container = query.get("container") or (names[0] if len(names) == 1 else None)
            if container is None:
                raise ApiError(400, "BadRequest", f"a container name must be specified for pod {name}, "
                                                  f"choose one of: {names}")
            if container not in names:
                raise ApiError(400, "BadRequest", f"container {container} is not valid for pod {name}")
            if container != names[0]:
                return self._send_text(200, "")  # the double runs only the first container
            statuses = pod["status"].get("containerStatuses") or []
            state = statuses[0]["state"] if statuses else {"waiting": {"reason": "ContainerCreating"}}
            if "waiting" in state:
                raise ApiError(400, "BadRequest", f'container "{container}" in pod "{name}" is waiting to start: '
                                                  f'{state["waiting"].get("reason")}')
            tail = int(query["tailLines"]) if query.get("tailLines") else None
            with double.lock:
                lines = list(double.logs.get(key, []))
                sent = len(lines)
            if tail is not None:
                lines = lines[-tail:] if tail > 0 else []
            if not _truthy(query.get("follow")):
                return self._send_text(200, "".join(lines))
            # follow: stream until the container has terminated and its output is drained (bounded).
            self._start_chunked("text/plain")
            try:
                if lines:
                    self._chunk("".join(lines).encode())
                deadline = time.monotonic() + double.max_runtime
                while time.monotonic() < deadline and not double.stopping.is_set():
                    with double.lock:
                        all_lines = double.logs.get(key, [])
                        new, sent = all_lines[sent:], len(all_lines)
                        current = double.pods.get(key)
                        done = current is None or current["status"]["phase"] in ("Succeeded", "Failed")
                        if not new and not done:
                            double.changed.wait(0.5)
                            continue
                    if new:
                        self._chunk("".join(new).encode())
                    elif done:
                        break
                self._end_chunked()
            except (BrokenPipeError, ConnectionResetError):
                pass
            finally:
                self.close_connection = True

        def _list_events(self, namespace: str, query: dict) -> None:
            field_sel = parse_field_selector(query.get("fieldSelector"))
            label_sel = parse_label_selector(query.get("labelSelector"))
            with double.lock:
                items = [copy.deepcopy(e) for (ns, _), e in sorted(double.events.items(),
                                                                    key=lambda kv: int(kv[1]["metadata"]["resourceVersion"]))
                         if ns == namespace and field_sel(e) and label_sel(e["metadata"].get("labels"))]
                rv = str(double.rv)
            return self._send_json(200, {"kind": "EventList", "apiVersion": "v1",
                                         "metadata": {"resourceVersion": rv}, "items": items})

    return Handler


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in ("true", "1")


# --------------------------------------------------------------------------------------------- CLI
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Kubernetes API test double for the KubernetesExecutor")
    parser.add_argument("--host", default="127.0.0.1", help="127.0.0.1 or an address on the lab network")
    parser.add_argument("--port", type=int, default=0, help="0 = any free port (printed and in the kubeconfig)")
    parser.add_argument("--server-url", help="URL written into the kubeconfig if clients reach the double "
                                             "by another name (e.g. http://lab-controller:6443)")
    parser.add_argument("--namespace", action="append", help="namespace the scheduler may use (repeatable)")
    parser.add_argument("--token-file", help="file with the bearer token (created with a random token if absent)")
    parser.add_argument("--kubeconfig", required=True, help="where to write the kubeconfig for the scheduler")
    parser.add_argument("--kubelet", choices=("local", "docker"), default="local")
    parser.add_argument("--docker-container", help="lab container that runs pods (DockerExecKubelet default)")
    parser.add_argument("--image-map", action="append", default=[], metavar="IMAGE=CONTAINER")
    parser.add_argument("--path-prefix", help="prepended to PATH of every pod (docker default: /opt/airflow/venv/bin; "
                                              "local: none)")
    parser.add_argument("--docker-user", help="docker exec -u USER (default: the pod's runAsUser, else root)")
    parser.add_argument("--run-as", metavar="USER", help="local kubelet: run every pod process as this user "
                                                         "(needs root; resolved per pod)")
    parser.add_argument("--image-env", action="append", default=[], metavar="NAME=VALUE",
                        help="environment the pod image would have (e.g. AIRFLOW_HOME=/opt/airflow)")
    parser.add_argument("--image-workdir", help="local kubelet: working directory of pods without workingDir "
                                                "(the image's WORKDIR)")
    parser.add_argument("--record-file", help="append every request as a JSON line here on exit")
    parser.add_argument("--cluster-scope", action="store_true", help="allow /api/v1/pods (a ClusterRole)")
    args = parser.parse_args(argv)

    token = None
    if args.token_file:
        if os.path.exists(args.token_file):
            with open(args.token_file) as fh:
                token = fh.read().strip()
        else:
            token = secrets.token_urlsafe(24)
            fd = os.open(args.token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(token + "\n")
    image_env = dict(item.split("=", 1) for item in args.image_env)
    if args.kubelet == "docker":
        images = dict(item.split("=", 1) for item in args.image_map)
        path_prefix = "/opt/airflow/venv/bin" if args.path_prefix is None else args.path_prefix
        kubelet: Kubelet = DockerExecKubelet(images, args.docker_container, path_prefix, args.docker_user,
                                             image_env=image_env)
    else:
        kubelet = LocalProcessKubelet(path_prefix=args.path_prefix or "", image_env=image_env,
                                      workdir=args.image_workdir, run_as=args.run_as)
    double = KubeApiDouble(namespaces=args.namespace or ["airflow"], token=token, host=args.host, port=args.port,
                           kubelet=kubelet, cluster_scope=args.cluster_scope)
    double.write_kubeconfig(args.kubeconfig)
    if args.server_url:
        with open(args.kubeconfig) as fh:
            cfg = json.load(fh)
        cfg["clusters"][0]["cluster"]["server"] = args.server_url
        with open(args.kubeconfig, "w") as fh:
            json.dump(cfg, fh, indent=2)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    double.start()
    print(f"k8s API test double on {double.url} namespaces={sorted(double.namespaces)} "
          f"kubeconfig={args.kubeconfig}", flush=True)
    stop.wait()
    double.stop()
    if args.record_file:
        with open(args.record_file, "a") as fh:
            for rec in double.requests:
                fh.write(json.dumps(rec) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
