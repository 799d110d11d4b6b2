"""Deploy the clickstream Flink job with the Flink Kubernetes Operator and wait until it runs.

FlinkKubernetesOperator only creates the FlinkDeployment (flink/clickstream.yaml, rendered with
Jinja); the Flink operator in the cluster starts the JobManager and TaskManagers.
FlinkKubernetesSensor succeeds when the JobManager deployment is READY (the streaming job runs);
it fails on MISSING/ERROR. It does not wait for the job to finish: a streaming job never does.
Both tasks talk to the Kubernetes API with the task pod's ServiceAccount (``kubernetes_default``
with in-cluster credentials), so they run on the ``kubernetes`` queue.
"""

from __future__ import annotations

import pendulum

from airflow.providers.apache.flink.operators.flink_kubernetes import FlinkKubernetesOperator
from airflow.providers.apache.flink.sensors.flink_kubernetes import FlinkKubernetesSensor
from airflow.sdk import dag
from common.settings import K8S_NAMESPACE, KUBERNETES_CONN_ID, KUBERNETES_QUEUE


@dag(
    schedule=None,  # started by an operator or an upstream DAG; the job then keeps running
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["flink", "kubernetes", "streaming"],
    default_args={"owner": "streaming-team", "retries": 1, "queue": KUBERNETES_QUEUE},
)
def flink_clickstream_ingest():
    deploy = FlinkKubernetesOperator(
        task_id="deploy_clickstream_job",
        application_file="flink/clickstream.yaml",
        namespace=K8S_NAMESPACE,
        kubernetes_conn_id=KUBERNETES_CONN_ID,
    )
    FlinkKubernetesSensor(
        task_id="wait_until_running",
        # The name of the resource the previous task created (returned as XCom).
        application_name="{{ ti.xcom_pull(task_ids='deploy_clickstream_job')['metadata']['name'] }}",
        namespace=K8S_NAMESPACE,
        kubernetes_conn_id=KUBERNETES_CONN_ID,
        attach_log=True,
        poke_interval=30,
        timeout=15 * 60,
    ).set_upstream(deploy)


flink_clickstream_ingest()
