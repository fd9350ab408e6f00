"""The reference of the drift section: the previous published partition of the curated table.

A Delta Lake table (``<table>/_delta_log/`` exists) is read with ``deltalake`` directly
(``DeltaTable(...).to_pyarrow_dataset()`` filtered to the partition); any other table is read as
Hive-partitioned Parquet with ``pyarrow.dataset``. The previous partition is the latest value of the
first partition key (``date``) before the run's own. Rows are streamed into a bounded sample.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.dataset as pads

from dataframe_pipeline.core.dataset import is_local
from dataframe_pipeline.report.sampling import RowSample

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from dataframe_pipeline.core.dataset import Location


@dataclass
class Reference:
    """What the drift section compares with: a sample of the previous partition, or why there is none."""

    table_uri: str
    format: str  # "delta", "parquet" or "none"
    partition: dict[str, str] | None = None
    version: int | None = None
    sample: RowSample = field(default_factory=RowSample)
    note: str = ""

    @property
    def found(self) -> bool:
        return self.partition is not None

    def describe(self) -> dict[str, Any]:
        return {
            "table_uri": self.table_uri,
            "format": self.format,
            "partition": self.partition,
            "version": self.version,
            "rows": self.sample.rows_seen,
            "sampled_rows": len(self.sample.frame),
            "note": self.note,
        }


def is_delta(table: Location) -> bool:
    return table.fs.exists(f"{table.path.rstrip('/')}/_delta_log")


def _previous(values: list[str], current: str) -> str | None:
    earlier = sorted(v for v in set(values) if v < current)
    return earlier[-1] if earlier else None


def _batches(dataset: pads.Dataset, flt: Any, batch_rows: int) -> Iterator[Any]:
    for batch in dataset.to_batches(filter=flt, batch_size=batch_rows):
        if batch.num_rows:
            yield pa.Table.from_batches([batch]).to_pandas()


def previous_partition(
    table: Location,
    current: Mapping[str, str],
    *,
    sample_rows: int = 50_000,
    batch_rows: int = 100_000,
    storage_options: Mapping[str, str] | None = None,
    random_state: int = 0,
) -> Reference:
    """A sample of the latest partition of ``table`` before ``current`` (``{"date": "2026-10-09", ...}``)."""
    key, value = next(iter(current.items()))
    sample = RowSample(sample_rows, random_state)
    if not table.exists():
        return Reference(table.uri, "none", sample=sample, note=f"no published table at {table.uri}: first run")
    if is_delta(table):
        from deltalake import DeltaTable

        uri = table.path if is_local(table.fs) else table.fs.unstrip_protocol(table.path)
        delta = DeltaTable(uri, storage_options=dict(storage_options or {}) or None)
        previous = _previous([p[key] for p in delta.partitions() if key in p], value)
        ref = Reference(table.uri, "delta", version=delta.version(), sample=sample)
        if previous is None:
            ref.note = f"no partition of {table.uri} before {key}={value}: first run, nothing to compare"
            return ref
        dataset = delta.to_pyarrow_dataset()
        flt = pads.field(key).cast(pa.string()) == previous
    else:
        names = [p.rstrip("/").rsplit("/", 1)[-1] for p in table.fs.ls(table.path, detail=False)]
        dates = [n.split("=", 1)[1] for n in names if n.startswith(f"{key}=")]
        previous = _previous(dates, value)
        ref = Reference(table.uri, "parquet", sample=sample)
        if previous is None:
            ref.note = f"no partition of {table.uri} before {key}={value}: first run, nothing to compare"
            return ref
        root = f"{table.path.rstrip('/')}/{key}={previous}"
        dataset = pads.dataset(root, filesystem=table.fs, format="parquet", partitioning="hive")
        flt = None
    ref.partition = {key: previous}
    sample.extend(_batches(dataset, flt, batch_rows))
    return ref
