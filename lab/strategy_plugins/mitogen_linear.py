"""Lab and CI only: Mitogen's linear strategy, found by name from the controller venv.

Mitogen keeps one Python interpreter per host and caches module code in it, so a task costs a
message instead of a `docker exec` plus a fresh module import (about 0.4 CPU-seconds per task and
host on the lab). The Makefile's lab targets and tests/e2e select it (ANSIBLE_STRATEGY); it takes
over only connections named `docker`, `ssh` or `local`. Production inventories keep ansible.cfg's
stock `linear` strategy: ansible-core 2.19 deprecates third-party strategy plugins.
"""

import ansible_mitogen.loaders
import ansible_mitogen.strategy

_Linear = ansible_mitogen.loaders.strategy_loader.get("linear", class_only=True)


class StrategyModule(ansible_mitogen.strategy.StrategyMixin, _Linear):
    """The stock linear strategy, with Mitogen's connections and module runner."""
