"""Shared DAG defaults: retries with exponential backoff, alerting, the run deadline.

Every DAG of the project takes these, so one environment variable changes them everywhere:

``PIPELINE_RETRIES`` (2), ``PIPELINE_RETRY_DELAY_SECONDS`` (30), ``PIPELINE_MAX_RETRY_DELAY_SECONDS`` (600),
``PIPELINE_DEADLINE_MINUTES`` (30), ``PIPELINE_TASK_TIMEOUT_MINUTES`` (60), ``PIPELINE_POOL`` (dataframe_steps).
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference, Param

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


def partition_params(example: str = "2026-10-09") -> dict[str, Param]:
    """The ``partition`` param every pipeline DAG declares: the partition a manual run without a logical
    date processes (``{"partition": "2026-10-09"}``; a sub-daily DAG takes ``"2026-10-09T03:00"``). Runs
    with a logical date, backfills and asset-triggered runs need none (see ``core/partition.py``)."""
    from dataframe_pipeline.core.partition import PARTITION_PARAM

    return {
        PARTITION_PARAM: Param(
            None,
            type=["null", "string"],
            description=f"Partition to process when the run has no logical date, e.g. {example}",
        )
    }


def run_deadline(minutes: int | None = None) -> DeadlineAlert:
    """Alert when a run takes ``minutes`` longer than the average of its last successful runs.

    The deadline is set when the run is created: now + average runtime of the last 10 successful
    runs + ``minutes`` (none until 3 runs have succeeded). Why not ``DAGRUN_QUEUED_AT``: in Airflow
    3.3.2, clearing a run whose DAG has a queued-at deadline fails (``clear_task_instances`` reads
    the stored interval as seconds, but it is stored serialised), which would break "Clear" in the
    UI and re-runs over REST. ``DAGRUN_LOGICAL_DATE`` would fire at once for every backfill run.
    """
    return DeadlineAlert(
        reference=DeadlineReference.AVERAGE_RUNTIME(max_runs=10, min_runs=3),
        interval=timedelta(minutes=minutes or _env_int("PIPELINE_DEADLINE_MINUTES", 30)),
        callback=AsyncCallback(PipelineAlertNotifier, kwargs={"title": "deadline missed"}),
    )


def daily_paths(pattern: str, first_day: str, last_day: str) -> list[str]:
    """The paths of a window of daily files: ``pattern`` with ``{day}`` for each day from ``first_day`` to
    ``last_day`` (inclusive, ``YYYY-MM-DD``). A DAG macro: ``source="{{ daily_paths(...) }}"`` (with
    ``render_template_as_native_obj=True`` the operator gets the list)."""
    from datetime import date, timedelta

    from dataframe_pipeline.exceptions import ConfigurationError

    try:
        first, last = date.fromisoformat(str(first_day)), date.fromisoformat(str(last_day))
    except ValueError as err:
        raise ConfigurationError("window", (first_day, last_day), f"days must be YYYY-MM-DD ({err})") from None
    if last < first:
        raise ConfigurationError("window", (first_day, last_day), "the last day is before the first")
    return [pattern.format(day=(first + timedelta(days=n)).isoformat()) for n in range((last - first).days + 1)]
