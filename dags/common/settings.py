"""Names the DAGs share with the deployment (inventory, k8s_offload role, Airflow connections).

Change them here, not in each DAG. Values must match the deployment:
- KUBERNETES_QUEUE: the queue the cluster policy routes to the KubernetesExecutor (never a Celery pool).
- K8S_NAMESPACE: ``cluster_kubernetes_namespace`` of the inventory (roles/cluster) (task pods and engine resources).
"""

from __future__ import annotations

KUBERNETES_QUEUE = "kubernetes"
K8S_NAMESPACE = "airflow-tasks"

# Connection ids: created by operators (Airflow UI, secrets backend or AIRFLOW_CONN_* variables).
# DAGs only name them; no credentials live in this folder.
KUBERNETES_CONN_ID = "kubernetes_default"  # in-cluster credentials of the task pod's ServiceAccount
SPARK_K8S_CONN_ID = "spark_k8s"  # spark connection, host k8s://https://kubernetes.default.svc
TRINO_CONN_ID = "trino_default"
