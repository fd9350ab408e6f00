"""Shared DAG defaults: retries with exponential backoff, alerting, the run deadline.

Every DAG of the project takes these, so one environment variable changes them everywhere:

``PIPELINE_RETRIES`` (2), ``PIPELINE_RETRY_DELAY_SECONDS`` (30), ``PIPELINE_MAX_RETRY_DELAY_SECONDS`` (600),
``PIPELINE_DEADLINE_MINUTES`` (60), ``PIPELINE_TASK_TIMEOUT_MINUTES`` (60), ``PIPELINE_POOL`` (dataframe_steps).
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference

from dataframe_pipeline.alerts import PipelineAlertNotifier


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def default_args(**overrides: Any) -> dict[str, Any]:
    """``default_args`` for a pipeline DAG."""
    args: dict[str, Any] = {
        "owner": "data-platform",
        "retries": _env_int("PIPELINE_RETRIES", 2),
        "retry_delay": timedelta(seconds=_env_int("PIPELINE_RETRY_DELAY_SECONDS", 30)),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(seconds=_env_int("PIPELINE_MAX_RETRY_DELAY_SECONDS", 600)),
        "execution_timeout": timedelta(minutes=_env_int("PIPELINE_TASK_TIMEOUT_MINUTES", 60)),
        "on_failure_callback": [PipelineAlertNotifier(title="task failed")],
        "pool": os.environ.get("PIPELINE_POOL", "dataframe_steps"),
    }
    args.update(overrides)
    return args


def run_deadline(minutes: int | None = None) -> DeadlineAlert:
    """Alert when a run has not finished ``minutes`` after it was queued (Airflow 3's SLA)."""
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=timedelta(minutes=minutes or _env_int("PIPELINE_DEADLINE_MINUTES", 60)),
        callback=AsyncCallback(PipelineAlertNotifier, kwargs={"title": "deadline missed"}),
    )
