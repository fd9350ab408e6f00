"""Records to batches: one schema per source, decided by its first good records (or declared ``columns``),
later records that do not fit rejected with the reason; rejected records as quarantine rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import islice, repeat
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd
import pyarrow as pa

from dataframe_pipeline.core.batch import REASON_COLUMN, RULE_COLUMN
from dataframe_pipeline.exceptions import (
    KeyCollisionError,
)
from dataframe_pipeline.ingest.base import (
    RESERVED_COLUMNS,
    SOURCE_FILE_COLUMN,
    SOURCE_LINE_COLUMN,
    SourceBatch,
    check_source_columns,
)
from dataframe_pipeline.ingest.records.flatten import (
    _flatten,
    _json_type_name,
    _leaf_columns,
    _Record,
    _shown,
    flatten_record,
)
from dataframe_pipeline.ingest.records.keys import _raw_json, _repeated_key, _repeated_reason
from dataframe_pipeline.ingest.records.rules import (
    DUPLICATE_COLUMN_RULE,
    DUPLICATE_KEY_RULE,
    JSONL_BLANK_LINE_RULE,
    MALFORMED_RECORD_RULE,
    NOT_AN_OBJECT_RULE,
    RAW_LINE_COLUMN,
    TYPE_MISMATCH_RULE,
    UNEXPECTED_COLUMN_RULE,
)
from dataframe_pipeline.ingest.records.types import _FITTERS, _cast_columns, _infer_type, _safe_array

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence

    from dataframe_pipeline.ingest.files.format import FileFormat


class _Options(Protocol):
    """What the record layer reads from a source's configuration (:class:`FileFormat` has it)."""

    @property
    def columns(self) -> Sequence[str] | None: ...

    @property
    def flatten_sep(self) -> str | None: ...

    def arrow_types(self) -> dict[str, pa.DataType]: ...


@dataclass(frozen=True)
class RecordOptions:
    """The record layer's settings for a source without a :class:`FileFormat` (an API).

    :param columns: the expected columns, or None to take them from the first good records.
    :param column_types: Arrow type per column name.
    :param flatten_sep: separator of flattened nested keys; None keeps objects as JSON text.
    """

    columns: Sequence[str] | None = None
    column_types: Mapping[str, pa.DataType] | None = None
    flatten_sep: str | None = "."

    def arrow_types(self) -> dict[str, pa.DataType]:
        return dict(self.column_types or {})


_Reject = tuple[int, str, str, str | None]  # position, raw text, rule, reason (as the _Record has it)


