"""The quarantine dataset: every rejected row with the step, the rule, the reason and its origin.

The schema is fixed whatever the step's data looks like, so quarantines of all steps can be read
together: the original values are kept as one JSON object per row in ``record``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from dataframe_pipeline.core.batch import REASON_COLUMN, RULE_COLUMN

if TYPE_CHECKING:
    from dataframe_pipeline.core.dataset import DatasetRef, DatasetWriter

SOURCE_FILE = "_source_file"
SOURCE_LINE = "_source_line"

QUARANTINE_SCHEMA = pa.schema(
    [
        ("step", pa.string()),
        ("rule", pa.string()),
        ("reason", pa.string()),
        ("source", pa.string()),
        ("input_position", pa.int64()),
        ("record", pa.string()),
    ]
)


def _json_value(value: Any) -> Any:
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalar
        return value.item()
    return value


def _json_column(series: pd.Series) -> list[Any]:
    """The column's values as JSON-ready Python objects (None for nulls), converted column-wise."""
    if not pd.api.types.is_object_dtype(series.dtype) and not pd.api.types.is_datetime64_any_dtype(series.dtype):
        values = series.astype(object).tolist()  # Python ints, floats, bools, strings
        for i in np.flatnonzero(series.isna().to_numpy()):
            values[i] = None
        return [_json_value(v) if hasattr(v, "item") else v for v in values]
    return [_json_value(v) for v in series.tolist()]


def _sources(rejected: pd.DataFrame) -> list[str | None]:
    if SOURCE_FILE not in rejected.columns:
        return [None] * len(rejected)
    files = rejected[SOURCE_FILE].astype("object")
    lines = rejected[SOURCE_LINE].astype("object") if SOURCE_LINE in rejected.columns else [None] * len(rejected)
    return [f if line is None or pd.isna(line) else f"{f}:{line}" for f, line in zip(files, lines, strict=True)]


def quarantine_table(step: str, rejected: pd.DataFrame) -> pa.Table:
    """Convert a frame of rejected rows (original columns + ``_rule`` + ``_reason``) to the fixed schema."""
    data_cols = [c for c in rejected.columns if c not in (RULE_COLUMN, REASON_COLUMN)]
    columns = [_json_column(rejected[c]) for c in data_cols]
    keys = [str(c) for c in data_cols]
    rows = zip(*columns, strict=True)
    records = [json.dumps(dict(zip(keys, row, strict=True)), default=str, sort_keys=True) for row in rows]
    if not data_cols:
        records = ["{}"] * len(rejected)
    return pa.table(
        {
            "step": [step] * len(rejected),
            "rule": rejected[RULE_COLUMN].astype("object").tolist(),
            "reason": rejected[REASON_COLUMN].astype("object").tolist(),
            "source": _sources(rejected),
            "input_position": [int(i) for i in rejected.index],
            "record": records,
        },
        schema=QUARANTINE_SCHEMA,
    )


class QuarantineWriter:
    """Collects a step's rejected rows into a quarantine dataset (committed with the step's output)."""

    def __init__(self, writer: DatasetWriter, step: str) -> None:
        self.writer = writer
        self.step = step
        self.writer.schema = QUARANTINE_SCHEMA

    def write(self, rejected: pd.DataFrame) -> None:
        if len(rejected):
            self.writer.write(quarantine_table(self.step, rejected))

    def write_source(self, rule: str, reason: str, source: str) -> None:
        """Quarantine a whole source (a file that could not be read at all), with no record."""
        row = {"step": [self.step], "rule": [rule], "reason": [reason], "source": [source]}
        self.writer.write(pa.table({**row, "input_position": [None], "record": [None]}, schema=QUARANTINE_SCHEMA))

    @property
    def rows(self) -> int:
        return self.writer.rows

    def commit(self) -> DatasetRef:
        return self.writer.commit({"step": self.step})

    def __enter__(self) -> QuarantineWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.writer.__exit__(exc_type, exc, tb)
