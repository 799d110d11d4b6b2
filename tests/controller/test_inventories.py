"""The shipped inventories describe the same topology, and the secrets tool keeps its promises."""

from __future__ import annotations

import subprocess

import yaml
from ansible.parsing.vault import VaultLib, VaultSecret, is_encrypted
from ansible.constants import DEFAULT_VAULT_ID_MATCH

from conftest import REPO, SECRETS, VENV_BIN


def inventory_groups(path: str) -> dict[str, list[str]]:
    """Group -> child groups, as Ansible itself parses the inventory (--graph reads no vars)."""
    out = subprocess.run(
        [str(VENV_BIN / "ansible-inventory"), "-i", path, "--graph"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout
    children: dict[str, list[str]] = {}
    stack: list[tuple[int, str]] = []
    for line in out.splitlines():
        depth = line.find("@") if "@" in line else None
        if depth is None:
            continue
        name = line[depth + 1:].rstrip(":")
        while stack and stack[-1][0] >= depth:
            stack.pop()
        if stack:
            children.setdefault(stack[-1][1], []).append(name)
        children.setdefault(name, [])
        stack.append((depth, name))
    return children


def test_production_example_has_the_lab_topology():
    lab = inventory_groups("inventories/lab/hosts.yml")
    prod = inventory_groups("inventories/production.example/hosts.yml")
    assert prod == lab
    assert set(prod["airflow_workers"]) == {"workers_default", "workers_etl"}


def test_production_example_uses_ssh_and_no_real_secrets():
    conn = yaml.safe_load((REPO / "inventories/production.example/group_vars/all/connection.yml").read_text())
    assert "ansible_connection" not in conn and conn["ansible_become"] is True
    assert not (REPO / "inventories/production.example/group_vars/all/vault.yml").exists()


def run_generator(tmp_path, *extra):
    return subprocess.run(
        [str(VENV_BIN / "python"), "scripts/generate-secrets.py", str(tmp_path),
         "--vault-password-file", str(tmp_path / "pass"), *extra],
        cwd=REPO, capture_output=True, text=True, check=True,
    )


def decrypt(path, password: bytes) -> dict:
    vault = VaultLib([(DEFAULT_VAULT_ID_MATCH, VaultSecret(password))])
    return yaml.safe_load(vault.decrypt(path.read_bytes()))


def test_generated_secrets_are_encrypted_complete_and_kept(tmp_path):
    (tmp_path / "pass").write_text("test-vault-password\n")
    first = run_generator(tmp_path)
    vault_file = tmp_path / "group_vars/all/vault.yml"
    assert is_encrypted(vault_file.read_bytes())
    values = decrypt(vault_file, b"test-vault-password")
    assert set(values) == {s["name"] for s in SECRETS}
    assert len(set(values.values())) == len(values), "every secret must be different"
    assert all(v not in first.stdout for v in values.values()), "a secret value was printed"

    # A second run keeps every value; a removed secret is regenerated, the others untouched.
    run_generator(tmp_path)
    assert decrypt(vault_file, b"test-vault-password") == values


def test_fernet_key_is_a_valid_fernet_key(tmp_path):
    import base64

    (tmp_path / "pass").write_text("pw")
    run_generator(tmp_path)
    key = decrypt(tmp_path / "group_vars/all/vault.yml", b"pw")["vault_airflow_fernet_key"]
    assert len(base64.urlsafe_b64decode(key)) == 32