class _Tabulator:
    """Turns batches of records into tables with the same columns and types for the whole source.

    The columns and types are decided by the first batch (or the group given to :meth:`learn`)
    with a good record, or by ``columns``, and kept: later records that do not fit are rejected,
    so a source never changes schema.

    :param source: the ``_source_file`` of every record; None: each record's own ``source``.
    :param options: ``columns``, ``flatten_sep`` and ``arrow_types()`` (a :class:`FileFormat`).
    :param typed_values: JSON values keep their types; False (XML): every inferred column is a string.
    """

    def __init__(self, source: str | None, options: _Options, typed_values: bool) -> None:
        self.source = source
        self.options = options
        self.typed_values = typed_values
        self.columns_: list[str] | None = None
        self.types_: dict[str, pa.DataType] = {}
        self.explicit_: frozenset[str] = frozenset()
        self.allowed_: frozenset[str] = frozenset()
        self.leaves_: frozenset[str] = frozenset()

    def json_record(
        self, position: int, value: Any, raw: str | None, *, repeated: bool = False, source: str | None = None
    ) -> _Record:
        """A decoded JSON value as a record, flattened against the columns decided so far, or rejected.

        :param raw: its text; None: its compact JSON (made if it is rejected).
        :param repeated: some object in the decoded text holds a key twice (it may be outside ``value``).
        """
        found = _repeated_key(value) if repeated else None
        if found is not None:
            text = raw if raw is not None else _raw_json(value)
            return _Record(position, text, rule=DUPLICATE_KEY_RULE, reason=_repeated_reason(found), source=source)
        if not isinstance(value, dict):
            reason = f"the record is a JSON {_json_type_name(value)}, not an object"
            return _Record(position, raw, rule=NOT_AN_OBJECT_RULE, reason=reason, data=value, source=source)
        try:
            values, left_out = _flatten(value, self.options.flatten_sep, self.leaves_)
        except KeyCollisionError as exc:
            return _Record(position, raw, rule=DUPLICATE_COLUMN_RULE, reason=str(exc), data=value, source=source)
        except RecursionError:
            reason = "objects nested too deeply to flatten"
            return _Record(position, raw, rule=MALFORMED_RECORD_RULE, reason=reason, data=value, source=source)
        unsettled = left_out and self.columns_ is None
        # the decoded value is kept only where it is still needed: to make the text, or to flatten again
        data = value if raw is None or unsettled else None
        return _Record(position, raw, values, data=data, source=source, unsettled=unsettled)

    def learn(self, records: Sequence[_Record]) -> None:
        """Decide the columns and types from ``records`` if not decided yet and they hold a good one."""
        if self.columns_ is not None:
            return
        good = [record for record in records if record.values is not None]
        if good or self.options.columns is not None:
            self._decide(good)
            self._settle(good)

    def batch(self, records: list[_Record]) -> SourceBatch:
        self.learn(records)
        good = [record for record in records if record.values is not None]
        rejects = [(r.position, r.text(), r.rule, r.reason) for r in records if r.rule is not None]
        blank = sum(1 for record in records if record.blank)
        if self.columns_ is None:
            table = _table_with_provenance({}, self.source or "", [])
        else:
            good = self._keep_known_keys(good, rejects)
            table = self._table(good, rejects)
        rejects.sort(key=lambda item: item[0])
        dropped = {JSONL_BLANK_LINE_RULE: blank} if blank else {}
        return SourceBatch(
            table, _rejected_frame(self._reject_sources(records, rejects), rejects), len(records), dropped
        )

    def _reject_sources(self, records: list[_Record], rejects: list[_Reject]) -> str | list[str]:
        if self.source is not None or not rejects:
            return self.source or ""
        by_position = {record.position: record.source or "" for record in records}
        return [by_position[item[0]] for item in rejects]

    def _decide(self, good: list[_Record]) -> None:
        explicit = self.options.arrow_types()
        if self.options.columns is not None:
            columns = list(self.options.columns)
        else:
            seen = dict.fromkeys(key for record in good for key in record.values or {} if key not in RESERVED_COLUMNS)
            columns = list(seen) + [name for name in explicit if name not in seen]
        self.types_ = {
            name: explicit.get(name) or self._inferred(name, good) for name in columns if name not in RESERVED_COLUMNS
        }
        self.columns_ = columns
        self.explicit_ = frozenset(explicit)
        self.allowed_ = frozenset(columns)
        self.leaves_ = _leaf_columns(columns, self.options.flatten_sep)

    def _settle(self, good: list[_Record]) -> None:
        """Flatten again, now that the columns are known, the records that left out an empty object:
        under a column of its own name it is that column's value, as in every later record."""
        for record in good:
            if not record.unsettled:
                continue
            record.unsettled = False
            try:
                record.values = flatten_record(record.data, self.options.flatten_sep, self.leaves_)
            except KeyCollisionError as exc:
                record.values, record.rule, record.reason = None, DUPLICATE_COLUMN_RULE, str(exc)

    def _inferred(self, name: str, good: list[_Record]) -> pa.DataType:
        if not self.typed_values:
            return pa.string()
        return _infer_type((record.values or {}).get(name) for record in good)

    def _keep_known_keys(self, good: list[_Record], rejects: list[_Reject]) -> list[_Record]:
        allowed = self.allowed_
        kept = []
        for record in good:
            values = record.values or {}
            if values.keys() <= allowed:
                kept.append(record)
                continue
            # a key whose value is null carries nothing: leaving it out loses nothing
            extra = [key for key, value in values.items() if key not in allowed and value is not None]
            if not extra:
                kept.append(record)
                continue
            reserved = sorted(RESERVED_COLUMNS.intersection(extra))
            if reserved:
                reason = f"keys {reserved} are reserved for provenance"
            elif self.options.columns is not None:
                reason = f"keys {extra} are not among the declared columns (columns=)"
            else:
                reason = f"keys {extra} are not among the columns decided by the first good records"
            rejects.append((record.position, record.text(), UNEXPECTED_COLUMN_RULE, reason))
        return kept

    def _table(self, good: list[_Record], rejects: list[_Reject]) -> pa.Table:
        columns, good = self._fitted_columns(good, rejects)
        sources = self.source if self.source is not None else [record.source or "" for record in good]
        table = _table_with_provenance(columns, sources, [record.position for record in good])
        table, failures = _cast_columns(table, self.types_, self.source or "")
        rejects.extend((good[i].position, good[i].text(), TYPE_MISMATCH_RULE, reason) for i, reason in failures.items())
        return table

    def _fitted_columns(self, good: list[_Record], rejects: list[_Reject]) -> tuple[dict[str, pa.Array], list[_Record]]:
        """Each column's values converted to its type (text for types Arrow converts later)."""
        rows = [record.values for record in good]
        failures: dict[int, str] = {}
        columns = {name: self._fitted(name, rows, failures) for name in self.columns_ or []}
        if failures:
            rejects.extend(
                (good[i].position, good[i].text(), TYPE_MISMATCH_RULE, failures[i]) for i in sorted(failures)
            )
            keep = [i not in failures for i in range(len(good))]
            columns = {name: _kept(column, keep) for name, column in columns.items()}
            good = [record for record, kept in zip(good, keep, strict=True) if kept]
        arrays = {
            name: column if isinstance(column, pa.Array) else pa.array(column, self._storage_type(name))
            for name, column in columns.items()
        }
        return arrays, good

    def _fitted(self, name: str, rows: list[Any], failures: dict[int, str]) -> pa.Array | list[Any]:
        """A column as an Arrow array (the fast path), or its values fitted one by one."""
        storage = self._storage_type(name)
        column = list(map(dict.get, rows, repeat(name)))
        array = _safe_array(column, storage)
        return array if array is not None else _fit_column(name, column, storage, failures)

    def _storage_type(self, name: str) -> pa.DataType:
        """Inferred types are collected as such; ``column_types`` from text, converted by Arrow later."""
        return pa.string() if name in self.explicit_ else self.types_[name]


