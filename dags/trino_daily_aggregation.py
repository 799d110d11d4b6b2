"""Hourly refresh of today's sales aggregate with Trino (the seed guide's PrestoOperator example).

SQLExecuteQueryOperator from the common.sql provider runs the statements over the ``trino_default``
connection (type trino, from the trino provider). Trino does the work; the task is light and runs on
the ``etl`` Celery pool.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import dag
from common.settings import TRINO_CONN_ID


@dag(
    schedule="@hourly",
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["trino", "analytics"],
    default_args={"owner": "analytics", "retries": 2, "retry_delay": timedelta(minutes=5), "queue": "etl"},
)
def trino_daily_aggregation():
    # Trino takes one statement per request (no trailing semicolons): a list runs them in order.
    SQLExecuteQueryOperator(
        task_id="aggregate_daily_sales",
        conn_id=TRINO_CONN_ID,
        sql=[
            "DELETE FROM warehouse.analytics.daily_sales WHERE day = DATE '{{ ds }}'",
            """
            INSERT INTO warehouse.analytics.daily_sales (day, total_sales, order_cnt)
            SELECT date_trunc('day', order_ts), sum(amount), count(*)
            FROM lake.raw.orders
            WHERE order_ts >= TIMESTAMP '{{ ds }} 00:00:00' AND order_ts < TIMESTAMP '{{ ds }} 00:00:00' + INTERVAL '1' DAY
            GROUP BY 1
            """,
        ],
    )


trino_daily_aggregation()
