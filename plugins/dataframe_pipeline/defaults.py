"""Shared DAG defaults: retries with exponential backoff, alerting, the run deadline.

Every DAG of the project takes these, so one environment variable changes them everywhere:

``PIPELINE_RETRIES`` (2), ``PIPELINE_RETRY_DELAY_SECONDS`` (30), ``PIPELINE_MAX_RETRY_DELAY_SECONDS`` (600),
``PIPELINE_DEADLINE_MINUTES`` (30), ``PIPELINE_TASK_TIMEOUT_MINUTES`` (60), ``PIPELINE_POOL`` (dataframe_steps),
``PIPELINE_ALERT_ON_RETRY`` (off: alert only when the retries are exhausted).
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

# airflow.sdk exports both (its __all__ and lazy imports), but the Task SDK's __init__.pyi stub leaves them out
from airflow.sdk import AsyncCallback, DeadlineAlert, Param  # type: ignore[attr-defined]

from dataframe_pipeline.alerts import PipelineAlertNotifier
from dataframe_pipeline.deadlines import RunCreatedDeadline


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def default_args(**overrides: Any) -> dict[str, Any]:
    """``default_args`` for a pipeline DAG.

    ``on_failure_callback`` fires once per task, when its last try failed (Airflow calls
    ``on_retry_callback`` for the tries before); a retry alert is opt-in (``PIPELINE_ALERT_ON_RETRY``).
    The delay doubles from ``retry_delay`` up to ``max_retry_delay``; configuration and data-contract
    errors fail at once without retry (``core/operators.py``).
    """
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
    if _env_flag("PIPELINE_ALERT_ON_RETRY"):
        args["on_retry_callback"] = [PipelineAlertNotifier(title="task up for retry")]
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


def run_deadline(minutes: float | None = None) -> DeadlineAlert:
    """Alert when a run is still running ``minutes`` after it was created (default
    ``PIPELINE_DEADLINE_MINUTES``, 30, read when the DAG file is parsed: change it without a code change).

    Every run gets the deadline, from the DAG's first run on (see :mod:`dataframe_pipeline.deadlines` for
    why neither ``AVERAGE_RUNTIME`` nor ``DAGRUN_QUEUED_AT`` is used). The callback runs in the triggerer;
    a run that has finished when the deadline passes (the scheduler marks deadlines of failed runs missed
    too) gets no alert.
    """
    return DeadlineAlert(
        reference=RunCreatedDeadline(),
        interval=timedelta(minutes=minutes or float(os.environ.get("PIPELINE_DEADLINE_MINUTES", "30"))),
        callback=AsyncCallback(PipelineAlertNotifier, kwargs={"title": "deadline missed"}),
        name="run deadline",
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
