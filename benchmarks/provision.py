#!/usr/bin/env python3
"""Provisioning and task-execution benchmark on the lab (`make bench-provision`).

Phases (all by default; --phases picks some, in this order):
  cold   remove and re-create the lab containers (not timed), then time site.yml from scratch
  rerun  time a second site.yml run and count changed tasks (target: changed=0)
  add    (re-)create a blank lab-worker4 container (tests/e2e/inventory_extra_worker.yml, not
         timed) and time playbooks/add_worker.yml --limit lab-worker4
  tasks  trigger cluster_smoke with --probes mapped tasks per queue (no sleep) and read every
         task instance's queued_when/start_date/end_date from the REST API: queued->running
         latency p50/p95 and tasks per minute (first start to last end)
  rss    resident memory per Airflow component: the summed VmRSS of every process in the
         unit's cgroup, per host

Prints a Markdown report; docs/benchmarks.md records the figures with the load they were taken
under (the load average is printed too). Needs the lab's vault password in
ANSIBLE_VAULT_PASSWORD_FILE (the Makefile sets it).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import re
import statistics
import subprocess
import sys
import time
from datetime import datetime

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
from lab_airflow import AirflowApi, short_host  # noqa: E402

INVENTORY = ["-i", "inventories/lab/hosts.yml"]
EXTRA = INVENTORY + ["-i", "tests/e2e/inventory_extra_worker.yml"]
RECAP = re.compile(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.MULTILINE)
UNITS = {
    "lab-sched1": ["scheduler", "dag-processor", "triggerer"],
    "lab-api1": ["api-server", "celery-flower"],
    "lab-worker1": ["celery-worker"],
}


def load() -> str:
    return " ".join(pathlib.Path("/proc/loadavg").read_text().split()[:3])


def playbook(*args: str) -> tuple[float, int]:
    """Run ansible-playbook; return (wall seconds, total changed). Fails loudly."""
    started = time.monotonic()
    proc = subprocess.run(["ansible-playbook", *args], cwd=REPO, capture_output=True, text=True,
                          env=dict(os.environ, ANSIBLE_NOCOLOR="1"))
    wall = time.monotonic() - started
    if proc.returncode != 0:
        sys.exit(f"ansible-playbook {' '.join(args)} failed:\n{proc.stdout[-4000:]}{proc.stderr[-2000:]}")
    recap = RECAP.findall(proc.stdout)
    return wall, sum(int(changed) for _, changed, _, _ in recap)


def make(target: str) -> None:
    subprocess.run(["make", "--no-print-directory", target], cwd=REPO, check=True, stdout=subprocess.DEVNULL)


def ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def bench_tasks(probes: int) -> list[str]:
    api = AirflowApi()
    run_id, state = api.run_to_end("cluster_smoke", {"probes": probes, "seconds": 0}, timeout=1800)
    tis = [ti for ti in api.task_instances("cluster_smoke", run_id) if ti["task_id"].startswith("hostname_")]
    latency = [ts(ti["start_date"]) - ts(ti["queued_when"]) for ti in tis]
    span = max(ts(ti["end_date"]) for ti in tis) - min(ts(ti["start_date"]) for ti in tis)
    hosts = sorted({short_host(ti) for ti in tis})
    return [
        f"| tasks | {len(tis)} mapped tasks ({probes} per queue), run {state} | "
        f"queued->running p50 {statistics.median(latency):.1f} s, p95 {percentile(latency, 95):.1f} s; "
        f"{len(tis) / span * 60:.0f} tasks/min over {span:.0f} s on {', '.join(hosts)} | load {load()} |"
    ]


RSS_SCRIPT = r"""
import pathlib, subprocess, sys
# The unit's cgroup as systemd names it; cgroup v2 or the v1 name=systemd hierarchy.
group = subprocess.run(["systemctl", "show", "-p", "ControlGroup", "--value", sys.argv[1]],
                       capture_output=True, text=True, check=True).stdout.strip()
for root in ("/sys/fs/cgroup", "/sys/fs/cgroup/systemd"):
    procs = pathlib.Path(root + group + "/cgroup.procs")
    if procs.exists():
        break
total = 0
for pid in procs.read_text().split():
    try:
        status = pathlib.Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        continue
    total += sum(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
print(total // 1024)
"""


def bench_rss() -> list[str]:
    rows = []
    for host, components in UNITS.items():
        for component in components:
            out = subprocess.run(["docker", "exec", host, "python3", "-c", RSS_SCRIPT, f"airflow-{component}.service"],
                                 capture_output=True, text=True)
            value = f"{out.stdout.strip()} MiB" if out.returncode == 0 else "n/a"
            rows.append(f"| rss | {component} on {host} | {value} | |")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phases", default="cold,rerun,add,tasks,rss")
    parser.add_argument("--probes", type=int, default=50, help="mapped tasks per queue in the task phase")
    args = parser.parse_args()
    phases = args.phases.split(",")
    rows = ["| phase | what | figure | conditions |", "|---|---|---|---|"]

    def emit(row: str) -> None:
        rows.append(row)
        print(row, flush=True)

    if "cold" in phases:
        make("lab-down")
        make("lab-up")
        wall, changed = playbook(*INVENTORY, "site.yml")
        emit(f"| cold | site.yml on a fresh 12-host lab | {wall / 60:.1f} min ({changed} changed) | load {load()} |")
    if "rerun" in phases:
        wall, changed = playbook(*INVENTORY, "site.yml")
        emit(f"| rerun | site.yml again | {wall:.0f} s, changed={changed} | load {load()} |")
    if "add" in phases:
        # A brand-new host every time: an earlier run (or the e2e suite) may have left one configured.
        subprocess.run(["docker", "rm", "-f", "--volumes", "lab-worker4"], capture_output=True)
        playbook(*EXTRA, "lab/up.yml", "--limit", "localhost,lab-worker4")
        wall, changed = playbook(*EXTRA, "playbooks/add_worker.yml", "--limit", "lab-worker4")
        emit(f"| add | add_worker.yml --limit lab-worker4 (new container) | {wall:.0f} s ({changed} changed) "
             f"| load {load()} |")
    if "tasks" in phases:
        for row in bench_tasks(args.probes):
            emit(row)
    if "rss" in phases:
        for row in bench_rss():
            emit(row)
    print("\n" + "\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
