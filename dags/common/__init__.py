"""Helpers shared by the DAGs in this folder (ignored by the DAG processor, see .airflowignore)."""
