"""The shared record layer of ingest: records (JSON objects, XML elements, API records, table rows)
become typed Arrow batches the same way for files, HTTP and SQL, and the ones that cannot are
rejected with the same rules.

**Flattening.** Nested objects become columns joined with ``flatten_sep`` (``{"a": {"b": 1}}`` gives
``a.b``); lists, and objects when ``flatten_sep`` is None, are kept as compact JSON text.

**Types.** The columns and types of a source are decided by the first batch with a good record (or
by ``columns``), and kept, so a source never changes schema: bool, int64, double (ints and floats
mixed) or string; ``column_types`` converts any column to an Arrow type.

**Rules** (the ``_rule`` of a quarantined record): :data:`NOT_AN_OBJECT_RULE`,
:data:`DUPLICATE_COLUMN_RULE`, :data:`UNEXPECTED_COLUMN_RULE`, :data:`TYPE_MISMATCH_RULE`,
:data:`MALFORMED_RECORD_RULE`; blank lines are dropped by :data:`JSONL_BLANK_LINE_RULE`. Rejected
records keep ``_source_file``, ``_source_line`` and their raw text in :data:`RAW_LINE_COLUMN`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dataframe_pipeline.core.batch import REASON_COLUMN, RULE_COLUMN
from dataframe_pipeline.exceptions import (
    DataContractError,
    KeyCollisionError,
)
from dataframe_pipeline.ingest.base import (
    RESERVED_COLUMNS,
    SOURCE_FILE_COLUMN,
    SOURCE_LINE_COLUMN,
    SourceBatch,
    check_source_columns,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

    from dataframe_pipeline.ingest.files.format import FileFormat


#: the column of a rejected record's raw text (the line, or the record's JSON or XML)
RAW_LINE_COLUMN = "_raw_line"
#: a JSON Lines line or XML record that cannot be read
MALFORMED_RECORD_RULE = "malformed_record"


#: a JSON record that is not an object (e.g. a number in the array)
NOT_AN_OBJECT_RULE = "not_an_object"


#: two values of a record map to the same column name (e.g. an attribute and a child element)
DUPLICATE_COLUMN_RULE = "duplicate_column"


#: a record with a key outside the file's columns
UNEXPECTED_COLUMN_RULE = "unexpected_column"


#: a value that does not fit its column's type
TYPE_MISMATCH_RULE = "type_mismatch"
#: blank lines of a JSON Lines file (dropped, not quarantined)
JSONL_BLANK_LINE_RULE = "jsonl_blank_line"


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


# integers beyond this do not convert to double exactly
_DOUBLE_EXACT = 2**53


_REASON_VALUE_CHARS = 200


@dataclass(slots=True)
class _Record:
    """One source record: its values (flattened), or why it was rejected, or a blank line."""

    position: int
    raw: str
    values: dict[str, Any] | None = None
    rule: str | None = None
    reason: str | None = None
    blank: bool = False


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    if key in out:
        raise KeyCollisionError(f"two values for column {key!r} (after flattening)")
    out[key] = value


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def flatten_record(record: Mapping[str, Any], sep: str | None) -> dict[str, Any]:
    """Flatten a JSON object into columns: ``{"a": {"b": 1}, "l": [1]}`` -> ``{"a.b": 1, "l": "[1]"}``.

    Nested objects become columns joined with ``sep``; lists, empty objects, and every object
    when ``sep`` is None, become compact JSON text.

    :raises KeyCollisionError: two keys flatten to the same name (``"a.b"`` and ``a`` > ``b``).
    """
    out: dict[str, Any] = {}
    _flatten_into(out, "", record, sep)
    return out


def _flatten_into(out: dict[str, Any], prefix: str, record: Mapping[str, Any], sep: str | None) -> None:
    for key, value in record.items():
        name = f"{prefix}{sep}{key}" if prefix else key
        if isinstance(value, dict) and value and sep is not None:
            _flatten_into(out, name, value, sep)
        elif isinstance(value, dict | list):
            _put(out, name, _json_text(value))
        else:
            _put(out, name, value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _json_type_name(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def _shown(value: Any) -> str:
    # quotes tell the string "5" from the number 5
    text = repr(value) if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= _REASON_VALUE_CHARS else text[:_REASON_VALUE_CHARS] + "..."


def _fit_string(value: Any) -> tuple[bool, Any]:
    if value is None or isinstance(value, str):
        return True, value
    return True, _json_text(value)


def _fit_bool(value: Any) -> tuple[bool, Any]:
    return value is None or isinstance(value, bool), value


def _fit_int64(value: Any) -> tuple[bool, Any]:
    if value is None:
        return True, None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # 2.0 is 2 exactly
    ok = isinstance(value, int) and not isinstance(value, bool) and _INT64_MIN <= value <= _INT64_MAX
    return ok, value


def _fit_double(value: Any) -> tuple[bool, Any]:
    if value is None or (isinstance(value, float)):
        return True, value
    ok = isinstance(value, int) and not isinstance(value, bool) and abs(value) <= _DOUBLE_EXACT
    return ok, float(value) if ok else None


_FITTERS: dict[pa.DataType, Callable[[Any], tuple[bool, Any]]] = {
    pa.string(): _fit_string,
    pa.bool_(): _fit_bool,
    pa.int64(): _fit_int64,
    pa.float64(): _fit_double,
}


def _infer_type(values: Iterable[Any]) -> pa.DataType:
    """The Arrow type of a JSON column from its values in the first batch."""
    present = [value for value in values if value is not None]
    kinds = {type(value) for value in present}
    if kinds == {bool}:
        return pa.bool_()
    if kinds == {int}:
        # integers beyond int64 are kept exactly, as text
        return pa.int64() if all(_INT64_MIN <= value <= _INT64_MAX for value in present) else pa.string()
    if kinds and kinds <= {int, float}:
        return pa.float64()
    return pa.string()


_Reject = tuple[int, str, str, str]  # position, raw text, rule, reason


class _Tabulator:
    """Turns batches of records into tables with the same columns and types for the whole file.

    The columns and types are decided by the first batch with a good record (or by ``columns``)
    and kept: later records that do not fit are quarantined, so a file never changes schema.
    """

    def __init__(self, source: str, fmt: FileFormat, typed_values: bool) -> None:
        self.source = source
        self.fmt = fmt
        self.typed_values = typed_values
        self.columns_: list[str] | None = None
        self.types_: dict[str, pa.DataType] = {}
        self.explicit_: frozenset[str] = frozenset()

    def batch(self, records: list[_Record]) -> SourceBatch:
        good = [record for record in records if record.values is not None]
        rejects = [(r.position, r.raw, r.rule, r.reason) for r in records if r.rule is not None]
        blank = sum(1 for record in records if record.blank)
        if self.columns_ is None and (good or self.fmt.columns is not None):
            self._decide(good)
        if self.columns_ is None:
            table = _table_with_provenance({}, self.source, [])
        else:
            good = self._keep_known_keys(good, rejects)
            table = self._table(good, rejects)
        rejects.sort(key=lambda item: item[0])
        dropped = {JSONL_BLANK_LINE_RULE: blank} if blank else {}
        return SourceBatch(table, _rejected_frame(self.source, rejects), len(records), dropped)

    def _decide(self, good: list[_Record]) -> None:
        explicit = self.fmt.arrow_types()
        if self.fmt.columns is not None:
            columns = list(self.fmt.columns)
        else:
            seen = dict.fromkeys(key for record in good for key in record.values or {} if key not in RESERVED_COLUMNS)
            columns = list(seen) + [name for name in explicit if name not in seen]
        self.types_ = {
            name: explicit.get(name) or self._inferred(name, good) for name in columns if name not in RESERVED_COLUMNS
        }
        self.columns_ = columns
        self.explicit_ = frozenset(explicit)

    def _inferred(self, name: str, good: list[_Record]) -> pa.DataType:
        if not self.typed_values:
            return pa.string()
        return _infer_type((record.values or {}).get(name) for record in good)

    def _keep_known_keys(self, good: list[_Record], rejects: list[_Reject]) -> list[_Record]:
        allowed = set(self.columns_ or [])
        kept = []
        for record in good:
            extra = [key for key in record.values or {} if key not in allowed]
            if not extra:
                kept.append(record)
                continue
            reason = (
                f"keys {extra} are not among the file's columns (decided by its first records or by columns=)"
                if not RESERVED_COLUMNS.intersection(extra)
                else f"keys {sorted(RESERVED_COLUMNS.intersection(extra))} are reserved for provenance"
            )
            rejects.append((record.position, record.raw, UNEXPECTED_COLUMN_RULE, reason))
        return kept

    def _table(self, good: list[_Record], rejects: list[_Reject]) -> pa.Table:
        columns, good = self._fitted_columns(good, rejects)
        table = _table_with_provenance(columns, self.source, [record.position for record in good])
        table, failures = _cast_columns(table, self.types_, self.source)
        rejects.extend((good[i].position, good[i].raw, TYPE_MISMATCH_RULE, reason) for i, reason in failures.items())
        return table

    def _fitted_columns(self, good: list[_Record], rejects: list[_Reject]) -> tuple[dict[str, pa.Array], list[_Record]]:
        """Each column's values converted to its type (text for types Arrow converts later)."""
        failures: dict[int, str] = {}
        values = {name: self._fit_column(name, good, failures) for name in self.columns_ or []}
        if failures:
            rejects.extend((good[i].position, good[i].raw, TYPE_MISMATCH_RULE, failures[i]) for i in sorted(failures))
            values = {name: [v for i, v in enumerate(column) if i not in failures] for name, column in values.items()}
            good = [record for i, record in enumerate(good) if i not in failures]
        arrays = {name: pa.array(column, self._storage_type(name)) for name, column in values.items()}
        return arrays, good

    def _storage_type(self, name: str) -> pa.DataType:
        """Inferred types are collected as such; ``column_types`` from text, converted by Arrow later."""
        return pa.string() if name in self.explicit_ else self.types_[name]

    def _fit_column(self, name: str, good: list[_Record], failures: dict[int, str]) -> list[Any]:
        storage = self._storage_type(name)
        fit = _FITTERS[storage]
        column = []
        for i, record in enumerate(good):
            value = (record.values or {}).get(name)
            ok, fitted = fit(value)
            if not ok:
                failures.setdefault(i, f"column {name!r}: {_shown(value)} does not fit {storage}")
            column.append(fitted)
        return column


