"""callback_plugins/preload_template_plugins.py: filter and test plugins are loaded in the main
process (so the per-task worker forks inherit them), and ansible.cfg enables it."""

from __future__ import annotations

import subprocess

from conftest import REPO, VENV_BIN

PROBE = """
import sys
sys.path.insert(0, "callback_plugins")
before = set(sys.modules)
import preload_template_plugins
preload_template_plugins.CallbackModule()
loaded = set(sys.modules) - before
for kind, name in (("filter", "core"), ("filter", "cluster_preflight"), ("test", "core")):
    prefix = f"ansible.plugins.{kind}.{name}_"
    print(kind, name, any(m.startswith(prefix) for m in loaded))
"""


def test_plugin_loads_builtin_and_project_filters_and_tests():
    out = subprocess.run([str(VENV_BIN / "python"), "-c", PROBE], cwd=REPO, capture_output=True,
                         text=True, check=True).stdout.split("\n")
    assert out[:3] == ["filter core True", "filter cluster_preflight True", "test core True"], out


def test_ansible_cfg_enables_it():
    dump = subprocess.run([str(VENV_BIN / "ansible-config"), "dump", "--only-changed"], cwd=REPO,
                          capture_output=True, text=True, check=True).stdout
    enabled = next(line for line in dump.splitlines() if line.startswith("CALLBACKS_ENABLED"))
    assert "preload_template_plugins" in enabled