def _fit_column(name: str, column: list[Any], storage: pa.DataType, failures: dict[int, str]) -> list[Any]:
    """The values of a column fitted one by one; those that do not fit are noted in ``failures``."""
    fit = _FITTERS[storage]
    fitted = []
    for i, value in enumerate(column):
        ok, converted = fit(value)
        if not ok:
            failures.setdefault(i, f"column {name!r}: {_shown(value)} does not fit {storage}")
        fitted.append(converted)
    return fitted


def _kept(column: pa.Array | list[Any], keep: list[bool]) -> pa.Array | list[Any]:
    if isinstance(column, pa.Array):
        return column.filter(pa.array(keep, pa.bool_()))
    return [value for value, kept in zip(column, keep, strict=True) if kept]


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
    columns: Mapping[str, pa.Array | pa.ChunkedArray], source: str | Sequence[str], positions: list[int]
) -> pa.Table:
    """``columns`` with ``_source_file`` (one source, or one per row) and ``_source_line``."""
    data: dict[str, Any] = dict(columns)
    sources = [source] * len(positions) if isinstance(source, str) else source
    data[SOURCE_FILE_COLUMN] = pa.array(sources, pa.string())
    data[SOURCE_LINE_COLUMN] = pa.array(positions, pa.int64())
    return pa.table(data)


def _rejected_frame(source: str | Sequence[str], rejects: Sequence[_Reject]) -> pd.DataFrame:
    """The quarantined records (index: their ``_source_line``), or an empty frame when there are none.

    :param source: the ``_source_file`` of every reject, or one per reject.
    """
    if not rejects:
        return pd.DataFrame()
    positions = [item[0] for item in rejects]
    sources = [source] * len(rejects) if isinstance(source, str) else source
    table = pa.table(
        {
            SOURCE_FILE_COLUMN: pa.array(sources, pa.string()),
            SOURCE_LINE_COLUMN: pa.array(positions, pa.int64()),
            RAW_LINE_COLUMN: pa.array([item[1] for item in rejects], pa.string()),
            RULE_COLUMN: pa.array([item[2] for item in rejects], pa.string()),
            REASON_COLUMN: pa.array([item[3] for item in rejects], pa.string()),
        }
    )
    frame = table.to_pandas()
    frame.index = pd.Index(positions, dtype="int64")
    return frame


def _values_text(names: Sequence[str], values: Iterable[Any]) -> str:
    """A typed row (Parquet, HTML, SQL) as the raw text of its quarantine record: a JSON object."""
    return json.dumps(dict(zip(names, values, strict=True)), ensure_ascii=False, default=str)


def _row_text(table: pa.Table, index: int) -> str:
    return _values_text(table.column_names, (column[index].as_py() for column in table.columns))


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