def _batches_of(records: Iterator[_Record], tabulator: _Tabulator, batch_rows: int) -> Iterator[SourceBatch]:
    yielded = False
    while True:
        chunk = list(islice(records, batch_rows))
        if not chunk and yielded:
            return
        batch = tabulator.batch(chunk)
        # the records go before the next batch is read: one batch of records in memory, not two
        del chunk
        yield batch
        yielded = True


def _table_with_provenance(
    columns: Mapping[str, pa.Array | pa.ChunkedArray], source: str, positions: list[int]
) -> pa.Table:
    data: dict[str, Any] = dict(columns)
    data[SOURCE_FILE_COLUMN] = pa.array([source] * len(positions), pa.string())
    data[SOURCE_LINE_COLUMN] = pa.array(positions, pa.int64())
    return pa.table(data)


def _cast_columns(table: pa.Table, types: Mapping[str, pa.DataType], source: str) -> tuple[pa.Table, dict[int, str]]:
    """Convert columns to ``types``; rows with a value that does not convert are removed.

    :returns: the converted table, and row index (in ``table``) -> reason for the removed rows.
    :raises DataContractError: a column's type has no conversion to the target at all.
    """
    failures: dict[int, str] = {}
    converted: dict[str, pa.ChunkedArray] = {}
    for name, target in types.items():
        column = table.column(name)
        if column.type == target:
            continue
        result = _try_cast(column, target, name, source)
        if result is None:
            for index, reason in _cast_failures(column, name, target).items():
                failures.setdefault(index, reason)
        else:
            converted[name] = result
    if failures:
        table = table.filter(pa.array([i not in failures for i in range(table.num_rows)], pa.bool_()))
        converted = {name: pc.cast(table.column(name), target) for name, target in types.items()}
    for name, column in converted.items():
        table = table.set_column(table.schema.get_field_index(name), name, column)
    return table, failures


