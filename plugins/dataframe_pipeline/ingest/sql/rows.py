"""Rows of a result as Arrow batches; values that do not fit their column's type are quarantined.

The database's types decide the columns (:mod:`.types`); values are converted to them with the
record layer's rules where the types are the JSON ones (an int becomes a double only when exact, a
float never truncates into an int64), and a row that does not fit is rejected the way every source
rejects a record (:mod:`dataframe_pipeline.ingest.records`): rule ``type_mismatch``, the row as a
JSON object in ``_raw_line``.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from dataframe_pipeline.ingest.base import SOURCE_FILE_COLUMN, SOURCE_LINE_COLUMN, SourceBatch
from dataframe_pipeline.ingest.records.flatten import _shown
from dataframe_pipeline.ingest.records.rules import TYPE_MISMATCH_RULE
from dataframe_pipeline.ingest.records.tabulate import _rejected_frame, _values_text
from dataframe_pipeline.ingest.records.types import _ARROW_EXACT, _fit_double, _safe_array
from dataframe_pipeline.ingest.sql.types import _as_datetime, _as_int

if TYPE_CHECKING:
    from collections.abc import Sequence

    from dataframe_pipeline.ingest.sql.plan import _Plan
    from dataframe_pipeline.ingest.sql.reader import _Progress


def _build_batch(columns: list[tuple[Any, ...]], n_rows: int, plan: _Plan, progress: _Progress) -> SourceBatch:
    arrays: list[pa.Array] = []
    bad: dict[int, str] = {}
    for i, name in enumerate(plan.names):
        values = columns[i]
        if progress.types[i] is None:
            # the first batch fixes the type: every batch of one read must have the same schema
            progress.types[i] = _infer_type(values)
        array, failures = _to_arrow(values, progress.types[i])
        for row, reason in failures.items():
            bad.setdefault(row, f"column {name!r}: {reason}")
        arrays.append(array)
    lines = np.arange(progress.rows + 1, progress.rows + n_rows + 1, dtype=np.int64)
    arrays.append(pa.repeat(pa.scalar(plan.source_name, pa.string()), n_rows))
    arrays.append(pa.array(lines, pa.int64()))
    table = pa.Table.from_arrays(arrays, names=[*plan.names, SOURCE_FILE_COLUMN, SOURCE_LINE_COLUMN])
    if not bad:
        return SourceBatch(table, rows_in=n_rows)
    keep = np.ones(n_rows, dtype=bool)
    keep[list(bad)] = False
    rejects = [
        (int(lines[row]), _values_text(plan.names, (column[row] for column in columns)), TYPE_MISMATCH_RULE, bad[row])
        for row in sorted(bad)
    ]
    return SourceBatch(
        table.filter(pa.array(keep)), rejected=_rejected_frame(plan.source_name, rejects), rows_in=n_rows
    )


def _infer_type(values: Sequence[Any]) -> pa.DataType:
    try:
        inferred = pa.array(values).type
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        return pa.string()  # mixed kinds of values (SQLite): text keeps them all
    return _normalized(inferred)


def _normalized(arrow_type: pa.DataType) -> pa.DataType:
    rules: list[tuple[Any, pa.DataType]] = [
        (pa.types.is_boolean, pa.bool_()),
        (pa.types.is_integer, pa.int64()),
        (lambda t: pa.types.is_floating(t) or pa.types.is_decimal(t), pa.float64()),
        (pa.types.is_date, pa.date32()),
        (pa.types.is_time, pa.time64("us")),
        (pa.types.is_duration, pa.duration("us")),
        (lambda t: pa.types.is_binary(t) or pa.types.is_large_binary(t), pa.binary()),
    ]
    if pa.types.is_timestamp(arrow_type):
        return pa.timestamp("us", tz=arrow_type.tz)
    for test, normalized in rules:
        if test(arrow_type):
            return normalized
    return pa.string()


def _to_arrow(values: Sequence[Any], arrow_type: pa.DataType) -> tuple[pa.Array, dict[int, str]]:
    """The values as an Arrow array; values that do not fit are null there and reported by position."""
    array = _safe_array(values, arrow_type)
    if array is not None:
        return array, {}
    if arrow_type not in _ARROW_EXACT:
        # types beyond JSON's (dates, timestamps, binary, durations): Arrow converts the driver's values
        try:
            return pa.array(values, type=arrow_type), {}
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
            pass  # e.g. a mistyped SQLite value
    # value by value: e.g. Decimal for float64, UUID or dict for string, 3.5 for int64 (Arrow would truncate)
    converted: list[Any] = []
    failures: dict[int, str] = {}
    for i, value in enumerate(values):
        try:
            converted.append(_convert_value(value, arrow_type))
        except (ValueError, TypeError, ArithmeticError, UnicodeDecodeError):
            failures[i] = f"cannot convert {_shown(value)} to {arrow_type}"
            converted.append(None)
    try:
        return pa.array(converted, type=arrow_type), failures
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        return _checked_one_by_one(converted, arrow_type, failures)


def _checked_one_by_one(
    values: list[Any], arrow_type: pa.DataType, failures: dict[int, str]
) -> tuple[pa.Array, dict[int, str]]:
    for i, value in enumerate(values):
        try:
            pa.array([value], type=arrow_type)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
            failures[i] = f"cannot convert {_shown(value)} to {arrow_type}"
            values[i] = None
    return pa.array(values, type=arrow_type), failures


def _convert_value(value: Any, arrow_type: pa.DataType) -> Any:
    if value is None:
        return None
    if pa.types.is_string(arrow_type):
        return _as_text(value)
    if pa.types.is_floating(arrow_type):
        return _as_double(value)
    if pa.types.is_integer(arrow_type):
        if isinstance(value, str):
            raise TypeError("text, not an integer")
        return _as_int(value)
    if pa.types.is_binary(arrow_type):
        return value.encode() if isinstance(value, str) else bytes(value)
    if pa.types.is_timestamp(arrow_type) and isinstance(value, str):
        return _as_datetime(value, aware=arrow_type.tz is not None)
    if pa.types.is_date(arrow_type) and isinstance(value, str):
        return date.fromisoformat(value)
    return value


def _as_double(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise TypeError("not a number")
    if isinstance(value, int) and not _fit_double(value)[0]:
        raise ValueError("an integer a double does not hold exactly")
    return float(value)


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8")
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)
    return str(value)


def _max_value(current: Any, values: Sequence[Any]) -> Any:
    present = [value for value in values if value is not None]
    if not present:
        return current
    batch_max = max(present)
    return batch_max if current is None or batch_max > current else current
