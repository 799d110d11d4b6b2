"""Smoke DAG of the airflow Molecule scenario: one Bash task on the default Celery queue."""

from datetime import datetime

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

with DAG(
    "molecule_smoke",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    is_paused_upon_creation=False,
    tags=["molecule"],
):
    BashOperator(task_id="hello", bash_command='echo "molecule-smoke-$((6 * 7)) on $(hostname)"')
