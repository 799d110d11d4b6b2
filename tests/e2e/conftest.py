"""Whole-cluster tests on the lab (make e2e brings the lab up first).

The session converges site.yml once; tests then check idempotence, check mode, and behaviour.
Traffic goes only to the lab's own containers (docker exec) and loopback.
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))  # lab_airflow: the REST API client `make demo` uses too
INVENTORY = REPO / "inventories/lab/hosts.yml"
RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.MULTILINE)


class Run:
    def __init__(self, proc: subprocess.CompletedProcess):
        self.proc = proc
        self.output = proc.stdout + proc.stderr
        self.recap = {
            host: {"ok": int(ok), "changed": int(ch), "unreachable": int(un), "failed": int(fa)}
            for host, ok, ch, un, fa in RECAP.findall(proc.stdout)
        }

    @property
    def changed(self) -> dict[str, int]:
        return {host: r["changed"] for host, r in self.recap.items() if r["changed"]}


def ansible_playbook(*args: str, timeout: int = 3600, stock_strategy: bool = False) -> Run:
    # profile_tasks: the slowest tasks end up in the logs kept under .lab/ (figures, never asserted on).
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_CALLBACKS_ENABLED="preload_template_plugins,ansible.posix.profile_tasks", PROFILE_TASKS_TASK_OUTPUT_LIMIT="25")
    # Mitogen's strategy as `make e2e` sets it (Makefile LAB_ENV), also when pytest is run directly;
    # stock_strategy: ansible.cfg's `linear`, the one production inventories use.
    env.setdefault("ANSIBLE_STRATEGY_PLUGINS", str(REPO / "lab/strategy_plugins"))
    env["ANSIBLE_STRATEGY"] = "linear" if stock_strategy else env.get("ANSIBLE_STRATEGY", "mitogen_linear")
    proc = subprocess.run(
        ["ansible-playbook", "-i", str(INVENTORY), *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout,
    )
    return Run(proc)


def lab_exec(host: str, *command: str) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", "exec", host, *command], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="session")
def first_converge() -> Run:
    started = time.monotonic()
    run = ansible_playbook("site.yml")
    (REPO / ".lab").mkdir(exist_ok=True)
    # The wall time is a figure for docs/benchmarks.md, never asserted on.
    (REPO / ".lab/last-converge.log").write_text(run.output + f"\nwall seconds: {time.monotonic() - started:.0f}\n")
    assert run.proc.returncode == 0, run.output[-6000:]
    # The run right after the cold one, before any test touches the lab: a task that only changes
    # on the second run (a mode set by one task and reset by another) shows up here and nowhere
    # else, because every later converge is already a third run.
    run.second = ansible_playbook("site.yml")
    (REPO / ".lab/second-converge.log").write_text(run.second.output)
    return run


@pytest.fixture(scope="session")
def lab_hosts(first_converge) -> list[str]:
    return sorted(h for h in first_converge.recap if h != "localhost")


@pytest.fixture(scope="session")
def api(first_converge):
    """REST API client of the lab's api-server, logged in as admin once per session."""
    from lab_airflow import AirflowApi

    return AirflowApi()