def _try_cast(column: pa.ChunkedArray, target: pa.DataType, name: str, source: str) -> pa.ChunkedArray | None:
    """``column`` converted, or None when some value does not convert."""
    try:
        return pc.cast(column, target)
    except pa.ArrowNotImplementedError as exc:
        raise DataContractError(
            f"{source}: column {name!r} of type {column.type} cannot be converted to {target}"
        ) from exc
    except pa.ArrowInvalid:
        return None


def _cast_failures(column: pa.ChunkedArray | pa.Array, name: str, target: pa.DataType) -> dict[int, str]:
    """Row index -> reason for the values that do not convert (only run when a conversion failed)."""
    values = column.to_pylist()
    failures: dict[int, str] = {}
    verdicts: dict[Any, bool] = {}
    for index, value in enumerate(values):
        if value is None:
            continue
        key = repr(value) if isinstance(value, dict | list) else value
        if key not in verdicts:
            verdicts[key] = _scalar_casts(value, column.type, target)
        if not verdicts[key]:
            failures[index] = f"column {name!r}: cannot convert {_shown(value)} to {target}"
    return failures


def _scalar_casts(value: Any, source_type: pa.DataType, target: pa.DataType) -> bool:
    try:
        pc.cast(pa.array([value], source_type), target)
    except pa.ArrowInvalid:
        return False
    return True


