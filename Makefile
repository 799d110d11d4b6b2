# Front door. `make demo` builds the lab and converges the cluster on it; `make test` runs
# everything CI runs. Both install what they need (controller venv, Docker engine, base image).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

export PATH := $(CURDIR)/.venv/bin:$(PATH)
export ANSIBLE_FORCE_COLOR ?= 0
LAB_INVENTORY := inventories/lab/hosts.yml
LAB_VAULT_PASS := .lab/vault-pass
# Lab runs read the lab's generated vault with the lab's own password file, and use Mitogen's
# strategy (lab/strategy_plugins: ~2.5x faster over docker exec; production keeps `linear`).
LAB_ENV := ANSIBLE_VAULT_PASSWORD_FILE=$(CURDIR)/$(LAB_VAULT_PASS) \
           ANSIBLE_STRATEGY_PLUGINS=$(CURDIR)/lab/strategy_plugins ANSIBLE_STRATEGY=$${ANSIBLE_STRATEGY:-mitogen_linear}
MOLECULE_SCENARIOS ?= common database broker
PLAYBOOKS := site.yml $(wildcard playbooks/*.yml)

.PHONY: help venv engine image lab-secrets lab-up lab-down converge demo check lint syntax \
        pytest-controller pytest-dags pytest-double molecule e2e pod-image test-pod-image test bench-failover bench-provision lock clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

venv:  ## Controller venv (.venv) from requirements.txt
	@bash scripts/bootstrap-controller.sh

engine:  ## Docker engine (installs docker.io and starts dockerd if absent)
	@bash lab/docker-engine.sh

image: engine  ## Lab base image (debootstrap + docker import, cached by recipe)
	@bash lab/base-image.sh >/dev/null

lab-secrets: venv  ## Generate the lab's vault (once) with a lab-only vault password
	@mkdir -p .lab && chmod 700 .lab
	@[ -s $(LAB_VAULT_PASS) ] || (umask 077; python3 -c 'import secrets; print(secrets.token_urlsafe(32))' >$(LAB_VAULT_PASS))
	@python scripts/generate-secrets.py inventories/lab --vault-password-file $(LAB_VAULT_PASS)

lab-up: image lab-secrets  ## Create the lab containers (one systemd "VM" per inventory host)
	$(LAB_ENV) ansible-playbook -i $(LAB_INVENTORY) lab/up.yml -e lab_image=$$(bash lab/base-image.sh)

lab-down: lab-secrets  ## Remove the lab's containers and network (only those)
	$(LAB_ENV) ansible-playbook -i $(LAB_INVENTORY) lab/down.yml

converge: lab-secrets  ## Run site.yml on the lab
	$(LAB_ENV) ansible-playbook -i $(LAB_INVENTORY) site.yml

demo: lab-up converge  ## The main job: build the lab, converge site.yml on it, run the smoke DAG
	@$(LAB_ENV) bash scripts/lab-summary.sh
	$(LAB_ENV) python scripts/lab_airflow.py

lint: venv  ## yamllint + ansible-lint (production profile)
	yamllint -s .
	ansible-lint --profile production --offline -q

syntax: venv  ## ansible-playbook --syntax-check of every playbook
	@for p in $(PLAYBOOKS) lab/up.yml lab/down.yml; do \
	  ansible-playbook -i $(LAB_INVENTORY) --syntax-check "$$p" >/dev/null || { echo "syntax error in $$p"; exit 1; }; \
	done; echo "syntax ok: $(words $(PLAYBOOKS)) playbooks + lab"

pytest-controller: venv  ## Controller tests: preflight, filters, group_vars, secrets (no containers)
	pytest -q -p no:cacheprovider -n 2 tests/controller

pytest-dags: venv  ## DAG, cluster policy and Kubernetes manifest tests (Airflow venv, no containers)
	@bash scripts/bootstrap-dags-venv.sh
	.venv-airflow/bin/pytest -q -p no:cacheprovider tests/unit

# No separate `syntax`: ansible-lint's syntax-check rule runs ansible-playbook --syntax-check on
# every playbook, lab/ included.
check:  ## Fast tier, no containers (every commit): lint and both pytest parts side by side
	@$(MAKE) --no-print-directory --jobs=3 --output-sync=target lint pytest-controller pytest-dags

pytest-double: venv  ## Kubernetes API test double: its own tests and the k8s_offload role applied to it (loopback)
	@bash scripts/bootstrap-dags-venv.sh
	.venv-airflow/bin/pytest -q -c tests/k8s_double/pytest.ini tests/k8s_double

molecule: venv image  ## Molecule scenarios (converge, idempotence, verify) for each role
	@for s in $(MOLECULE_SCENARIOS); do \
	  echo "=== molecule test -s $$s"; start=$$(date +%s); \
	  molecule test -s "$$s"; echo "=== $$s passed in $$(( $$(date +%s) - start )) s"; \
	done

e2e: image lab-secrets  ## Whole-cluster tests on a fresh lab (E2E_REUSE_LAB=1 keeps the current one)
	@[ "$${E2E_REUSE_LAB:-0}" = 1 ] || $(MAKE) --no-print-directory lab-down
	@$(MAKE) --no-print-directory lab-up
	$(LAB_ENV) pytest -q -p no:cacheprovider tests/e2e

POD_IMAGE ?= airflow-lab/airflow-pod:dev
# On the lab's Debian 12 image (no registry to pull python:3.11-slim-bookworm from) and without the
# Spark client (archive.apache.org is not reachable here); k8s/pod-image/README.md has the real build.
pod-image: venv image  ## Build the KubernetesExecutor pod image (k8s/pod-image) on the lab's Debian 12 image
	bash k8s/pod-image/build.sh -q -t $(POD_IMAGE) \
	  --build-arg BASE_IMAGE=$$(bash lab/base-image.sh) --build-arg SPARK_VERSION=

test-pod-image: pod-image  ## Run the built pod image offline: the hosts' lock, UID/GID, the DAGs parse as on the hosts
	@bash scripts/bootstrap-dags-venv.sh
	pytest -q -p no:cacheprovider tests/pod_image

test: check pytest-double test-pod-image molecule e2e  ## Everything CI runs

TRIALS ?= 5
bench-failover: venv image  ## Patroni and Sentinel failover: kill -> first write, TRIALS each (docs/benchmarks.md)
	molecule converge -s database
	python benchmarks/failover_postgres.py --trials $(TRIALS)
	molecule destroy -s database
	molecule converge -s broker
	python benchmarks/failover_redis.py --trials $(TRIALS)
	molecule destroy -s broker

bench-provision: venv image lab-secrets  ## Cold converge, re-run, add-worker, task latency, RSS (docs/benchmarks.md)
	$(LAB_ENV) python benchmarks/provision.py $(if $(PHASES),--phases $(PHASES))

lock: venv  ## Re-lock requirements.txt and the Airflow lock after editing a requirements.in
	uv pip compile -q requirements.in -o requirements.txt --python-version 3.11
	uv pip compile -q roles/airflow/files/requirements.in -o roles/airflow/files/requirements.lock \
	  --python-version 3.11 --python-platform x86_64-manylinux_2_36

clean: lab-down  ## Remove the lab and local caches (keeps the base image)
	rm -rf .cache
