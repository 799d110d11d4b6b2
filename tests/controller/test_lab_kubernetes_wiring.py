"""The lab's KubernetesExecutor wiring (test double): its inventory-only secret is generated, and the
lab's airflow group_vars pass preflight (role argument specs, kubeconfig shape, pod template inputs)."""

from __future__ import annotations

import subprocess

import yaml

from conftest import REPO, SECRETS, VENV_BIN, run_playbook
from test_inventories import decrypt

LAB = REPO / "inventories/lab"


def generate(inventory, check=True):
    return subprocess.run(
        [str(VENV_BIN / "python"), "scripts/generate-secrets.py", str(inventory),
         "--vault-password-file", str(inventory / "pass")],
        cwd=REPO, capture_output=True, text=True, check=check,
    )


def test_inventory_catalogue_adds_its_own_secrets(tmp_path):
    (tmp_path / "pass").write_text("pw\n")
    (tmp_path / "secrets.yml").write_text(yaml.safe_dump(
        {"inventory_secrets": [{"name": "vault_extra_token", "kind": "token", "groups": ["airflow"]}]}))
    first = generate(tmp_path)
    values = decrypt(tmp_path / "group_vars/all/vault.yml", b"pw")
    assert set(values) == {s["name"] for s in SECRETS} | {"vault_extra_token"}
    assert len(values["vault_extra_token"]) == 64 and values["vault_extra_token"] not in first.stdout
    generate(tmp_path)
    assert decrypt(tmp_path / "group_vars/all/vault.yml", b"pw") == values

    # A name of the cluster's catalogue may not be redefined; nothing is written then.
    (tmp_path / "secrets.yml").write_text(yaml.safe_dump(
        {"inventory_secrets": [{"name": SECRETS[0]["name"], "kind": "token"}]}))
    before = (tmp_path / "group_vars/all/vault.yml").read_bytes()
    dup = generate(tmp_path, check=False)
    assert dup.returncode != 0 and "already in" in dup.stderr
    assert (tmp_path / "group_vars/all/vault.yml").read_bytes() == before


def test_lab_catalogue_has_the_double_token():
    extra = yaml.safe_load((LAB / "secrets.yml").read_text())["inventory_secrets"]
    assert {"name": "vault_lab_k8s_double_token", "kind": "token", "groups": ["airflow"]} in extra
    assert not {s["name"] for s in extra} & {s["name"] for s in SECRETS}


def test_lab_kubernetes_group_vars_pass_preflight(inventory):
    """inventories/lab/group_vars/airflow.yml as is, on the fixture inventory (sched1 = the double's host)."""
    lab_all = yaml.safe_load((LAB / "group_vars/all/lab.yml").read_text())
    lab_airflow = yaml.safe_load((LAB / "group_vars/airflow.yml").read_text())
    assert lab_airflow["airflow_kubernetes_executor_enabled"] is True
    inventory.data["all"]["vars"].update(
        {k: v for k, v in lab_all.items() if k.startswith("lab_k8s_double_") or k == "cluster_kubernetes_namespace"},
        lab_k8s_double_host="sched1", lab_k8s_double_address="192.0.2.31")
    inventory.groups["airflow"]["vars"] = lab_airflow
    inventory.vault["vault_lab_k8s_double_token"] = "0" * 64
    result = run_playbook("playbooks/preflight.yml", inventory.write())
    assert result.returncode == 0, result.stdout + result.stderr

    # The kubeconfig the schedulers get points at the double with the vault's token.
    shown = subprocess.run(
        [str(VENV_BIN / "ansible"), "-i", str(inventory.root / "hosts.yml"), "sched1", "-m", "ansible.builtin.debug",
         "-a", "var=airflow_kubernetes_kubeconfig"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout
    kubeconfig = yaml.safe_load(yaml.safe_load(shown.split("=>", 1)[1])["airflow_kubernetes_kubeconfig"])
    assert kubeconfig["clusters"][0]["cluster"]["server"] == "http://192.0.2.31:6443"
    assert kubeconfig["users"][0]["user"]["token"] == "0" * 64
    assert kubeconfig["contexts"][0]["context"]["namespace"] == lab_all["cluster_kubernetes_namespace"]
