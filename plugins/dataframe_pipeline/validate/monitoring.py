"""Data-quality monitoring over time: per-run metrics and the monitors that judge them.

Metrics of a run (``validation["metrics"]``, stored in the history, ``validate/history.py``):

- ``row_count``: rows the validate step passed on; ``missing_rate``: per column, the share of nulls;
- ``duplicate_rate`` / ``outlier_rate``: rows the upstream steps dropped or quarantined under a
  duplicate rule (:data:`DUPLICATE_RULES`) / an outlier rule (:data:`OUTLIER_RULES`), over the rows
  ingest read; taken from the upstream steps' results (the operator pulls their XCom); None without them;
- ``newest``: the newest value of the ``freshness`` monitor's column, and ``freshness_seconds``, how old
  it is at the *partition's end* (not the wall clock: a backfill of last year is as fresh as it was).

Monitors, in the suite's top-level ``monitors`` section, each with an optional ``severity``
(``critical``, the default, blocks publishing like a failed expectation; ``warning`` is reported)::

    "monitors": {
      "max_missing_rate": {"amount": 0.05, "customer_email": 0.2, "severity": "warning"},
      "max_duplicate_rate": {"value": 0.1, "severity": "warning"},
      "max_outlier_rate": {"value": 0.05, "severity": "warning"},
      "volume_drop": {"last_n": 7, "max_drop": 0.5, "severity": "warning"},
      "freshness": {"column": "order_ts", "max_age": "2 days", "severity": "critical"}
    }

``volume_drop`` compares the row count with the median row count of the last ``last_n`` earlier
partitions in the history and fails when it fell by more than ``max_drop`` (a share); with no earlier
partition it passes and says so. ``max_age`` is a pandas Timedelta string (``"2 days"``, ``"36h"``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import pandas as pd

from dataframe_pipeline.exceptions import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from datetime import datetime

DUPLICATE_RULES = ("exact_duplicates", "key_duplicates")
OUTLIER_RULES = ("iqr_outliers", "zscore_outliers", "isolation_forest")
MONITORS = ("max_missing_rate", "max_duplicate_rate", "max_outlier_rate", "volume_drop", "freshness")
_SEVERITIES = {"critical": "error", "warning": "warning"}


def _field(name: str) -> str:
    return f"monitors.{name}"


def _rate(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ConfigurationError(_field(name), value, "must be a rate between 0 and 1")


def check_monitors(monitors: Mapping[str, Any]) -> None:
    """Raise ConfigurationError naming the monitor field and value that are wrong."""
    unknown = sorted(set(monitors) - set(MONITORS))
    if unknown:
        raise ConfigurationError(_field(unknown[0]), monitors[unknown[0]], f"unknown monitor; known: {list(MONITORS)}")
    for name, config in monitors.items():
        if not isinstance(config, dict):
            raise ConfigurationError(_field(name), config, "must be a mapping")
        severity = config.get("severity", "critical")
        if severity not in _SEVERITIES:
            raise ConfigurationError(_field(f"{name}.severity"), severity, f"must be one of {sorted(_SEVERITIES)}")
        _check_monitor(name, config)


def _check_monitor(name: str, config: Mapping[str, Any]) -> None:
    if name == "max_missing_rate":
        columns = {k: v for k, v in config.items() if k != "severity"}
        if not columns:
            raise ConfigurationError(_field(name), config, "name at least one column and its rate")
        for column, rate in columns.items():
            _rate(f"{name}.{column}", rate)
    elif name in ("max_duplicate_rate", "max_outlier_rate"):
        _rate(f"{name}.value", config.get("value"))
    elif name == "volume_drop":
        last_n = config.get("last_n")
        if isinstance(last_n, bool) or not isinstance(last_n, int) or last_n < 1:
            raise ConfigurationError(_field(f"{name}.last_n"), last_n, "must be a positive integer")
        _rate(f"{name}.max_drop", config.get("max_drop"))
    else:
        if not isinstance(config.get("column"), str):
            raise ConfigurationError(_field(f"{name}.column"), config.get("column"), "must be a column name")
        max_age_seconds(config.get("max_age"))


def max_age_seconds(value: Any) -> float:
    """``max_age`` in seconds: a number of seconds or a pandas Timedelta string."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    try:
        seconds = pd.Timedelta(value).total_seconds()
    except (TypeError, ValueError) as err:
        raise ConfigurationError(_field("freshness.max_age"), value, f"not a duration: {err}") from None
    if not seconds > 0:
        raise ConfigurationError(_field("freshness.max_age"), value, "must be positive")
    return seconds


