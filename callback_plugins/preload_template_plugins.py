"""Load Ansible's Jinja filter and test plugins once, in the controller's main process.

ansible-playbook forks a worker per task and host, and a worker that evaluates a filter (even
`dict2items` in a `when:`) first loads every filter and test plugin file: the main process never
needed them, so no worker inherits them. Loading them before the first fork lets every worker
inherit the loaded plugins. On the lab's converged re-run this takes a third off the controller CPU
of filter-heavy tasks (docs/benchmarks.md). It changes no result and prints nothing.
"""

from __future__ import annotations

from ansible.plugins.callback import CallbackBase
from ansible.plugins.loader import filter_loader, test_loader

DOCUMENTATION = """
name: preload_template_plugins
type: aggregate
short_description: load Jinja filter and test plugins before Ansible forks its workers
description:
  - Loads every filter and test plugin (ansible.builtin and the project's filter_plugins) in the
    controller's main process, so the per-task worker processes inherit them instead of each
    loading them again.
requirements:
  - enabled in ansible.cfg (callbacks_enabled)
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "preload_template_plugins"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Callbacks are set up before the strategy forks its first worker.
        for loader in (filter_loader, test_loader):
            list(loader.all())
