"""Nightly feature engineering on a short-lived Dask cluster in Kubernetes.

There is no "DaskKubernetesOperator" in Airflow. Instead a KubernetesExecutor task (queue
``kubernetes``) starts a DaskCluster with ``dask_kubernetes.operator.KubeCluster`` (the Dask
Kubernetes operator must run in the cluster), submits the feature job, and deletes the cluster
when the block exits. The job itself (``features.jobs.build_features``) ships in the Dask image.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum

from airflow.sdk import dag, task
from common.k8s_resources import pod_resources
from common.settings import K8S_NAMESPACE, KUBERNETES_QUEUE


@dag(
    schedule="0 3 * * *",
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["dask", "ml", "kubernetes"],
    default_args={"owner": "ml-team", "retries": 1, "retry_delay": timedelta(minutes=10)},
)
def dask_feature_engineering():
    @task(queue=KUBERNETES_QUEUE, executor_config=pod_resources(cpu="1", memory="2Gi"))
    def build_features(ds: str | None = None, ds_nodash: str | None = None) -> dict:
        # Imported here: only this task's pod needs the Dask client, not every DAG parse.
        from pathlib import Path

        import yaml
        from dask_kubernetes.operator import KubeCluster
        from distributed import Client

        spec = yaml.safe_load((Path(__file__).parent / "dask" / "feature_cluster.yaml").read_text())
        # One cluster per run, so a retry or a manual rerun never shares another run's workers.
        name = f"features-{ds_nodash}"
        spec["metadata"]["name"] = name
        spec["spec"]["scheduler"]["service"]["selector"]["dask.org/cluster-name"] = name

        def run(date: str) -> dict:
            # Runs on a Dask worker, where the image provides the `features` package.
            from features.jobs import build_features as job

            return job(date=date)

        with KubeCluster(custom_cluster_spec=spec, namespace=K8S_NAMESPACE, shutdown_on_close=True) as cluster:
            with Client(cluster) as client:
                return client.submit(run, ds).result()

    build_features()


dask_feature_engineering()
