"""The data-quality history: every run's metrics, one Parquet file per partition, in long format.

Location: ``<lake root>/_quality/<dag_id>/<task_id>/partition=<partition key>.parquet`` with the
columns :data:`COLUMNS` (``column`` is null for table-level metrics such as ``row_count``; ``value`` is
float64, timestamps as seconds since the epoch). A re-run of a partition replaces its file (written
atomically), so the history holds one run per partition: the last one. The report reads it with
:func:`read_history`.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

if TYPE_CHECKING:
    from collections.abc import Mapping

    from dataframe_pipeline.core.dataset import Location
    from dataframe_pipeline.core.partition import Partition

COLUMNS = ("dag_id", "task_id", "run_id", "partition", "recorded_at", "metric", "column", "value")
SCHEMA = pa.schema(
    [
        ("dag_id", pa.string()),
        ("task_id", pa.string()),
        ("run_id", pa.string()),
        ("partition", pa.string()),
        ("recorded_at", pa.timestamp("us", tz="UTC")),
        ("metric", pa.string()),
        ("column", pa.string()),
        ("value", pa.float64()),
    ]
)


def partition_key(partition: Partition) -> str:
    """The partition's key in file names: its fields joined, e.g. ``2026-10-09`` or ``2026-11-01_03``."""
    return "_".join(partition.values.values())


def history_file(location: Location, partition: Partition) -> Location:
    return location / f"partition={partition_key(partition)}.parquet"


def metric_rows(metrics: Mapping[str, Any]) -> list[tuple[str, str | None, float | None]]:
    """The metrics as (metric, column, value) rows."""
    rows: list[tuple[str, str | None, float | None]] = [("row_count", None, float(metrics["row_count"]))]
    rows += [("missing_rate", column, float(rate)) for column, rate in sorted(metrics["missing_rate"].items())]
    for name in ("duplicate_rate", "outlier_rate", "freshness_seconds"):
        value = metrics.get(name)
        rows.append((name, None, None if value is None else float(value)))
    newest = metrics.get("newest")
    rows.append(("newest", None, None if newest is None else pd.Timestamp(newest).timestamp()))
    return rows


def write_history(
    location: Location,
    *,
    dag_id: str,
    task_id: str,
    run_id: str,
    partition: Partition,
    metrics: Mapping[str, Any],
    recorded_at: datetime | None = None,
) -> Location:
    """Write (replace) this partition's history file; returns where."""
    from dataframe_pipeline.core.dataset import write_atomic

    rows = metric_rows(metrics)
    when = recorded_at or datetime.now(UTC)
    n = len(rows)
    table = pa.table(
        {
            "dag_id": [dag_id] * n,
            "task_id": [task_id] * n,
            "run_id": [run_id] * n,
            "partition": [partition_key(partition)] * n,
            "recorded_at": [when] * n,
            "metric": [r[0] for r in rows],
            "column": [r[1] for r in rows],
            "value": [r[2] for r in rows],
        },
        schema=SCHEMA,
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    target = history_file(location, partition)
    target.fs.makedirs(location.path, exist_ok=True)
    write_atomic(target.fs, target.path, buffer.getvalue())
    return target


def read_history(location: Location | str) -> pd.DataFrame:
    """Every partition's metrics under ``location`` (a :class:`Location` or a URI/path), sorted by
    partition and metric; an empty frame with :data:`COLUMNS` when there is none."""
    import fsspec

    if isinstance(location, str):
        fs, path = fsspec.core.url_to_fs(location)
    else:
        fs, path = location.fs, location.path
    files = sorted(fs.glob(f"{path.rstrip('/')}/partition=*.parquet")) if fs.exists(path) else []
    if not files:
        return SCHEMA.empty_table().to_pandas()
    tables = []
    for name in files:
        with fs.open(name, "rb") as fh:
            tables.append(pq.read_table(fh, schema=SCHEMA))
    frame = pa.concat_tables(tables).to_pandas()
    return frame.sort_values(["partition", "metric", "column"], na_position="first").reset_index(drop=True)


def previous_row_counts(history: pd.DataFrame, partition: Partition) -> list[float]:
    """Row counts of the partitions before this one, oldest first (for the volume-drop monitor)."""
    key = partition_key(partition)
    rows = history[(history["metric"] == "row_count") & (history["partition"] < key)]
    return rows.sort_values("partition")["value"].tolist()
