"""Shared helpers for controller-side tests (no containers)."""

from __future__ import annotations

import atexit
import copy
import dataclasses
import os
import pathlib
import secrets
import shutil
import subprocess
import tempfile

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
VENV_BIN = REPO / ".venv" / "bin"
SECRETS = yaml.safe_load((REPO / "group_vars/all/secrets.yml").read_text())["cluster_secrets"]

# The fixture hosts all use the local connection, so their facts are this machine's. Gathering
# them once per test process (a fact cache; `gathering = smart` then skips the setup task) halves
# each preflight run; the checks under test read the same facts either way.
FACT_CACHE = tempfile.mkdtemp(prefix="preflight-facts-")
atexit.register(shutil.rmtree, FACT_CACHE, ignore_errors=True)


def run_playbook(playbook: str, inventory: pathlib.Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1", PATH=f"{VENV_BIN}:{os.environ['PATH']}",
               ANSIBLE_CACHE_PLUGIN="ansible.builtin.jsonfile", ANSIBLE_CACHE_PLUGIN_CONNECTION=FACT_CACHE,
               ANSIBLE_CACHE_PLUGIN_TIMEOUT="0")
    env.pop("ANSIBLE_VAULT_PASSWORD_FILE", None)
    return subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), "--forks", "20", playbook, *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )


@dataclasses.dataclass
class FixtureInventory:
    """A copy of tests/fixtures/inventory_valid.yml plus a full set of random secrets."""

    root: pathlib.Path
    data: dict
    vault: dict

    @property
    def groups(self) -> dict:
        return self.data["all"]["children"]

    def write(self) -> pathlib.Path:
        (self.root / "group_vars/all").mkdir(parents=True, exist_ok=True)
        (self.root / "group_vars/all/vault.yml").write_text(yaml.safe_dump(self.vault))
        path = self.root / "hosts.yml"
        path.write_text(yaml.safe_dump(self.data))
        return path


@pytest.fixture
def inventory(tmp_path) -> FixtureInventory:
    data = yaml.safe_load((REPO / "tests/fixtures/inventory_valid.yml").read_text())
    return FixtureInventory(tmp_path, copy.deepcopy(data), {s["name"]: secrets.token_hex(20) for s in SECRETS})
