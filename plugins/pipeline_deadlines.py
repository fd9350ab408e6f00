"""Airflow plugin: registers the pipeline's deadline reference, so that the scheduler can decode the
DAGs' ``DeadlineAlert(reference=RunCreatedDeadline(), ...)`` (see ``dataframe_pipeline/deadlines.py``)."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from dataframe_pipeline.deadlines import RunCreatedDeadline


class PipelineDeadlinesPlugin(AirflowPlugin):
    """Custom deadline references of the pipeline."""

    name = "pipeline_deadlines"
    deadline_references = [RunCreatedDeadline]
