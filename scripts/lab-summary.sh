#!/usr/bin/env bash
# Print what `make demo` built and where to look.
set -euo pipefail
cd "$(dirname "$0")/.."
echo
echo "=== Lab cluster"
docker ps --filter label=org.airflow-lab.member=host --format '{{.Names}}\t{{.Status}}' | sort | while read -r name status; do
  addr=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$name")
  printf '  %-14s %-15s %s\n' "$name" "$addr" "$status"
done
cat <<TXT

Inventory:       inventories/lab/hosts.yml (groups and pools), group_vars/ (wiring)
Secrets:         inventories/lab/group_vars/all/vault.yml (ansible-vault; password in .lab/vault-pass)
Airflow UI:      http://172.30.83.41:8080 (user admin; password: vault_airflow_admin_password,
                 shown by 'ansible-vault view inventories/lab/group_vars/all/vault.yml')
Flower:          http://172.30.83.41:5555 (user flower; vault_airflow_flower_password)
REST API:        POST /auth/token, then /api/v2 with the bearer token (see scripts/lab_airflow.py)
Converge log:    re-run with 'make converge'; a second run reports changed=0
Shell on a host: docker exec -it lab-sched1 bash
Remove the lab:  make lab-down
TXT