def _rejected_frame(source: str, rejects: Sequence[_Reject]) -> pd.DataFrame:
    """The quarantined records (index: their ``_source_line``), or an empty frame when there are none."""
    if not rejects:
        return pd.DataFrame()
    positions = [item[0] for item in rejects]
    table = pa.table(
        {
            SOURCE_FILE_COLUMN: pa.array([source] * len(rejects), pa.string()),
            SOURCE_LINE_COLUMN: pa.array(positions, pa.int64()),
            RAW_LINE_COLUMN: pa.array([item[1] for item in rejects], pa.string()),
            RULE_COLUMN: pa.array([item[2] for item in rejects], pa.string()),
            REASON_COLUMN: pa.array([item[3] for item in rejects], pa.string()),
        }
    )
    frame = table.to_pandas()
    frame.index = pd.Index(positions, dtype="int64")
    return frame


def _row_text(table: pa.Table, index: int) -> str:
    row = {name: column[index].as_py() for name, column in zip(table.column_names, table.columns, strict=True)}
    return json.dumps(row, ensure_ascii=False, default=str)


def _typed_batch(table: pa.Table, source: str, first_position: int, types: Mapping[str, pa.DataType]) -> SourceBatch:
    """A batch of a typed table (Parquet, HTML): provenance added, ``column_types`` applied."""
    positions = list(range(first_position, first_position + table.num_rows))
    full = _table_with_provenance({name: table.column(name) for name in table.column_names}, source, positions)
    converted, failures = _cast_columns(full, types, source)
    rejects = [
        (positions[i], _row_text(table, i), TYPE_MISMATCH_RULE, reason) for i, reason in sorted(failures.items())
    ]
    return SourceBatch(converted, _rejected_frame(source, rejects), table.num_rows)


def _check_file_columns(names: list[str], fmt: FileFormat, source: str) -> list[str]:
    """The output columns of a file with a schema (Parquet, HTML), checked against ``fmt``."""
    expected = list(fmt.columns) if fmt.columns is not None else None
    check_source_columns(names, expected, fmt.arrow_types(), source, "the file")
    return list(fmt.columns) if fmt.columns is not None else names
