"""Registers the project's timetables with Airflow (a custom timetable must be registered by a plugin to
be serialized by the dag-processor and read back by the scheduler and the api-server)."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from dataframe_pipeline.timetables import CronDataIntervalUntil


class PipelineTimetablesPlugin(AirflowPlugin):
    name = "dataframe_pipeline_timetables"
    timetables = [CronDataIntervalUntil]
