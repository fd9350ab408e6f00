"""Per-step pipeline metrics, pushed to a Prometheus Pushgateway (the usual pattern for batch jobs).

Each step task pushes, when it ends, the gauges of :data:`METRICS` (rows in, out, quarantined, dropped by
rule, bytes written, duration, rows/s, peak memory, validation success, freshness, quarantine ratio, and
the time of its last success or failure). Enabled when ``DATAFRAME_PIPELINE_PUSHGATEWAY_URL`` is set, or
an Airflow connection ``pipeline_metrics`` (host, port, schema ``http``/``https``) exists; otherwise a
no-op with one debug line. A push that fails is a warning in the task log, never a task failure.

Grouping key ``job=dataframe_pipeline, dag_id, task_id``: the Pushgateway keeps the last push of each task
(a later push replaces the metrics of the same names in that group, ``pushadd``), and Prometheus keeps the
history. The partition (``date=2026-10-09``) and the step are labels of the series, not of the grouping
key, so the gateway never accumulates one group per day: a backfill shows every partition in Prometheus as
it is scraped, and the gateway holds the latest. The run id is not a label (one new series per run).

:func:`step_samples` is pure (a step result in, samples out); :func:`push_step_metrics` is the hook the
step operators call.
"""

from __future__ import annotations

import logging
import os
import resource
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)

URL_ENV = "DATAFRAME_PIPELINE_PUSHGATEWAY_URL"
CONN_ID = "pipeline_metrics"
JOB = "dataframe_pipeline"
PREFIX = "dataframe_pipeline_"
PUSH_TIMEOUT_SECONDS = 5.0

#: every metric the project emits (without the prefix): its help text. Units in the names.
METRICS: dict[str, str] = {
    "rows_in": "Rows the step read",
    "rows_out": "Rows the step wrote to its output",
    "rows_quarantined": "Rows the step sent to its quarantine",
    "rows_dropped": "Rows the step dropped by a named rule (all rules)",
    "rows_dropped_by_rule": "Rows the step dropped, by rule",
    "rows_quarantined_by_rule": "Rows the step quarantined, by rule",
    "output_bytes": "Bytes of the step's output dataset (its manifest)",
    "duration_seconds": "Wall time of the step's run",
    "rows_per_second": "Rows in per second of the step's run",
    "peak_memory_bytes": "Peak resident memory of the task process (ru_maxrss)",
    "quarantine_ratio": "Rows quarantined / rows in",
    "validation_success": "1 when the validation suite passed, 0 when it failed (validate steps)",
    "freshness_seconds": "Age of the newest timestamp at the end of the partition (validate monitors)",
    "last_success_timestamp_seconds": "Unix time of the step's last successful run",
    "last_failure_timestamp_seconds": "Unix time of the step's last failed run (configuration, data contract)",
}


@dataclass(frozen=True)
class Sample:
    """One value of one series: ``PREFIX + name{labels} value``."""

    name: str
    value: float
    labels: tuple[tuple[str, str], ...] = ()

    @property
    def full_name(self) -> str:
        return PREFIX + self.name


