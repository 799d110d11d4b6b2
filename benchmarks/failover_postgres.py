#!/usr/bin/env python3
"""Failover benchmark for the HA metadata database, against the converged `database` scenario.

    molecule converge -s database          # once: three Patroni members + the client with HAProxy
    python benchmarks/failover_postgres.py --trials 5

Each trial: a writer on mol-database-client inserts one row per connection through HAProxy
127.0.0.1:5432 and logs every acknowledged id; the current primary's container is SIGKILLed
(`docker kill`, a power cut: Patroni cannot release its lock); the time from the kill to the first
acknowledged write after it is measured; the writer stops and every acknowledged id is looked up
(lost = acknowledged but absent); the killed container is started again and the script waits until
the cluster is healthy (three members, a synchronous standby) before the next trial.
Prints per-trial figures, then the median and max seconds and the total of lost writes.
Uses only the docker CLI on the scenario's own containers.
"""

import argparse
import pathlib
import statistics
import sys
import time
import uuid

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "molecule" / "database" / "tests"))

import pgcluster as pc  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", "-n", type=int, default=5, help="number of failovers (default 5)")
    parser.add_argument("--timeout", type=float, default=120, help="give up on a trial after this many seconds")
    args = parser.parse_args()

    for name in pc.PG_HOSTS + [pc.CLIENT]:
        if not pc.is_running(name):
            sys.exit(f"{name} is not running: run `molecule converge -s database` first")
    print("waiting for a healthy cluster ...", flush=True)
    pc.wait_healthy()

    seconds, lost_total = [], 0
    for trial in range(1, args.trials + 1):
        run = f"bench-{uuid.uuid4().hex[:8]}"
        took, lost, old, new = pc.failover_trial(run, settle_timeout=args.timeout)
        seconds.append(took)
        lost_total += len(lost)
        print(f"trial {trial}: killed {old}, new primary {new}, first write after {took:.1f} s, "
              f"lost acknowledged writes: {len(lost)}", flush=True)
        pc.restore(old)
        started = time.monotonic()
        pc.wait_healthy(timeout=300)
        print(f"         {old} back as a replica, cluster healthy after {time.monotonic() - started:.0f} s", flush=True)

    print(f"\ntrials: {len(seconds)}  median: {statistics.median(seconds):.1f} s  "
          f"max: {max(seconds):.1f} s  lost acknowledged writes: {lost_total}")
    return 0 if lost_total == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
