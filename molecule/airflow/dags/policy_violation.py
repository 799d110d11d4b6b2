"""Must be rejected by the cluster policy: its task names a queue no worker pool serves."""

from datetime import datetime

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

with DAG("molecule_policy_violation", schedule=None, start_date=datetime(2024, 1, 1), catchup=False):
    EmptyOperator(task_id="lost", queue="no_such_pool")