def peak_memory_bytes() -> int:
    """Peak resident memory of this process (Linux reports ``ru_maxrss`` in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def step_samples(
    result: Mapping[str, Any] | None,
    *,
    step: str,
    partition: str,
    duration_seconds: float,
    peak_memory: int | None = None,
    output_bytes: int | None = None,
    failed: Exception | None = None,
    now: float | None = None,
) -> list[Sample]:
    """The samples of one step run, from its result (``StepResult.as_dict()``) or, for a failed run, its error.

    :param result: the step's result, or None when the run failed.
    :param step: the step (``ingest``, ``clean``, ...), a label.
    :param partition: the partition's path (``date=2026-10-09``), a label.
    :param failed: the error of a failed run (a ``ValidationFailedError`` also gives ``validation_success 0``).
    """
    base = (("step", step), ("partition", partition))
    stamp = time.time() if now is None else now
    out: list[Sample] = []
    if peak_memory is not None:
        out.append(Sample("peak_memory_bytes", float(peak_memory), base))
    out.append(Sample("duration_seconds", float(duration_seconds), base))
    if result is None:
        out.append(Sample("last_failure_timestamp_seconds", stamp, base))
        if type(failed).__name__ == "ValidationFailedError":
            out.append(Sample("validation_success", 0.0, base))
        return out
    acct = result.get("accounting") or {}
    rows_in = float(acct.get("rows_in") or 0)
    for key in ("rows_in", "rows_out", "rows_quarantined", "rows_dropped"):
        out.append(Sample(key, float(acct.get(key) or 0), base))
    for key in ("dropped_by_rule", "quarantined_by_rule"):
        for rule, rows in sorted((acct.get(key) or {}).items()):
            out.append(Sample(f"rows_{key}", float(rows), (*base, ("rule", str(rule)))))
    out.append(Sample("quarantine_ratio", float(acct.get("rows_quarantined") or 0) / rows_in if rows_in else 0.0, base))
    out.append(Sample("rows_per_second", rows_in / duration_seconds if duration_seconds > 0 else 0.0, base))
    if output_bytes is not None:
        out.append(Sample("output_bytes", float(output_bytes), base))
    validation = result.get("validation")
    if isinstance(validation, dict):
        out.append(Sample("validation_success", 1.0 if validation.get("success") else 0.0, base))
        freshness = (validation.get("metrics") or {}).get("freshness_seconds")
        if isinstance(freshness, int | float):
            out.append(Sample("freshness_seconds", float(freshness), base))
    out.append(Sample("last_success_timestamp_seconds", stamp, base))
    return out


def pushgateway_url() -> str | None:
    """The Pushgateway's URL: ``DATAFRAME_PIPELINE_PUSHGATEWAY_URL``, else the ``pipeline_metrics``
    connection's host, else None."""
    url = os.environ.get(URL_ENV, "").strip()
    if url:
        return url
    try:
        from airflow.sdk import BaseHook

        conn = BaseHook.get_connection(CONN_ID)
    except Exception:  # no connection (or no Airflow API in this process): metrics are off
        return None
    if not conn.host:
        return None
    host = conn.host if "://" in conn.host else f"{conn.schema or 'http'}://{conn.host}"
    return f"{host}:{conn.port}" if conn.port else host


def push(samples: list[Sample], *, url: str, grouping_key: Mapping[str, str]) -> None:
    """Push the samples as gauges to the Pushgateway (``pushadd``: other metrics of the group stay).

    :raises OSError: the gateway did not answer or refused the push.
    """
    from prometheus_client import CollectorRegistry, Gauge, pushadd_to_gateway

    registry = CollectorRegistry()
    gauges: dict[str, Gauge] = {}
    for sample in samples:
        names = tuple(k for k, _ in sample.labels)
        gauge = gauges.get(sample.name)
        if gauge is None:
            gauge = Gauge(sample.full_name, METRICS[sample.name], names, registry=registry)
            gauges[sample.name] = gauge
        gauge.labels(*(v for _, v in sample.labels)).set(sample.value)
    pushadd_to_gateway(url, job=JOB, registry=registry, grouping_key=dict(grouping_key), timeout=PUSH_TIMEOUT_SECONDS)


def push_step_metrics(
    task: Any,
    context: Mapping[str, Any],
    result: Mapping[str, Any] | None,
    *,
    started: float,
    size_of: Callable[[str], int | None] | None = None,
    failed: Exception | None = None,
) -> list[Sample]:
    """Push a step run's metrics if a Pushgateway is configured; never raises.

    :param task: the step operator (its ``step``, ``dag_id``, ``task_id``).
    :param context: the task's context (its ``partition``; a mapped task's ``ti.map_index`` joins the
        grouping key so that parallel instances do not replace each other's metrics).
    :param result: the step's result, None for a failed run (then ``failed`` is its error).
    :param started: ``time.monotonic()`` when the step began.
    :param size_of: the bytes of a dataset by its URI (the output's manifest), optional.
    :returns: the samples pushed (empty when metrics are off or the push failed).
    """
    url = pushgateway_url()
    if not url:
        log.debug("pipeline metrics off: set %s or the Airflow connection %s", URL_ENV, CONN_ID)
        return []
    try:
        partition = getattr(context.get("partition"), "path", None) or ((result or {}).get("partition") or {}).get(
            "path"
        )
        uri = ((result or {}).get("dataset") or {}).get("uri")
        samples = step_samples(
            result,
            step=str(task.step),
            partition=str(partition or ""),
            duration_seconds=time.monotonic() - started,
            peak_memory=peak_memory_bytes(),
            output_bytes=size_of(uri) if size_of is not None and uri else None,
            failed=failed,
        )
        key = {"dag_id": str(task.dag_id), "task_id": str(task.task_id)}
        map_index = getattr(context.get("ti"), "map_index", None)
        if isinstance(map_index, int) and map_index >= 0:
            key["map_index"] = str(map_index)
        push(samples, url=url, grouping_key=key)
    except Exception as err:  # metrics must never fail a task
        log.warning("pipeline metrics not pushed to %s: %s: %s", url, type(err).__name__, err)
        return []
    log.info("pipeline metrics pushed to %s (%d series)", url, len(samples))
    return samples
