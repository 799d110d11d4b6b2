"""Daily Spark transform submitted with spark-submit to Kubernetes (``k8s://`` master).

The task runs in a KubernetesExecutor pod (queue ``kubernetes``): that pod holds the spark-submit
JVM, so the pod image carries a Spark client (k8s/pod-image). In cluster mode spark-submit creates
the driver pod, which then starts the executors; the task ends when the driver does.

Connection ``spark_k8s`` (type spark): host ``k8s://https://kubernetes.default.svc``, port 443,
extra ``{"deploy-mode": "cluster"}``. The pod's ServiceAccount token authenticates the submission.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import dag
from common.k8s_resources import pod_resources
from common.settings import K8S_NAMESPACE, KUBERNETES_QUEUE, SPARK_K8S_CONN_ID


@dag(
    schedule="@daily",
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["spark", "kubernetes"],
    default_args={"owner": "data-eng", "retries": 2, "retry_delay": timedelta(minutes=5)},
)
def spark_submit_transform():
    SparkSubmitOperator(
        task_id="run_spark_transform",
        queue=KUBERNETES_QUEUE,
        # The spark-submit JVM needs about 1 GiB; the Spark work happens in the driver/executor pods.
        executor_config=pod_resources(cpu="500m", memory="1536Mi"),
        conn_id=SPARK_K8S_CONN_ID,
        deploy_mode="cluster",
        # local:// = a path inside the Spark image, not on the submitting pod.
        application="local:///opt/spark/jobs/transform.py",
        application_args=["--date", "{{ ds }}"],
        name="daily-transform",
        conf={
            "spark.kubernetes.namespace": K8S_NAMESPACE,
            "spark.kubernetes.container.image": "registry.example.com/data/spark-jobs:3.5.7",
            "spark.kubernetes.authenticate.driver.serviceAccountName": "spark-driver",
            "spark.kubernetes.container.image.pullSecrets": "airflow-registry",
        },
        num_executors=4,
        executor_cores=2,
        executor_memory="8g",
        driver_memory="4g",
    )


spark_submit_transform()