class MetricsState:
    """Row count, nulls per column and the newest value of one column, fed batch by batch.

    :param freshness_column: the column whose newest value is tracked, or None.
    """

    def __init__(self, freshness_column: str | None = None) -> None:
        self.freshness_column = freshness_column
        self.rows = 0
        self.nulls: dict[str, int] = {}
        self.newest: pd.Timestamp | None = None

    def update(self, batch: pd.DataFrame) -> None:
        self.rows += len(batch)
        for column, count in batch.isna().sum().items():
            self.nulls[str(column)] = self.nulls.get(str(column), 0) + int(count)
        column = self.freshness_column
        if column is not None and column in batch.columns and len(batch):
            values = pd.to_datetime(batch[column], utc=True, errors="coerce").dropna()
            if len(values):
                newest = values.max()
                self.newest = newest if self.newest is None else max(self.newest, newest)

    def metrics(self, upstream: Iterable[Mapping[str, Any]], partition_end: datetime | None) -> dict[str, Any]:
        """The run's metrics (``validation["metrics"]``)."""
        rates = upstream_rates(upstream)
        freshness = None
        if self.newest is not None and partition_end is not None:
            freshness = (pd.Timestamp(partition_end).tz_convert("UTC") - self.newest).total_seconds()
        return {
            "row_count": self.rows,
            "missing_rate": {c: (n / self.rows if self.rows else 0.0) for c, n in self.nulls.items()},
            "duplicate_rate": rates["duplicate_rate"],
            "outlier_rate": rates["outlier_rate"],
            "newest": self.newest.isoformat() if self.newest is not None else None,
            "freshness_seconds": freshness,
        }


def upstream_rates(results: Iterable[Mapping[str, Any]]) -> dict[str, float | None]:
    """Duplicate and outlier rates from the upstream steps' results, over the rows ingest read."""
    results = [r for r in results if isinstance(r, dict) and isinstance(r.get("accounting"), dict)]
    if not results:
        return {"duplicate_rate": None, "outlier_rate": None}
    ingest = [r for r in results if r.get("step") == "ingest"]
    base = (
        sum(r["accounting"].get("rows_in", 0) for r in ingest)
        if ingest
        else max(r["accounting"].get("rows_in", 0) for r in results)
    )

    def removed(rules: tuple[str, ...]) -> int:
        total = 0
        for result in results:
            accounting = result["accounting"]
            for key in ("dropped_by_rule", "quarantined_by_rule"):
                total += sum(int(n) for rule, n in (accounting.get(key) or {}).items() if rule in rules)
        return total

    if not base:
        return {"duplicate_rate": 0.0, "outlier_rate": 0.0}
    return {"duplicate_rate": removed(DUPLICATE_RULES) / base, "outlier_rate": removed(OUTLIER_RULES) / base}


def _monitor(name: str, config: Mapping[str, Any], success: bool, message: str, *measured: Any) -> dict:
    observed, threshold = measured
    return {
        "name": name,
        "severity": _SEVERITIES[config.get("severity", "critical")],
        "success": bool(success),
        "message": message,
        "observed": observed,
        "threshold": threshold,
    }


def evaluate_monitors(
    monitors: Mapping[str, Any], metrics: Mapping[str, Any], previous_row_counts: list[float]
) -> list[dict[str, Any]]:
    """Judge the run's metrics. ``previous_row_counts``: row counts of earlier partitions, oldest first."""
    out: list[dict[str, Any]] = []
    for name, config in monitors.items():
        if name == "max_missing_rate":
            for column, limit in config.items():
                if column == "severity":
                    continue
                rate = metrics["missing_rate"].get(column)
                if rate is None:
                    out.append(
                        _monitor(
                            f"{name}:{column}", config, False, f"column {column!r} is not in the data", None, limit
                        )
                    )
                else:
                    ok = rate <= limit
                    out.append(
                        _monitor(
                            f"{name}:{column}",
                            config,
                            ok,
                            f"{column}: {rate:.4%} missing (max {limit:.4%})",
                            rate,
                            limit,
                        )
                    )
        elif name in ("max_duplicate_rate", "max_outlier_rate"):
            metric = name.removeprefix("max_")
            rate, limit = metrics[metric], config["value"]
            if rate is None:
                out.append(_monitor(name, config, True, f"{metric} unknown (no upstream results)", None, limit))
            else:
                out.append(_monitor(name, config, rate <= limit, f"{metric} {rate:.4%} (max {limit:.4%})", rate, limit))
        elif name == "volume_drop":
            out.append(_volume_drop(config, metrics["row_count"], previous_row_counts))
        else:
            out.append(_freshness(config, metrics))
    return out


def _volume_drop(config: Mapping[str, Any], rows: int, previous: list[float]) -> dict[str, Any]:
    recent = [float(v) for v in previous[-config["last_n"] :] if v is not None and not math.isnan(v)]
    limit = config["max_drop"]
    if not recent:
        return _monitor("volume_drop", config, True, "no earlier partition in the history", None, limit)
    median = float(pd.Series(recent).median())
    drop = 1 - rows / median if median > 0 else 0.0
    message = (
        f"{rows} rows against a median of {median:g} over the last {len(recent)} partitions: "
        f"drop {drop:.1%} (max {limit:.1%})"
    )
    return _monitor("volume_drop", config, drop <= limit, message, drop, limit)


def _freshness(config: Mapping[str, Any], metrics: Mapping[str, Any]) -> dict[str, Any]:
    limit = max_age_seconds(config["max_age"])
    age = metrics.get("freshness_seconds")
    name = f"freshness:{config['column']}"
    if age is None:
        return _monitor(name, config, False, f"no value of {config['column']!r} to date the data", None, limit)
    message = (
        f"newest {config['column']} {metrics['newest']} is {age / 3600:.1f} h before the partition end "
        f"(max {limit / 3600:.1f} h)"
    )
    return _monitor(name, config, age <= limit, message, age, limit)
