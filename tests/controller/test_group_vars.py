"""The top-level group_vars/ must reach plays run through site.yml and through playbooks/*.yml.

Ansible loads group_vars next to the inventory or the playbook only; playbooks/group_vars is a
link to ../group_vars so both entry points see the same wiring.
"""

from __future__ import annotations

import pytest

from conftest import REPO, run_playbook


@pytest.mark.parametrize("entry", ["site.yml", "playbooks/preflight.yml"])
def test_top_level_group_vars_apply(inventory, entry):
    # Only the preflight play runs (tags), and it fails loudly if cluster_group_vars_loaded is unset.
    result = run_playbook(entry, inventory.write(), "--tags", "preflight", "--limit", "pg1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Preflight passed" in result.stdout


def test_link_points_at_the_top_level_directory():
    link = REPO / "playbooks/group_vars"
    assert link.is_symlink() and link.resolve() == (REPO / "group_vars").resolve()


def test_missing_group_vars_is_reported(inventory, tmp_path):
    # A copy of the preflight playbook somewhere without group_vars/ must fail with the fix.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "preflight.yml").write_text((REPO / "playbooks/preflight.yml").read_text())
    result = run_playbook(str(elsewhere / "preflight.yml"), inventory.write(), "--limit", "pg1")
    assert result.returncode != 0
    assert "the top-level group_vars/ did not load" in result.stdout
