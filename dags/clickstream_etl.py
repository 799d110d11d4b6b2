"""End-to-end ETL: Spark on Kubernetes -> object storage (Parquet) -> warehouse (via Trino).

1. ``transform``: SparkKubernetesOperator creates the SparkApplication in spark/clickstream_etl.yaml;
   the Spark job writes the day's Parquet partition to ``s3a://lake/raw/clickstream/dt=<ds>/``.
2. ``register_partition``: Trino's Hive connector (catalog ``lake``) picks up the new partition.
3. ``load_warehouse``: replace the day in the warehouse table (Iceberg catalog ``warehouse``);
   delete + insert keeps reruns and backfills idempotent.
4. ``check_loaded``: fail the run if the day loaded no rows.

Steps 2-4 are SQL sent to Trino: light work for the ``etl`` Celery pool.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum

from airflow.providers.cncf.kubernetes.operators.spark_kubernetes import SparkKubernetesOperator
from airflow.providers.common.sql.operators.sql import SQLCheckOperator, SQLExecuteQueryOperator
from airflow.sdk import chain, dag
from common.settings import K8S_NAMESPACE, KUBERNETES_CONN_ID, KUBERNETES_QUEUE, TRINO_CONN_ID


@dag(
    schedule="0 4 * * *",
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["etl", "spark", "trino", "kubernetes"],
    default_args={
        "owner": "etl",
        "retries": 3,
        "retry_delay": timedelta(minutes=10),
        "queue": "etl",
    },
)
def clickstream_etl():
    transform = SparkKubernetesOperator(
        task_id="transform",
        queue=KUBERNETES_QUEUE,
        application_file="spark/clickstream_etl.yaml",
        namespace=K8S_NAMESPACE,
        kubernetes_conn_id=KUBERNETES_CONN_ID,
    )
    register_partition = SQLExecuteQueryOperator(
        task_id="register_partition",
        conn_id=TRINO_CONN_ID,
        sql="CALL lake.system.sync_partition_metadata('raw', 'clickstream', 'ADD')",
    )
    load_warehouse = SQLExecuteQueryOperator(
        task_id="load_warehouse",
        conn_id=TRINO_CONN_ID,
        sql=[
            "DELETE FROM warehouse.analytics.daily_clicks WHERE day = DATE '{{ ds }}'",
            """
            INSERT INTO warehouse.analytics.daily_clicks (day, country, page, clicks, sessions)
            SELECT DATE '{{ ds }}', country, page, count(*), count(DISTINCT session_id)
            FROM lake.raw.clickstream
            WHERE dt = '{{ ds }}'
            GROUP BY country, page
            """,
        ],
    )
    check_loaded = SQLCheckOperator(
        task_id="check_loaded",
        conn_id=TRINO_CONN_ID,
        sql="SELECT count(*) > 0 FROM warehouse.analytics.daily_clicks WHERE day = DATE '{{ ds }}'",
    )
    chain(transform, register_partition, load_warehouse, check_loaded)


clickstream_etl()
